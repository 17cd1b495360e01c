"""The one place tests compose the project's Hydra configs, and the overrides that shrink them to seconds.

:func:`compose_config` composes ``conf/<name>.yaml`` exactly as the entry points do (the resolvers are
registered by tests/conftest.py); the helpers below it shrink a config for a test: the evaluate config
on a tiny benchmark (:func:`compose_evaluate`), a training run of seconds (:func:`make_cfg`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf")

# A seconds-small synthetic benchmark: the `generate` keys it overrides (the others from
# conf/data/synthetic.yaml); ``tiny_synthetic_root`` is one, generated once per test run. It is the
# procedural world (data=synthetic_v1), whose content tests/test_data_synthetic.py checks; the calibrated
# world has its own small benchmark in tests/test_data_world.py.
TINY = {
    "world": "procedural",
    "seed": 0,
    "width": 160,
    "height": 120,
    "splits": {
        "train": {"sequences": 3, "frames": 16},
        "val": {"sequences": 1, "frames": 16},
        "test": {"sequences": 2, "frames": 16},
    },
    "target_size": [20, 30],
    "small_target_size": [12, 16],
    "workers": 1,
}


def compose_config(name: str, overrides: Sequence[str] = (), return_hydra_config: bool = False):
    """``conf/<name>.yaml`` composed with ``overrides``, as ``python -m src.<name>`` would."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def compose_evaluate(overrides: list[str]):
    return compose_config("evaluate", overrides)


def data_overrides(root: Path, out: Path) -> list[str]:
    # the tiny benchmark stands in for the synthetic one: no generation, its own root
    return ["data=synthetic", f"data.root={root}", "~data.generate", f"paths.output_dir={out}"]


def tiny_overrides(data_root: Path, log_dir: Path) -> list[str]:
    """Overrides that shrink the default training run to seconds (also valid on the command line)."""
    return [
        f"data.root={data_root}", f"paths.log_dir={log_dir}",
        "data.batch_size=2", "data.num_workers=0", "data.samples_per_epoch=4", "data.val_samples=2",
        "model.net.template_size=32", "model.net.search_size=64",
        "model.net.backbone.embed_dim=32", "model.net.backbone.depth=2", "model.net.backbone.num_heads=2",
        "model.net.backbone.ce_loc=[1]", "model.net.backbone.ce_keep_ratio=[0.7]",
        "model.net.backbone.pretrained=null", "model.net.head.channels=16", "model.init_ckpt=null",
        "model.validation.max_sequences=1", "model.validation.max_frames=6",
        "model.ce.start_epoch=0", "model.ce.warm_epochs=1",
        "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1", "trainer.log_every_n_steps=1",
        "trainer.enable_model_summary=false", "callbacks.sample_images.every_n_epochs=1",
        "test_limit_sequences=1", "test_workers=1",
    ]


def make_cfg(data_root: Path, log_dir: Path, run: str, *extra: str):
    """The composed train config for a run directory ``log_dir/train/runs/<run>``."""
    output_dir = log_dir / "train" / "runs" / run
    overrides = [*tiny_overrides(data_root, log_dir), f"paths.output_dir={output_dir}",
                 f"paths.work_dir={ROOT}", *extra]
    return compose_config("train", overrides)


def run_train(cfg):
    from src.train import train

    return train(cfg)
