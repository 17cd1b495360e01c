"""Config hazards a new user hits: multirun folder names, `make help` piped, `debug=fdr`'s end-of-run
message, optuna's sqlite storage, the groups `--help` lists, crop factors that training and tracking
must share."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.configs import compose_config
from tests.helpers.tracking import write_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}


@pytest.mark.slow  # a subprocess that imports torch and runs two jobs
def test_multirun_job_folders_are_job_numbers_even_with_long_overrides(tmp_path):
    """Two score-only evaluate jobs, each with an override longer than a 255-byte folder name."""
    root = write_benchmark(tmp_path / "bench", num_sequences=2, num_frames=5, frames=False)
    results = tmp_path / "published"
    results.mkdir()
    for name in ("seq0", "seq1"):
        np.savetxt(results / f"{name}.txt", np.loadtxt(root / "test" / name / "visible.txt", delimiter=","),
                   delimiter=",")
    long_names = ",".join("tracker_" + c * 240 for c in "ab")  # one override alone: > 255 bytes
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "src.evaluate", "-m", f"results_dir={results}", f"data.root={root}",
         "~data.generate", f"tracker_name={long_names}", f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert jobs == ["0", "1"]
    for job in jobs:
        assert (sweep / job / "metrics.json").is_file()
        assert "tracker_name=" in (sweep / job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_help_has_no_colour_codes_when_piped():
    proc = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "\x1b" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["train"] for line in lines)
    assert any(line.split()[:1] == ["test"] for line in lines)


def test_fast_dev_run_does_not_warn_about_a_missing_checkpoint(tmp_path, caplog, train_cfg):
    from tests.helpers.configs import run_train

    cfg = train_cfg("fdr", "+variant=single", "debug=fdr", "logger=csv")
    with caplog.at_level(logging.INFO):
        run_train(cfg)
    assert not [r for r in caplog.records if "no checkpoint was saved" in r.getMessage()]
    assert any("fast_dev_run saves no checkpoint" in r.getMessage() for r in caplog.records)


def test_optuna_sqlite_storage_works(tmp_path):
    """hydra.sweeper.storage=sqlite:///... (conf/hparams_search/optuna.yaml) with the pinned SQLAlchemy."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    again = optuna.load_study(study_name="s", storage=storage)
    assert len(again.trials) == 3 and again.best_value == study.best_value


@pytest.mark.parametrize(("module", "reads", "ignores"), [
    ("src.evaluate", ["data=", "tracker="], ["trainer", "callbacks", "experiment", "hparams_search"]),
    ("src.export", ["runtime"], ["trainer", "tracker=", "data=", "experiment"]),
])
def test_help_lists_only_the_groups_the_command_reads(module, reads, ignores):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    groups = proc.stdout.split("== Config ==")[0]
    for word in reads:
        assert word in groups
    for word in ignores:
        assert word not in groups, word


@pytest.mark.parametrize("data", ["synthetic", "rgbt234", "lasher", "folder"])
def test_tracking_crops_as_training_does(data):
    """The crop factors live in conf/data/pipeline/default.yaml only: the tracker of `src.evaluate`, the
    tracker validation and the end-of-run test build (loop_defaults) and training all read them."""
    from src.tracking.tracker import loop_defaults

    train = compose_config("train", [f"data={data}"])
    evaluate = compose_config("evaluate", [f"data={data}", "ckpt_path=x.ckpt"])
    for key in ("template_factor", "search_factor"):
        assert evaluate.tracker.factory[key] == train.data[key] == loop_defaults()[key]
    # an override of the data's factor reaches the tracker: no second copy to forget
    moved = compose_config("evaluate", [f"data={data}", "data.search_factor=5.0", "ckpt_path=x.ckpt"])
    assert moved.tracker.factory.search_factor == 5.0
