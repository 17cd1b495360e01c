"""Shared test settings: offline W&B, few CPU threads, deterministic torch."""

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


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
    return synthetic.generate(root, synthetic.TINY, progress=False)
