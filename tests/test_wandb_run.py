"""W&B records the results that matter, read back from the offline run: test metrics, plots, the
sequence table, the best validation value, group/tags/job type; src.compare finds runs by the group in
their config."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src import compare
from src.report.wandb_run import read_offline_run

ROOT = Path(__file__).resolve().parents[1]


def read_back(folder: Path, wanted: str, timeout: float = 60.0) -> dict:
    """The offline run under ``folder``, once W&B's core process has written ``wanted`` into its summary."""
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(folder.rglob("offline-run-*/run-*.wandb"))
        run = read_offline_run(files[-1]) if files else {"summary": {}}
        if wanted in run["summary"] or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def test_evaluate_run_holds_test_metrics_plots_table_group_and_tags(tiny_synthetic_root, tmp_path,
                                                                   monkeypatch):
    from src.evaluate import run
    from tests.helpers.configs import compose_evaluate, data_overrides
    from tests.helpers.tracking import save_checkpoint

    monkeypatch.setenv("WANDB_MODE", "offline")
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    out = tmp_path / "eval"
    report = run(compose_evaluate(data_overrides(tiny_synthetic_root, out) + [
        f"ckpt_path={ckpt}", "log_wandb=true", "wandb_group=study_x", "wandb_tags=[baseline_run]",
        f"paths.work_dir={tmp_path}", "limit_sequences=1"]))  # no Hydra run here: no ${hydra:runtime.cwd}
    wb = read_back(out, "test/MSR")
    assert wb["group"] == "study_x" and wb["job_type"] == "evaluate"
    assert {"baseline_run", "cmc", "synthetic"} <= set(wb["tags"])
    assert wb["summary"]["test/MSR"] == pytest.approx(report["metrics"]["MSR"])
    assert wb["summary"]["test/normal/MSR"] == pytest.approx(report["subsets"]["normal"]["MSR"])
    assert wb["summary"]["fps/cpu_threads"] == report["cpu_threads"]
    assert {"test/sequences", "test/plots/precision", "test/plots/success"} <= wb["history_keys"]
    table = wb["summary"]["test/sequences"]
    assert table["_type"] == "table-file" and table["nrows"] == 1


def test_compare_reads_the_group_from_the_run_config(tmp_path, monkeypatch):
    """A training run whose W&B log carries no group is found by the group in its Hydra config."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "train" / "0"
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"experiment_name": "abl", "logger": {"wandb": {"group": "${experiment_name}"}}}
    OmegaConf.save(OmegaConf.create(config), run_dir / ".hydra" / "config.yaml")
    (run_dir / "metrics.json").write_text(json.dumps({"metrics": {"MSR": 0.5}}))
    code = f"import wandb; wandb.init(project='p', dir={str(run_dir)!r}, mode='offline'); wandb.finish()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert compare.find_wandb_group("abl", tmp_path) == [run_dir / "metrics.json"]
    assert compare.find_wandb_group("other", tmp_path) == []


@pytest.mark.slow  # a tiny training run with the W&B logger (about 30 s on 2 busy cores)
def test_training_run_holds_test_metrics_and_best_validation(tmp_path, monkeypatch, train_cfg):
    from tests.helpers.configs import run_train

    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = train_cfg("wb", "+variant=single", "logger=wandb",
                   "trainer.max_epochs=2")
    run_train(cfg)
    run_dir = tmp_path / "train" / "runs" / "wb"
    wb = read_back(run_dir, "test/MSR")
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert wb["summary"]["test/MSR"] == pytest.approx(saved["metrics"]["MSR"])
    assert "test/sequences" in wb["history_keys"] and "test/plots/precision" in wb["history_keys"]
    assert wb["best"].get("val/MSR") == "max"
    assert wb["job_type"] == "train" and wb["name"] == f"single_synthetic_s{cfg.seed}"
