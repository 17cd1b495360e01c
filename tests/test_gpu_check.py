"""scripts/gpu_check.py, the check prepared for a lent GPU: its CPU dry run passes every check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="says so only where there is no GPU")
def test_without_a_gpu_it_says_so_and_points_at_the_dry_run():
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "no CUDA device here" in proc.stdout and "--dry-run" in proc.stdout


@pytest.mark.slow  # two src.train subprocesses and four tracking runs on the CPU: a few minutes
def test_the_dry_run_passes_every_check(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("gpu_check ")]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [line.split(":")[0] for line in lines[1:]] == [
        "gpu_check track", "gpu_check train_step", "gpu_check ddp", "gpu_check agree"]
    assert all(": PASS (" in line for line in lines[1:])
    figures = json.loads(out.read_text())
    assert figures["train_step"]["global_step"] == 3 and figures["train_step"]["seconds_per_step"] > 0
    assert figures["ddp"]["global_step"] == 2 and figures["ddp"]["world_size"] == 1
    assert figures["agree"]["mean_iou"] == pytest.approx(1.0)  # the same device twice in the dry run
    assert figures["track"]["fp32"]["e2e_fps"] > 0 and figures["track"]["bf16 hflip"]["model_fps"] > 0
