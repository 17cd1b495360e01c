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
