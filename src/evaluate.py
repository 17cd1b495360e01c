"""``python -m src.evaluate``: track a benchmark split and score it, or score existing result files.

    python -m src.evaluate ckpt_path=CKPT data=rgbt234 data.root=DIR   # our tracker: track, then score
    python -m src.evaluate tracker=csrt                                  # a classical baseline
    python -m src.evaluate results_dir=DIR data=rgbt234 data.root=DIR    # score raw files, frames absent

Everything lands in the Hydra run directory: ``results/`` (raw results in the benchmark's own
layout), ``timing/`` (per-frame seconds), ``metrics.json``, ``sequences.csv`` and plots. Rerunning
with ``hydra.run.dir=<that directory>`` resumes: finished sequences are not tracked again. One
evaluation writes into a directory at a time (``.lock``, :func:`src.utils.io.folder_lock`): a second one
stops with one line naming the first.

:func:`evaluate_tracker` and :func:`write_report` are the one code path that writes
``metrics.json``; training's end-of-run test calls them too.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.conf import register_resolvers
from src.utils.cli import (
    UserError,
    check_data_root,
    check_override_types,
    check_tracker_checkpoint,
    run_cli,
    set_cpu_threads,
)
from src.utils.io import folder_lock, plain, write_json

# torch (through the tracking runner) is imported only once the inputs are checked: a mistyped path
# is reported within a second or two, not after torch's import
if TYPE_CHECKING:
    from src.data.sequence import Sequence

# ${uid:} (run directories) and ${tags_with:} (W&B tags): before Hydra composes this command's config
register_resolvers()
log = logging.getLogger(__name__)

RESULTS_DIR = "results"
# what a second evaluation into a folder in use is told to do instead (src.utils.io.folder_lock)
ELSEWHERE = "evaluate into another run directory (hydra.run.dir=DIR)"


def _write_csv(path: Path, rows: list[Mapping[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and not isinstance(row[k], (list, dict))]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: plain(row.get(k)) for k in columns})


def _plots(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Precision/success plots (and the attribute radar when the benchmark has attributes)."""
    from src.metrics import plots

    try:
        return list(plots.save_plots({report["tracker"]: report}, out_dir).values())
    except Exception as error:  # noqa: BLE001  (a failing figure must not lose the scores)
        log.warning("plotting failed: %s", error)
        return []


def write_report(results: Mapping[str, np.ndarray], sequences: list[Sequence], protocol: str,
                 out_dir: str | Path, *, subsets: Mapping[str, list[str]] | None = None,
                 tracker_name: str = "ours", dataset: str = "",
                 fps: Mapping[str, float | None] | None = None, tau: float = 0.03,
                 extra: Mapping[str, Any] | None = None, plots: bool = True) -> dict[str, Any]:
    """Score ``results`` ({name: [T, 4] ltwh}) and write ``metrics.json``, ``sequences.csv`` and plots.

    Sequences without results (skipped as bad) are left out of the scores and listed under
    ``skipped``. Returns the metrics.json content.
    """
    from src.metrics import TrackingScores

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = [s for s in sequences if s.name in results]
    skipped = [s.name for s in sequences if s.name not in results]
    names = {s.name for s in scored}
    subsets = {k: [n for n in v if n in names] for k, v in (subsets or {}).items()}
    # the Metric validation scores with too: one path from result boxes to every figure
    metric = TrackingScores(scored, protocol=protocol, subsets=subsets or None, tau=tau)
    for seq in scored:
        metric.update(results[seq.name], seq)
    scores = metric.compute()
    fps = dict(fps or {})
    report: dict[str, Any] = {"tracker": tracker_name, "dataset": dataset, "protocol": protocol}
    report.update(scores)
    report["fps"] = {k: fps.get(k) for k in ("model", "e2e", "decode")}
    report["cpu_threads"] = None  # torch threads per tracking process: the FPS depend on it
    report.setdefault("subsets", {})
    for key in ("variant", "tsf", "align", "seed", "ckpt_path"):
        report[key] = None
    report.update(dict(extra or {}))
    report["num_sequences"] = len(scored)
    if skipped:
        report["skipped"] = skipped
    report = plain(report)  # NaN -> null: JSON can hold "cannot be computed"
    write_json(out_dir / "metrics.json", report)
    # imported here: src.tracking imports torch, which the input checks run without
    from src.tracking.toolkit_results import TOOLKIT_DIR, write_toolkit_results

    write_toolkit_results(results, out_dir / TOOLKIT_DIR, protocol, tracker_name)
    _write_csv(out_dir / "sequences.csv", report.get("sequences", []))
    if plots:
        _plots(report, out_dir)
    log.info("%s on %s (%s): %s", tracker_name, dataset, protocol,
             ", ".join(f"{k}={v:.4g}" for k, v in report["metrics"].items() if isinstance(v, (int, float))))
    return report


def evaluate_tracker(tracker: Any, sequences: list[Sequence], protocol: str, out_dir: str | Path, *,
                     subsets: Mapping[str, list[str]] | None = None, tracker_name: str = "ours",
                     dataset: str = "", num_workers: int = 1, tau: float = 0.03, skip_bad: bool = False,
                     extra: Mapping[str, Any] | None = None, plots: bool = True,
                     progress: bool = True, cpu_threads: int | None = None) -> dict[str, Any]:
    """Track ``sequences`` with ``tracker`` and write the full evaluation into ``out_dir``.

    Args:
        tracker: a tracker instance (one worker), or a factory for one: a picklable callable or a
            ``_target_`` config (each worker process builds its own; needed for ``num_workers > 1``).
        protocol: scoring protocol (``rgbt234``, ``gtot``, ``lasher``, ``rgbt210``, ``got10k``,
            ``otb``); it also picks the raw-result layout.
        extra: keys added to metrics.json (``variant``, ``tsf``, ``seed``, ``ckpt_path``, ...).
        cpu_threads: torch threads of each worker process (``num_workers > 1``; None: the cores
            shared out between the workers). metrics.json records the count in effect as
            ``cpu_threads`` beside ``fps``.

    Returns the metrics.json content (``metrics``, ``fps``, ``subsets``, ``sequences``, ...).
    """
    import torch

    from src.tracking.runner import TIMING_DIR, layout_for, run_sequences, summarize_fps, tracker_identity

    start = time.perf_counter()
    out_dir = Path(out_dir)
    if num_workers > 1:
        threads = int(cpu_threads) if cpu_threads else max(1, (os.cpu_count() or 1) // num_workers)
    else:
        threads = torch.get_num_threads()  # this process tracks: its own setting
    # A factory: a config, a class, or a callable that is not itself a tracker (e.g. functools.partial).
    is_factory = isinstance(tracker, (Mapping, DictConfig, type)) or (
        callable(tracker) and not hasattr(tracker, "track"))
    with folder_lock(out_dir, ELSEWHERE):  # one writer per results folder (re-entrant: run holds it too)
        runs, _failed = run_sequences(
            sequences, out_dir / RESULTS_DIR, layout_for(protocol),
            tracker=None if is_factory else tracker, factory=tracker if is_factory else None,
            num_workers=num_workers, timing_dir=out_dir / TIMING_DIR, skip_bad=skip_bad, progress=progress,
            identity=tracker_identity(tracker, tracker_name),
            threads_per_worker=threads if num_workers > 1 else None)
        fps = summarize_fps(runs.values())
        # frames whose tracker output held NaN or inf and kept the last box (runner.track_sequence)
        nonfinite = {n: r.nonfinite_frames for n, r in runs.items() if r.nonfinite_frames}
        if nonfinite:
            where = ", ".join(f"{n} ({c})" for n, c in nonfinite.items())
            log.warning("%d frame(s) in %d sequence(s) had NaN or inf tracker output and kept the last "
                        "box: %s", sum(nonfinite.values()), len(nonfinite), where)
        extra = {"cpu_threads": threads, **dict(extra or {}), "wall_time_s": time.perf_counter() - start,
                 "nonfinite_frames": sum(nonfinite.values()), "nonfinite_by_sequence": nonfinite}
        results = {n: r.boxes for n, r in runs.items()}
        return write_report(results, sequences, protocol, out_dir, subsets=subsets,
                            tracker_name=tracker_name, dataset=dataset, fps=fps, tau=tau, extra=extra,
                            plots=plots)


def _log_wandb(cfg: DictConfig, report: Mapping[str, Any], out_dir: Path) -> None:
    import wandb

    from src.utils.wandb_run import log_report

    # offline unless the user opted in (as training's logger): no account needed
    mode = os.environ.get("WANDB_MODE", "offline")
    tags = [*(cfg.get("wandb_tags") or []), report["tracker"], report["dataset"]]
    tags = [str(t) for t in dict.fromkeys(tags) if t]
    run = wandb.init(project=cfg.wandb_project, job_type="evaluate", dir=str(out_dir),
                     mode=mode, name=f"eval-{report['tracker']}-{report['dataset']}",
                     group=cfg.get("wandb_group") or None, tags=tags,
                     config=OmegaConf.to_container(cfg, resolve=True))
    try:
        log_report(run, report, out_dir)
    finally:
        wandb.finish()


def check_options(cfg: DictConfig) -> None:
    """Options evaluate would otherwise ignore without a word: an error for an unknown ``data`` key or a
    ``limit_sequences`` below 1, a warning for a ``ckpt_path`` the tracker does not read."""
    import inspect

    from src.data.datamodule import TrackingDataModule

    known = set(inspect.signature(TrackingDataModule.__init__).parameters) | {"_target_"}
    unknown = sorted(set(cfg.data) - known)
    if unknown:
        raise ValueError(f"data.{unknown[0]}: unknown key (not an argument of {TrackingDataModule.__name__}; "
                         f"a typo?)")
    limit = cfg.get("limit_sequences")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit_sequences={limit}: must be at least 1 (null: every sequence)")
    if cfg.get("ckpt_path") and (cfg.get("results_dir") or "ckpt_path" not in cfg.tracker.factory):
        why = "results_dir scores existing files" if cfg.get("results_dir") else \
            f"tracker={cfg.tracker.name} does not read a checkpoint"
        log.warning("ckpt_path=%s is not used: %s", cfg.ckpt_path, why)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything ``python -m src.evaluate`` does, given its composed config."""
    out_dir = Path(cfg.paths.output_dir)
    with folder_lock(out_dir, ELSEWHERE):  # one evaluation per run directory at a time
        return _run(cfg, out_dir)


def _run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    from src.data import open_benchmark
    from src.data.readers.base import AnnotationError
    from src.tracking.runner import SequenceRun, load_results, summarize_fps
    from src.training.checkpoints import checkpoint_info

    start = time.perf_counter()
    check_options(cfg)
    try:
        reader = open_benchmark(cfg.data, cfg.split, skip_bad=bool(cfg.skip_bad_sequences))
        sequences = list(reader.sequences())
    except (FileNotFoundError, AnnotationError) as error:  # the inputs, named by the reader: one line
        raise UserError(str(error)) from error
    if cfg.get("limit_sequences") is not None:
        sequences = sequences[: int(cfg.limit_sequences)]
    subsets = reader.subsets()
    protocol = cfg.data.protocol
    dataset = cfg.data.get("dataset") or cfg.data.name

    if cfg.get("results_dir"):  # score-only mode
        results_dir = Path(cfg.results_dir)
        results = load_results(results_dir, sequences, cfg.results.format, cfg.results.get("prefix") or "")
        name = cfg.get("tracker_name") or results_dir.name
        runs = [SequenceRun(n, b) for n, b in results.items()]
        extra = {"results_dir": str(results_dir), "wall_time_s": time.perf_counter() - start}
        report = write_report(results, sequences, protocol, out_dir, subsets=subsets, tracker_name=name,
                              dataset=dataset, fps=summarize_fps(runs), tau=cfg.tau, extra=extra)
    else:
        tracker_cfg = cfg.tracker
        factory = tracker_cfg.factory
        extra: dict[str, Any] = {}
        if "ckpt_path" in factory:
            if not factory.ckpt_path:
                raise ValueError(f"tracker={tracker_cfg.name} needs a checkpoint: pass ckpt_path=CKPT "
                                 "(or results_dir=DIR to score existing result files)")
            extra = checkpoint_info(factory.ckpt_path)
        name = cfg.get("tracker_name") or (extra.get("variant") if tracker_cfg.name == "ours" else None) \
            or tracker_cfg.name
        wanted = extra.get("modalities") or tracker_cfg.get("modalities")
        check_modalities(sequences, wanted, tracker_cfg.name)
        factory = OmegaConf.to_container(factory, resolve=True)
        set_cpu_threads(cfg.get("cpu_threads"))
        report = evaluate_tracker(factory, sequences, protocol, out_dir, subsets=subsets, tracker_name=name,
                                  dataset=dataset, num_workers=int(cfg.num_workers), tau=cfg.tau,
                                  skip_bad=bool(cfg.skip_bad_sequences), extra=extra,
                                  cpu_threads=cfg.get("cpu_threads"))
    print(json.dumps({k: report[k] for k in ("tracker", "dataset", "protocol", "metrics", "fps")}, indent=2))
    print(f"written to {out_dir}")
    if cfg.get("log_wandb"):
        _log_wandb(cfg, report, out_dir)
    return report


def check_modalities(sequences: list[Any], wanted: Any, tracker_name: str) -> None:
    """Every sequence has a stream the tracker reads (a visible-only tracker on thermal-only footage is
    a :class:`~src.utils.cli.UserError`, one line, before anything is tracked)."""
    from src.data.sequence import VISIBLE, unreadable

    for name, why in unreadable(sequences, wanted or [VISIBLE]).items():
        raise UserError(f"sequence {name}: tracker={tracker_name} {why}")


def check_inputs(cfg: DictConfig) -> None:
    """The user errors found without importing torch: a bad value, a missing data root, results folder
    or checkpoint (:class:`~src.utils.cli.UserError`, one line on the command line)."""
    check_override_types(cfg, Path(__file__).resolve().parents[1] / "conf" / "evaluate.yaml")
    check_data_root(cfg.data, cfg.paths.get("data_dir"))
    if cfg.get("results_dir"):
        if not Path(str(cfg.results_dir)).is_dir():
            raise UserError(f"results_dir={cfg.results_dir}: no such directory")
    else:
        check_tracker_checkpoint(cfg.tracker, "or results_dir=DIR to score existing result files")


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    check_inputs(cfg)
    report = run(cfg)
    return report["metrics"].get("MSR", report["metrics"].get("AO"))


if __name__ == "__main__":
    run_cli(main)
