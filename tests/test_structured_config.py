"""The structured-config schemas (src/conf.py) that conf/model/ extends, and the one place defaults live.

A mistyped key or a value of the wrong type fails while Hydra composes, naming the key; the YAML files
hold every default (the Python code none), and code that completes a partial config from them gets what
Hydra composes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING, OmegaConf

from src import conf
from src.conf import register_resolvers
from tests.helpers.configs import compose_config

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
COMMON = ["paths.output_dir=/tmp/out", "paths.work_dir=/tmp/work"]

# What src/models/network.py's and src/learning/module.py's DEFAULTS dicts held before the defaults moved
# to conf/model/net/base.yaml and conf/model/base.yaml: the values must not have moved with them.
FORMER_NET_DEFAULTS = {
    "variant": None, "modalities": ["visible", "infrared"], "template_size": 128, "search_size": 256,
    "patch_size": 16,
    "backbone": {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0, "qkv_bias": True,
                 "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.0, "ce_loc": [3, 6, 9],
                 "ce_keep_ratio": [0.7, 0.7, 0.7], "ce_template_mask": "center", "sort_kept": True,
                 "stem": "patch", "stem_channels": [], "pretrained": None},
    "fusion": {"align": "recover", "stages": ["cmc"], "num_heads": None, "max_len": 500, "attn_drop": 0.1,
               "ceb_keep_ratio": 0.7},
    # xcorr came after the move; off is the former network
    "head": {"channels": 256, "stride": None, "xcorr": False},
}
FORMER_MODULE_DEFAULTS = {
    "optimizer": {"lr": 4e-4, "weight_decay": 1e-4, "backbone_lr_mult": 0.1,
                  "backbone_prefixes": ["backbone."], "betas": [0.9, 0.999]},
    "scheduler": {"name": "step", "drop_epoch": 240, "gamma": 0.1, "warmup_steps": 0, "min_lr_ratio": 0.01},
    "loss": {"focal_weight": 1.0, "giou_weight": 2.0, "l1_weight": 5.0, "box_at": "peak",
             "center_cell": "round"},
    "ce": {"enabled": True, "start_epoch": 20, "warm_epochs": 80, "keep_ratio": 0.7},
    "freeze": {"trainable": None},
    "tracker": {"size_lr": 1.0, "aspect_lr": 1.0},  # aspect_lr came after the move; 1 is the former tracking
    "validation": {"track": True, "split": "val", "protocol": "rgbt234", "max_sequences": None,
                   "max_frames": None},
}


def compose_train(*overrides: str):
    register_resolvers()
    return compose_config("train", overrides=[*COMMON, *overrides])


def failure(*overrides: str) -> str:
    """The composition error's message with its cause's: what `python -m src.train` prints in one line."""
    with pytest.raises(ConfigCompositionException) as info:
        compose_train(*overrides)
    return f"{info.value} {info.value.__cause__ or ''}"


@pytest.mark.parametrize(("override", "key"), [
    ("model.net.backbone.embd_dim=64", "embd_dim"),
    ("model.optimizer.learning_rate=1e-3", "learning_rate"),
    ("model.scheduler.drop_epochs=5", "drop_epochs"),
    ("model.loss.giou=2", "giou"),
])
def test_a_mistyped_key_fails_at_compose_time_naming_it(override, key):
    message = failure(override)
    assert key in message and "not in" in message


@pytest.mark.parametrize(("override", "key"), [
    ("model.optimizer.lr=fast", "model.optimizer.lr"),
    ("model.net.backbone.depth=1.5", "model.net.backbone.depth"),
    ("model.scheduler.drop_epoch=soon", "model.scheduler.drop_epoch"),
    ("model.ce.enabled=maybe", "model.ce.enabled"),
    ("model.net.template_size=[64]", "model.net.template_size"),
])
def test_a_value_of_the_wrong_type_fails_at_compose_time_naming_it(override, key):
    assert key in failure(override)


def test_a_mistyped_key_in_a_yaml_file_fails_at_compose_time(tmp_path):
    """An experiment file (not only a command-line override) is checked against the schema too."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nmodel:\n  optimizer:\n    lrr: 1e-3\n")
    (tmp_path / "experiment" / "wrong_type.yaml").write_text(
        "# @package _global_\nmodel:\n  net:\n    backbone:\n      sort_kept: sometimes\n")
    search = f"hydra.searchpath=[file://{tmp_path}]"
    message = failure(search, "experiment=typo")
    assert "experiment/typo" in message and "lrr" in message and "model.optimizer.lrr" in message
    assert "model.net.backbone.sort_kept" in failure(search, "experiment=wrong_type")


def test_schedules_are_swapped_whole_and_typed_by_their_own_schema():
    cosine = compose_train("+model/scheduler=cosine", "model.scheduler.warmup_steps=50").model.scheduler
    assert OmegaConf.to_container(cosine) == {"_target_": "src.learning.schedules.cosine_schedule",
                                              "_partial_": True, "warmup_steps": 50, "min_lr_ratio": 0.01}
    # the CPU default's drop_epoch (a step-schedule key) does not leak into the cosine schedule
    assert "drop_epoch" in failure("+model/scheduler=cosine", "model.scheduler.drop_epoch=3")
    assert compose_train("+model/scheduler=none").model.scheduler is None
    pretrain = compose_train("experiment=pretrain", "+model/scheduler=step").model.scheduler
    assert (pretrain.drop_epoch, pretrain.gamma) == (240, 0.1)


@pytest.mark.parametrize("overrides", [[], ["model=vitb_256"], ["model=base"], ["experiment=pretrain"],
                                       ["experiment=rgbt_ostrack_full"], ["+variant=single"]])
def test_every_model_key_has_a_value(overrides):
    cfg = compose_train(*overrides)
    assert OmegaConf.missing_keys(cfg.model) == set()
    assert OmegaConf.get_type(cfg.model) is conf.ModelConfig
    assert OmegaConf.get_type(cfg.model.net.backbone) is conf.BackboneConfig


def test_the_schemas_hold_types_only():
    """No default value in Python: every leaf field is MISSING, every section a schema of its own."""
    for schema in (*conf.SCHEMAS.values(), conf.NetConfig, conf.BackboneConfig, conf.FusionConfig,
                   conf.HeadConfig):
        for item in dataclasses.fields(schema):
            if item.default_factory is not dataclasses.MISSING:
                assert dataclasses.is_dataclass(item.default_factory), (schema.__name__, item.name)
            else:
                assert item.default == MISSING, (schema.__name__, item.name)


def test_the_python_completion_is_what_hydra_composes():
    """src.conf completes partial configs from the same YAML files Hydra composes: ``model=base`` (the
    defaults every model config extends) composed is what src.conf reads."""
    composed = OmegaConf.to_container(compose_train("model=base").model, resolve=True)
    assert conf.model_defaults() == composed
    cpu = OmegaConf.to_container(compose_train().model, resolve=True)
    assert conf.complete_model_config(cpu) == cpu
    assert conf.complete_net(cpu["net"]) == cpu["net"]


def test_the_yaml_defaults_are_the_former_python_defaults():
    assert conf.complete_net({}) == FORMER_NET_DEFAULTS
    for name, former in FORMER_MODULE_DEFAULTS.items():
        now = conf.complete_section(name, {})
        if name == "optimizer":
            assert now == {"_target_": "torch.optim.AdamW", "_partial_": True, **former}
        elif name == "scheduler":
            assert now == {"_target_": "src.learning.schedules.step_schedule", "_partial_": True,
                           "drop_epoch": 240, "gamma": 0.1}
            assert conf.complete_section(name, former) == now  # the former spelling reads as today's
            cosine = conf.complete_section(name, {**former, "name": "cosine"})
            assert cosine == {"_target_": "src.learning.schedules.cosine_schedule", "_partial_": True,
                              "warmup_steps": 0, "min_lr_ratio": 0.01}
        else:
            assert now == former, name


def test_complete_net_names_the_bad_key():
    with pytest.raises(ValueError, match=r"model\.net\.backbone\.embd: unknown key \(known: attn_drop_rate"):
        conf.complete_net({"backbone": {"embd": 3}})
    with pytest.raises(ValueError, match="model.net.head.stride: Value 'eight'"):
        conf.complete_net({"head": {"stride": "eight"}})


def test_register_resolvers_is_idempotent():
    register_resolvers()
    register_resolvers()
    cfg = OmegaConf.create({"tags": ["dev"], "a": "${uid:}", "b": "${uid:}",
                            "t": "${tags_with:${tags},cmc,dev,'',synthetic}"})
    assert cfg.a == cfg.b and len(cfg.a) == 6
    assert list(cfg.t) == ["dev", "cmc", "synthetic"]
