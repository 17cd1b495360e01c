"""The training entry point on the real composed config, shrunk to seconds.

Every test composes conf/train.yaml with Hydra (the same config `python -m src.train` uses),
then overrides sizes: a tiny synthetic benchmark, a 2-block ViT at template 32 / search 64,
a few pairs per epoch, one short validation sequence, no dataloader workers, CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from src.conf import variant_names
from tests.helpers.configs import make_cfg, run_train, tiny_overrides
from tests.helpers.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
VARIANTS = variant_names()  # conf/variant/

@pytest.fixture(scope="session")
def data_root(tiny_synthetic_root) -> Path:
    """The shared tiny synthetic benchmark (tests/conftest.py)."""
    return Path(tiny_synthetic_root)


def read_losses(run_dir: Path) -> list[float]:
    """Per-step training losses from the CSV logger's metrics.csv."""
    import csv

    with open(run_dir / "csv" / "metrics.csv") as handle:
        return [float(r["train/loss_step"]) for r in csv.DictReader(handle) if r.get("train/loss_step")]


def cfg_net(cfg) -> dict:
    """``model.net`` as the module stores it: a plain dict."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg.model.net, resolve=True)


def net_state(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("net.")}


class StepProbe(Callback):
    """Records, at the start of fitting, the global step and the optimizer's step counters."""

    seen: list[dict] = []

    def on_train_start(self, trainer, pl_module):
        states = trainer.optimizers[0].state
        steps = sorted({int(s["step"]) for s in states.values() if "step" in s})
        StepProbe.seen.append({"global_step": trainer.global_step, "optimizer_steps": steps})


# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_dev_run_every_variant(variant, tmp_path, train_cfg):
    cfg = train_cfg("fdr", f"+variant={variant}", "debug=fdr", "logger=csv")
    assert cfg.model.net.variant == variant
    metrics, objects = run_train(cfg)
    trainer = objects["trainer"]
    assert trainer.global_step == 1  # fast_dev_run: exactly one optimisation step
    assert metrics["train/loss"] is not None and metrics["train/loss"] > 0
    assert metrics["val/loss"] is not None
    # validation tracked a sequence with the real tracker and scored it
    assert 0.0 <= metrics["val/MSR"] <= 1.0 and 0.0 <= metrics["val/MPR"] <= 1.0
    report = json.loads((tmp_path / "train" / "runs" / "fdr" / "metrics.json").read_text())
    assert report["variant"] == variant and report["dataset"] == "synthetic"
    assert report["wall_time_s"] > 0


def test_train_writes_checkpoints_metrics_and_test_scores(tmp_path, train_cfg):
    exported = tmp_path / "weights" / "net.pt"
    cfg = train_cfg("full", "logger=csv", f"export_weights={exported}",
                   "+callbacks.wall_checkpoints._target_=src.learning.callbacks.WallClockCheckpoints",
                   "+callbacks.wall_checkpoints.dirpath=${paths.output_dir}/checkpoints",
                   "+callbacks.wall_checkpoints.minutes=[0]")
    metrics, objects = run_train(cfg)
    run_dir = tmp_path / "train" / "runs" / "full"
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
    assert ckpts == ["best.ckpt", "last.ckpt", "wall_0min.ckpt"]  # wall_0min: after the first batch
    assert torch.load(run_dir / "checkpoints" / "wall_0min.ckpt", weights_only=True)["global_step"] == 1
    report = json.loads((run_dir / "metrics.json").read_text())
    # the best network exported as {"net": weights, "config": model.net}, its sha256 beside it
    import hashlib

    weights = torch.load(exported, weights_only=True)
    assert weights["config"] == cfg_net(cfg) and set(weights["net"]) == {k[4:] for k in net_state(
        Path(report["ckpt_path"]))}
    digest = (exported.parent / "net.pt.sha256").read_text().split()[0]
    assert digest == hashlib.sha256(exported.read_bytes()).hexdigest() == report["exported"]["sha256"]
    assert report["ckpt_path"].endswith("best.ckpt")
    for key in ("MPR", "MSR", "SR@0.5", "AOR", "APE"):
        assert key in report["metrics"], key
    assert report["variant"] == "cmc" and report["protocol"] == "rgbt234" and report["seed"] == 42
    assert (run_dir / "test" / "results").is_dir()  # raw tracking results of the test split
    assert list((run_dir / "samples").glob("epoch_*.png"))  # template | search | score map images
    # the checkpoint alone rebuilds the network, loaded without unpickling code
    hparams = torch.load(report["ckpt_path"], map_location="cpu", weights_only=True)["hyper_parameters"]
    from src.models import build_network

    net = build_network(hparams["net"])
    net.load_state_dict({k[4:]: v for k, v in net_state(Path(report["ckpt_path"])).items()})


def test_no_tracking_validation_checkpoints_on_pair_iou(tmp_path, train_cfg):
    # val/MSR is only logged when validation tracks; the best checkpoint falls back to val/iou
    cfg = train_cfg("notrack", "logger=csv", "model.validation.track=false", "test=false")
    metrics, objects = run_train(cfg)
    checkpoint = objects["trainer"].checkpoint_callback
    assert checkpoint.monitor == "val/iou" and cfg.optimized_metric == "val/iou"
    assert Path(checkpoint.best_model_path).name == "best.ckpt"
    assert "val/MSR" not in metrics and 0.0 <= metrics["val/iou"] <= 1.0


def test_no_monitor_tests_the_final_weights(tmp_path, train_cfg):
    # experiment=synthetic_full's rule (OSTrack's): no monitor, so the end-of-run test takes the newest
    # validated checkpoint, the last epoch's, whatever validation scored
    cfg = train_cfg("final", "logger=csv", "trainer.max_epochs=2",
                   "callbacks.model_checkpoint.monitor=null", "callbacks.model_checkpoint.filename=final")
    run_train(cfg)
    run_dir = tmp_path / "train" / "runs" / "final"
    report = json.loads((run_dir / "metrics.json").read_text())
    assert Path(report["ckpt_path"]).name == "final.ckpt" and "MSR" in report["metrics"]
    final = torch.load(report["ckpt_path"], map_location="cpu", weights_only=True)
    assert final["epoch"] == 1  # the second (last) epoch, 0-based
    last = net_state(run_dir / "checkpoints" / "last.ckpt")
    assert all(torch.equal(final["state_dict"][k], v) for k, v in last.items())


def test_no_validation_tests_the_last_weights_with_test_tracker_settings(tmp_path, monkeypatch, train_cfg):
    # scripts/ablate.py's runs: no validation pass (the last checkpoint is tested) and the end-of-run test's
    # tracker settings over the checkpoint's (+test_tracker.hflip=false: no mirrored views)
    from src.tracking.tracker import OSTrackTracker

    seen = []
    init = OSTrackTracker.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        seen.append(self.hflip)

    monkeypatch.setattr(OSTrackTracker, "__init__", spy)
    cfg = train_cfg("study", "logger=csv", "trainer.limit_val_batches=0", "+test_tracker.hflip=false")
    run_train(cfg)
    report = json.loads((tmp_path / "train" / "runs" / "study" / "metrics.json").read_text())
    assert Path(report["ckpt_path"]).name == "last.ckpt" and "MSR" in report["metrics"]
    assert seen and not any(seen)  # validation never built a tracker; the test's had no mirrored views


def test_ema_weights_are_validated_checkpointed_and_tested(tmp_path, monkeypatch, train_cfg):
    # callbacks.ema (experiment=synthetic_full): validation tracks the averaged weights (Lightning swaps
    # them back before the module's own epoch-end hook, where tracking runs; EMAWeights waits for it),
    # checkpoints hold them under state_dict and the raw ones under current_model_state
    import src.learning.validation as validation

    tracked: list[dict[str, torch.Tensor]] = []
    real = validation.track_validation

    def probe(module, **kwargs):
        tracked.append({f"net.{k}": v.detach().clone() for k, v in module.net.state_dict().items()})
        return real(module, **kwargs)

    monkeypatch.setattr(validation, "track_validation", probe)
    cfg = train_cfg("ema", "logger=csv", "trainer.max_epochs=2",
                   "callbacks.model_checkpoint.monitor=null", "callbacks.model_checkpoint.filename=final",
                   "+callbacks.ema._target_=src.learning.callbacks.EMAWeights", "+callbacks.ema.decay=0.5")
    run_train(cfg)
    run_dir = tmp_path / "train" / "runs" / "ema"
    final = torch.load(run_dir / "checkpoints" / "final.ckpt", map_location="cpu", weights_only=True)
    averaged = {k: v for k, v in final["state_dict"].items() if k.startswith("net.")}
    raw = {k: v for k, v in final["current_model_state"].items() if k.startswith("net.")}
    assert len(tracked) == 2 and averaged.keys() == raw.keys() == tracked[-1].keys()
    assert not all(torch.equal(averaged[k], raw[k]) for k in averaged)  # two different sets of weights
    assert all(torch.equal(averaged[k], v) for k, v in tracked[-1].items())  # validation tracked the average
    report = json.loads((run_dir / "metrics.json").read_text())
    assert Path(report["ckpt_path"]).name == "final.ckpt"  # and the end-of-run test tracked that file


def test_diagnose_drift_script_on_a_tiny_checkpoint(data_root, tmp_path, train_cfg):
    run_train(train_cfg("diag", "logger=csv", "test=false"))
    ckpt = tmp_path / "train" / "runs" / "diag" / "checkpoints" / "best.ckpt"
    script = load_script("diagnose_drift")
    out = tmp_path / "drift.md"
    assert script.main([str(ckpt), "--pairs", "4", "--sequences", "1", "--frames", "5", "--out", str(out),
                        f"data.root={data_root}"]) == 0
    lines = out.read_text().splitlines()
    assert "pairs 4" in lines[2] and "size ratio w" in lines[2]
    stats = dict(part.rsplit(" ", 1) for part in lines[2].split(": ", 1)[1].split(", "))
    assert 0.0 <= float(stats["peak on label cell"]) <= float(stats["peak within 1 cell"]) <= 1.0
    assert 0.0 <= float(stats["IoU at label cell"]) <= 1.0 and "size corr w" in stats
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [r[0].strip("| ") for r in rows] == ["val_000", "mean"]
    # teacher-forced and free-running IoU and success share, another template's IoU, free with the true
    # size, free with the true centre
    for cell in rows[0][1:8]:
        assert 0.0 <= float(cell) <= 1.0
    assert "another target's template" in lines[4] and "true size" in lines[4] and "true centre" in lines[4]
    assert lines[-1].startswith("free-running confidence (score-map peak): IoU > 0.5 ")


def test_diagnose_drift_puts_back_the_true_size_or_centre(monkeypatch):
    """The two half-told views: the box keeps its own centre with the true size, or the true centre with
    its own size, and the tracker goes on from that box."""
    import numpy as np

    script = load_script("diagnose_drift")
    monkeypatch.setattr(script, "_frame", lambda tracker, sequence, t: {})

    class Shifted:  # every answer: the state moved 4 px right, its size doubled
        last_confidence = 0.5

        def initialize(self, frames, box):
            self.state = np.asarray(box, float)

        def set_state(self, box):
            self.state = np.asarray(box, float)

        def track(self, frames):
            x, y, w, h = self.state
            self.state = np.array([x + 4 - w / 2, y - h / 2, 2 * w, 2 * h])
            return self.state.copy()

    gt = np.array([[10.0, 10.0, 20.0, 20.0]] * 4)
    seq = type("Seq", (), {"gt": gt, "__len__": lambda self: 4})()
    runs = script.track_views(Shifted(), seq, 4, seq)
    assert runs["true_size"][0] == pytest.approx(16 / 24)  # 4 px off at the true size: 16x20 over 24x20
    # the true centre with its own size, which doubles on: 40, 80, 160 px around the 20-px target
    np.testing.assert_allclose(runs["true_centre"], [1 / 4, 1 / 16, 1 / 64])
    np.testing.assert_allclose(runs["teacher"], 0.25)      # each frame from the truth: the same error
    assert runs["free"][2] < runs["true_size"][2]          # free-running, both errors compound
    np.testing.assert_allclose(runs["free_peak"], 0.5)     # the confidence of each free-running frame
    line = script.confidence_line(np.array([0.6, 0.5, 0.7]), np.array([]))
    assert "IoU > 0.5 median 0.600" in line and "IoU < 0.1 no frames" in line


def test_probe_recipe_trains_the_projects_module_on_cached_pairs(data_root, tmp_path):
    """scripts/probe_recipe.py: pairs from the training pipeline, cached once; the recipe trained by
    TrackerLitModule under Lightning's Trainer, one epoch a pass over the cache."""
    script = load_script("probe_recipe")
    shrink = [o for o in tiny_overrides(data_root, tmp_path) if o.startswith(("data.", "model."))]
    common = ["--batches", "2", "--cache", str(tmp_path / "pairs.pt"), "--results", str(tmp_path / "r.jsonl"),
              "--no-track", "--threads", "1"]
    first = script.main(["a", "--epochs", "2", *common, "--", *shrink])
    assert (tmp_path / "pairs.pt").is_file() and first["steps"] == 4  # 2 epochs x 2 cached batches
    assert 0.0 <= first["val_iou"] <= 1.0 and 0.0 <= first["val_on_cell"] <= 1.0
    again = script.main(["a", "--epochs", "2", *common, "--", *shrink])  # the cache read back: same run
    assert again["val_iou"] == first["val_iou"]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_same_seed_same_losses(tmp_path, train_cfg):
    losses = []
    for run in ("a", "b"):
        cfg = train_cfg(run, "logger=csv", "test=false", "data.samples_per_epoch=6")
        run_train(cfg)
        losses.append(read_losses(tmp_path / "train" / "runs" / run))
    assert len(losses[0]) == 3
    assert losses[0] == losses[1]


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])  # 2 spawned workers: ~2 min
def test_resume_from_last_matches_uninterrupted_run(workers, data_root, tmp_path):
    probe = "+callbacks.probe._target_=tests.test_train.StepProbe"
    # validation every 2nd epoch: the first run's last.ckpt must come from the end of its training epoch
    # with dataloader workers (the default) too: they prefetch the resumed epoch's first keys before
    # Lightning has advanced its epoch counter
    common = ["logger=csv", "test=false", "model.optimizer.lr=0.01", "trainer.check_val_every_n_epoch=2",
              f"data.num_workers={workers}", probe]
    StepProbe.seen.clear()
    # interrupted: one epoch (2 steps), then `ckpt_path=last` continues to two epochs
    run_train(make_cfg(data_root, tmp_path / "a", "first", *common, "trainer.max_epochs=1"))
    run_train(make_cfg(data_root, tmp_path / "a", "resumed", *common, "trainer.max_epochs=2",
                       "ckpt_path=last"))
    # uninterrupted, same seed, its own log dir
    run_train(make_cfg(data_root, tmp_path / "b", "straight", *common, "trainer.max_epochs=2"))

    first, resumed, straight = StepProbe.seen
    assert first == {"global_step": 0, "optimizer_steps": []}
    assert resumed["global_step"] == 2 and resumed["optimizer_steps"] == [2]  # Adam state restored
    assert straight["global_step"] == 0
    a = net_state(tmp_path / "a" / "train" / "runs" / "resumed" / "checkpoints" / "last.ckpt")
    b = net_state(tmp_path / "b" / "train" / "runs" / "straight" / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys()
    before = net_state(tmp_path / "a" / "train" / "runs" / "first" / "checkpoints" / "last.ckpt")
    assert any(not torch.equal(before[k], a[k]) for k in a)  # the resumed epoch did train
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow  # two spawned processes each import torch and Lightning: ~1 min here
def test_ddp_sim_two_processes(tmp_path, train_cfg):
    cfg = train_cfg("ddp", "trainer=ddp_sim", "logger=csv", "test=false",
                   "data.samples_per_epoch=8")
    _, objects = run_train(cfg)
    assert objects["trainer"].world_size == 2
    last = tmp_path / "train" / "runs" / "ddp" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    # 8 pairs, 2 per batch, split over 2 processes: 2 steps each (a single process would take 4)
    assert ckpt["global_step"] == 2
    assert any(k.startswith("net.") for k in ckpt["state_dict"])


def _multirun(variants: list[str], data_root: Path, tmp_path: Path) -> Path:
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "src.train", "-m", f"+variant={','.join(variants)}",
           *tiny_overrides(data_root, tmp_path / "logs"), "test_limit_sequences=1",
           f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}_${model.net.variant}"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return sweep_dir


def _check_sweep(sweep_dir: Path, variants: list[str]) -> None:
    reports = {json.loads(p.read_text())["variant"]: p for p in sweep_dir.glob("*/metrics.json")}
    assert sorted(reports) == sorted(variants)
    run_ids = set()
    for variant, path in reports.items():
        offline = list((path.parent / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, f"{variant}: expected one W&B run, found {offline}"
        run_ids.add(offline[0].name.rsplit("-", 1)[-1])
        assert "MSR" in json.loads(path.read_text())["metrics"]
    assert len(run_ids) == len(variants)  # one separate W&B run per job


def test_multirun_two_variants(data_root, tmp_path):
    variants = ["cmc", "single"]
    _check_sweep(_multirun(variants, data_root, tmp_path), variants)


@pytest.mark.slow
def test_multirun_all_seven_variants(data_root, tmp_path):
    _check_sweep(_multirun(VARIANTS, data_root, tmp_path), VARIANTS)


@pytest.mark.slow
def test_tsf_single_experiment_sweeps_tsf_on_and_off(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "src.train", "experiment=tsf_single",
           *tiny_overrides(data_root, tmp_path / "logs"), f"hydra.sweep.dir={sweep_dir}",
           "hydra.sweep.subdir=${hydra.job.num}"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    reports = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))]
    assert sorted(r["tsf"] for r in reports) == [False, True]
    assert {r["variant"] for r in reports} == {"single"}
