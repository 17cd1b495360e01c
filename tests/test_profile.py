"""``python -m src.profile``: its counts are scripts/bench_model.py's (one module, src.models.profile)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.profile import profile
from tests.helpers.configs import compose_config
from tests.helpers.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def bench_model():
    return load_script("bench_model")


def profile_net(variant: str) -> dict:
    cfg = compose_config("profile", ["model=cpu", f"+variant={variant}"])
    return OmegaConf.to_container(cfg.model.net, resolve=True)


@pytest.mark.parametrize("variant", ["cmc"])
def test_profile_counts_what_bench_model_counts(variant):
    [bench] = bench_model().main(["--sizes", "cpu", "--variants", variant, "--no-fps"])
    row = profile(profile_net(variant), "cpu", warmup=0, iters=1)
    assert row["params"] / 1e6 == bench["params_M"]
    assert row["flops_on"] / 1e9 == bench["gflops_on"] and row["flops_off"] / 1e9 == bench["gflops_off"]
    assert row["macs_on"] == row["flops_on"] / 2 and row["macs_off"] == row["flops_off"] / 2
    assert row["flops_off"] > row["flops_on"]  # candidate elimination drops search tokens
    assert all(row[k] > 0 for k in ("model_fps_on", "model_fps_off", "e2e_fps", "tracker_model_fps"))


def test_profile_command_prints_one_table(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "src.profile", "+variant=cmc", "iters=2", "warmup=0",
                           "device=cpu", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("profile: model=cpu +variant=cmc, batch 1, cpu, 1 threads")
    for label in ("parameters (M)", "GFLOPs / frame", "GMACs / frame", "model-only FPS", "end-to-end FPS"):
        assert sum(line.startswith(f"| {label}") for line in lines) == 1, label
    row = json.loads((tmp_path / "profile.json").read_text())
    assert row["variant"] == "cmc" and row["device"] == "cpu"
    proc = subprocess.run([sys.executable, "-m", "src.profile", "iters=0", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: iters=0, warmup=5")
