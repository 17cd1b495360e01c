"""Shared test settings: offline W&B, few CPU threads, deterministic torch."""

import os

import pytest
import torch

from src.conf import register_resolvers

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# what every entry point does first: the ${uid:} / ${tags_with:} resolvers the configs use
register_resolvers()

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


@pytest.fixture(autouse=True)
def _torch_defaults():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_synthetic_root(tmp_path_factory):
    """Path of a tiny synthetic RGB-T benchmark (RGBT234 layout, splits train/val/test with 3/1/2
    sequences of 16 frames, 160x120), generated once per test session in about a second.
    Read it with ``get_reader("rgbt234", root, split="test")`` or a data config whose ``root`` it is."""
    from src.data import synthetic

    root = tmp_path_factory.mktemp("data") / "synthetic_rgbt"
    return synthetic.generate(root, TINY, progress=False)
