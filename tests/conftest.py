"""Shared test settings (offline W&B, deterministic torch) and the fixtures every module may use: the tiny
synthetic benchmark and the composed training config shrunk to seconds."""

import os
from pathlib import Path

import pytest
import torch

from src.conf import register_resolvers
from tests.helpers.configs import TINY, make_cfg

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# what every entry point does first: the ${uid:} / ${tags_with:} resolvers the configs use
register_resolvers()

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


@pytest.fixture
def train_cfg(tiny_synthetic_root, tmp_path):
    """``train_cfg(run, *overrides)``: conf/train.yaml composed as ``python -m src.train`` composes it,
    shrunk to a seconds-long CPU run on the tiny benchmark (tests.helpers.configs.tiny_overrides), its
    run directory ``tmp_path/train/runs/<run>``; ``overrides`` on top, per test."""

    def compose(run: str, *overrides: str):
        return make_cfg(Path(tiny_synthetic_root), tmp_path, run, *overrides)

    return compose
