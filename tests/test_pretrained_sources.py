"""Starting weights from every source through one loader (src/models/pretrained.py): OSTrack's checkpoint
(exact names and shapes, random weights: tests/ostrack_format.py) into every variant through
`model.init_ckpt=`, position embeddings resized, the load report, unsafe and foreign files."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from src.conf import variant_names
from src.convert_ckpt import main as convert_main
from src.learning.module import TrackerLitModule
from src.models import build_network
from src.models.pretrained import CheckpointError, load_pretrained, read_checkpoint, resize_pos_embed
from tests.helpers.configs import compose_config
from tests.helpers.ostrack_format import ostrack_state, save_ostrack_checkpoint

CONF = str(Path(__file__).resolve().parents[1] / "conf")
VARIANTS = variant_names()  # conf/variant/
# a small ViT with OSTrack's layout: width 32, 2 blocks, head width 16
SMALL = {"embed_dim": 32, "depth": 2, "channels": 16}
# OSTrack's layout: linear patch embedding, stride-16 head, no correlation path
SMALL_NET = ["model.net.backbone.embed_dim=32", "model.net.backbone.depth=2",
             "model.net.backbone.num_heads=2", "model.net.backbone.ce_loc=[1]",
             "model.net.backbone.ce_keep_ratio=[0.7]", "model.net.backbone.stem=patch",
             "++model.net.backbone.stem_channels=[]", "model.net.head.channels=16",
             "model.net.head.stride=null", "model.net.head.xcorr=false"]


def compose_model(*overrides: str):
    cfg = compose_config("train", overrides=[*SMALL_NET, *overrides])
    return cfg.model


def expected_head(state: dict, key: str) -> torch.Tensor:
    """Our head key -> OSTrack's tensor (head.score_tower.3.bn.weight <- box_head.conv4_ctr.1.weight)."""
    _, tower, index, rest = key.split(".", 3)
    branch = {"score_tower": "ctr", "offset_tower": "offset", "size_tower": "size"}[tower]
    part, _, tail = rest.partition(".")
    positions = {"conv": "0", "bn": "1"}  # ConvNormAct's conv / bn: OSTrack's nn.Sequential 0 / 1
    if part in positions:
        rest = f"{positions[part]}.{tail}"
    return state[f"box_head.conv{int(index) + 1}_{branch}.{rest}"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_ostrack_checkpoint_loads_whole_into_every_variant(variant, tmp_path, caplog):
    """Acceptance: OSTrack's backbone and centre head load whole into `single` and every dual-modal
    variant (through model.init_ckpt); only the fusion blocks are missing."""
    path = save_ostrack_checkpoint(tmp_path / "OSTrack_ep0300.pth.tar", **SMALL, template_grid=4,
                                   search_grid=8)
    source = ostrack_state(**SMALL, template_grid=4, search_grid=8)
    cfg = compose_model(f"+variant={variant}", f"model.init_ckpt={path}")
    with caplog.at_level(logging.INFO):
        module = instantiate(cfg, _convert_="all")
    report = module.init_report
    missing = set(report.missing)
    assert not {k for k in missing if k.startswith(("backbone.", "head."))}
    assert all(k.startswith("fusion.") for k in missing)
    assert bool(missing) == (variant != "single")
    assert set(report.unexpected) == {"backbone.cls_token", "backbone.pos_embed"}
    own = module.net.state_dict()
    heads = [k for k in own if k.startswith("head.")]
    assert len(heads) == 3 * (4 * 7 + 2) == sum(k.startswith("box_head.") for k in source)  # 90 tensors
    for key in heads:
        torch.testing.assert_close(own[key], expected_head(source, key))
    for key in ("patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "pos_embed_x", "norm.bias"):
        torch.testing.assert_close(own[f"backbone.{key}"], source[f"backbone.{key}"])
    # the short table is logged: one row per part
    assert "weights from" in caplog.text and "loaded" in caplog.text


def test_ostrack_384_checkpoint_resizes_into_a_256_network(tmp_path):
    """OSTrack-384 (12x12 template, 24x24 search = 576 tokens) into a 128/256 network (8x8, 16x16)."""
    path = save_ostrack_checkpoint(tmp_path / "ostrack384.pth.tar", **SMALL, template_grid=12, search_grid=24)
    source = ostrack_state(**SMALL, template_grid=12, search_grid=24)
    cfg = compose_model("model=vitb_256", "+variant=single", f"model.init_ckpt={path}")
    module = instantiate(cfg, _convert_="all")
    report = module.init_report
    assert report.resized == {"backbone.pos_embed_z": ((1, 144, 32), (1, 64, 32)),
                              "backbone.pos_embed_x": ((1, 576, 32), (1, 256, 32))}
    torch.testing.assert_close(module.net.backbone.pos_embed_x,
                               resize_pos_embed(source["backbone.pos_embed_x"], 16))
    assert report.missing == []


def test_mae_checkpoint_through_init_ckpt_loads_the_backbone(tmp_path):
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=2, embed_dim=32, num_heads=2,
                            num_classes=0)
    path = tmp_path / "mae.pth"
    torch.save({"model": vit.state_dict()}, path)
    module = instantiate(compose_model("+variant=single", f"model.init_ckpt={path}"), _convert_="all")
    report = module.init_report
    # no head in the source: the head starts from random init, which is not an error
    assert {k.split(".")[0] for k in report.missing} == {"head"}
    assert set(report.resized) == {"backbone.pos_embed_z", "backbone.pos_embed_x"}
    torch.testing.assert_close(module.net.backbone.blocks[1].mlp.fc1.weight, vit.blocks[1].mlp.fc1.weight)


def test_missing_head_tensors_are_an_error_unless_allowed(tmp_path):
    state = ostrack_state(**SMALL, template_grid=4, search_grid=8)
    del state["box_head.conv5_size.weight"]
    path = tmp_path / "partial_head.pth.tar"
    torch.save({"net": state}, path)
    with pytest.raises(InstantiationException, match="centre head.*head.size_tower.4.weight"):
        instantiate(compose_model("+variant=single", f"model.init_ckpt={path}"), _convert_="all")
    module = instantiate(compose_model("+variant=single", f"model.init_ckpt={path}",
                                       "model.init_ckpt_allow_missing_head=true"), _convert_="all")
    assert module.init_report.missing == ["head.size_tower.4.weight"]


def test_backbone_pretrained_route_takes_the_backbone_of_an_ostrack_checkpoint(tmp_path):
    path = save_ostrack_checkpoint(tmp_path / "ostrack.pth.tar", **SMALL, template_grid=8, search_grid=16)
    cfg = compose_model("+variant=single", "model.init_ckpt=null", f"model.net.backbone.pretrained={path}")
    net = build_network(cfg.net)
    report = net.pretrained_report
    assert report.missing == []
    assert set(report.resized) == {"pos_embed_z", "pos_embed_x"}  # 8x8 / 16x16 -> this net's 4x4 / 8x8
    assert sum(k.startswith("head.") for k in report.unexpected) == 90  # the head is not the backbone's
    torch.testing.assert_close(net.backbone.blocks[0].attn.proj.weight,
                               read_checkpoint(path)["backbone.blocks.0.attn.proj.weight"])


def test_load_report_is_written_to_the_run_directory(tmp_path):
    from src.train import write_load_reports

    path = save_ostrack_checkpoint(tmp_path / "ostrack.pth.tar", **SMALL, template_grid=4, search_grid=8)
    module = instantiate(compose_model(f"model.init_ckpt={path}"), _convert_="all")  # CMC*
    write_load_reports(module, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "init_ckpt_report.json").read_text())
    assert saved["source"] == str(path)
    backbone = saved["summary"]["backbone"]
    assert backbone["loaded"] == 4 + 12 * 2 + 2 and backbone["missing"] == 0
    assert saved["summary"]["head"] == {"loaded": 90, "missing": 0, "unexpected": 0, "resized": 0}
    assert saved["summary"]["fusion"]["missing"] > 0 and saved["summary"]["fusion"]["loaded"] == 0
    assert not (tmp_path / "run" / "pretrained_report.json").exists()


def test_checkpoint_with_pickled_objects_is_refused_then_converted(tmp_path, capsys):
    """OSTrack's trainer pickles its settings beside `net`: one clear message, an explicit conversion."""
    src_path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": ostrack_state(**SMALL, template_grid=4, search_grid=8),
                "settings": argparse.Namespace(script_name="ostrack")}, src_path)
    with pytest.raises(CheckpointError) as err:
        TrackerLitModule(dict(compose_model("+variant=single").net), init_ckpt=str(src_path))
    message = str(err.value)
    assert str(src_path) in message and "python -m src.convert_ckpt" in message and "--trust" in message
    out = tmp_path / "ostrack_plain.pth"
    assert convert_main([str(src_path), str(out)]) == 2  # without --trust: refused, nothing written
    assert not out.exists() and "--trust" in capsys.readouterr().err
    assert convert_main([str(src_path), str(out), "--trust"]) == 0
    plain = torch.load(out, weights_only=True)
    assert set(plain) == set(ostrack_state(**SMALL))
    assert all(isinstance(v, torch.Tensor) for v in plain.values())
    module = instantiate(compose_model("+variant=single", f"model.init_ckpt={out}"), _convert_="all")
    assert module.init_report.missing == []


def test_trusted_conversion_survives_classes_this_environment_lacks(tmp_path):
    import pickle
    import sys
    import types

    mod = types.ModuleType("ostrack_settings_mod")

    class Settings:  # stands for lib.train.admin.settings.Settings
        def __init__(self):
            self.env = "local"

    Settings.__module__ = mod.__name__
    Settings.__qualname__ = "Settings"
    mod.Settings = Settings
    sys.modules[mod.__name__] = mod
    try:
        src_path = tmp_path / "with_settings.pth.tar"
        torch.save({"net": {"backbone.norm.weight": torch.ones(3)}, "settings": Settings()}, src_path)
    finally:
        del sys.modules[mod.__name__]
    with pytest.raises(ModuleNotFoundError):  # plain unsafe loading fails here too
        torch.load(src_path, weights_only=False, pickle_module=pickle)
    out = tmp_path / "plain.pth"
    assert convert_main([str(src_path), str(out), "--trust"]) == 0
    assert torch.equal(torch.load(out, weights_only=True)["backbone.norm.weight"], torch.ones(3))


def test_a_file_that_is_not_a_checkpoint_gets_one_clear_message(tmp_path):
    junk = tmp_path / "notes.pth"
    junk.write_bytes(b"these are not weights\n" * 50)
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint") as err:
        read_checkpoint(junk)
    assert "central directory" not in str(err.value) and str(junk) in str(err.value)
    truncated = tmp_path / "truncated.pth"
    torch.save({"w": torch.zeros(100)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(truncated)
    net = build_network(dict(compose_model("+variant=single").net), load_pretrained=False)
    with pytest.raises(CheckpointError, match="notes.pth"):
        load_pretrained(net.backbone, str(junk))
