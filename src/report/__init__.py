"""Everything that turns tracked boxes into files a person (or another toolkit) reads.

- :func:`write_report`: score per-sequence result boxes with :class:`~src.metrics.TrackingScores` (the
  metric validation uses) and write ``metrics.json``, ``sequences.csv``, the toolkits' raw-result layouts
  (:mod:`src.report.toolkit`) and the plots. ``src.evaluate``, training's end-of-run test and
  ``src.realcheck`` all go through it.
- :func:`write_metrics`: the one writer of ``metrics.json``, whose shape is :func:`empty_report`'s keys
  plus the scores; a training run writes its summary with it too (its test report plus a ``train`` block).
- :func:`run_identity`: what a report records about the network that tracked (variant, TSF, fusion
  alignment, seed, checkpoint), from a network config: the one definition, for checkpoints, training
  runs and synced W&B runs alike.
- :func:`print_results_table`: the scores as a table on the console.
- :func:`log_evaluation`: a report into its own (offline by default) W&B run; :mod:`src.report.wandb_run`
  holds what goes into a run and how an offline run is read back.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from src.utils.io import json_ready, write_json

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from src.data.sequence import Sequence

log = logging.getLogger(__name__)

# what a report says about the network that tracked; None for a classical tracker or scored files
IDENTITY_KEYS = ("variant", "tsf", "align", "seed", "ckpt_path")
FPS_KEYS = ("model", "e2e", "decode")
METRICS_FILE = "metrics.json"
# the columns print_results_table shows first, in this order, when the report has them
TABLE_KEYS = ("MPR", "MSR", "SR@0.5", "SR@0.75", "AOR", "APE", "track_success", "max_ratio", "miss_count")


def fusion_align(net: Mapping[str, Any]) -> str | None:
    """``model.net.fusion.align`` of a network config that fuses (``recover`` or ``sorted``); None for a
    single-modal network, where it means nothing."""
    fusion = net.get("fusion") or {}
    return str(fusion.get("align", "recover")) if fusion.get("stages") else None


def run_identity(net: Mapping[str, Any], *, seed: Any = None, ckpt_path: str | Path | None = None,
                 variant: str | None = None) -> dict[str, Any]:
    """The identity keys of a report (:data:`IDENTITY_KEYS`) for a network config (``model.net``): its
    variant, whether the token spatial filter is on (the backbone's ``sort_kept``), the fusion alignment,
    the training seed and the checkpoint."""
    sort_kept = (net.get("backbone") or {}).get("sort_kept")
    return {"variant": net.get("variant", variant),
            "tsf": None if sort_kept is None else bool(sort_kept),
            "align": fusion_align(net),
            "seed": seed,
            "ckpt_path": None if ckpt_path is None else str(ckpt_path)}


def empty_report(tracker: str, dataset: str, protocol: str) -> dict[str, Any]:
    """A report's keys before anything is scored: the shape every ``metrics.json`` has."""
    report: dict[str, Any] = {"tracker": tracker, "dataset": dataset, "protocol": protocol, "metrics": {},
                              "fps": dict.fromkeys(FPS_KEYS),
                              "cpu_threads": None,  # torch threads per tracking process: the FPS depend on it
                              "subsets": {}}
    report.update(dict.fromkeys(IDENTITY_KEYS))
    report.update({"num_sequences": 0, "sequences": []})
    return report


def write_metrics(out_dir: str | Path, report: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``out_dir/metrics.json`` (NaN becomes null: JSON can hold "cannot be computed")."""
    report = json_ready(dict(report))
    write_json(Path(out_dir) / METRICS_FILE, report)
    return report


def write_csv(path: Path, rows: list[Mapping[str, Any]]) -> None:
    """Rows of scalars as CSV; the columns are every scalar key in the order first seen."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and not isinstance(row[k], (list, dict))]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json_ready(row.get(k)) for k in columns})


def save_plots(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
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
    """Score ``results`` ({name: [T, 4] ltwh}) and write ``metrics.json``, ``sequences.csv``, the
    toolkits' raw-result layouts and plots into ``out_dir``.

    Sequences without results (skipped as bad) are left out of the scores and listed under
    ``skipped``. Returns the metrics.json content.
    """
    from src.metrics import TrackingScores
    from src.report.toolkit import TOOLKIT_DIR, write_toolkit_results

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = [s for s in sequences if s.name in results]
    skipped = [s.name for s in sequences if s.name not in results]
    names = {s.name for s in scored}
    subsets = {k: [n for n in v if n in names] for k, v in (subsets or {}).items()}
    metric = TrackingScores(scored, protocol=protocol, subsets=subsets or None, tau=tau)
    for seq in scored:
        metric.update(results[seq.name], seq)
    report = empty_report(tracker_name, dataset, protocol)
    report.update(metric.compute())
    report["fps"] = {k: dict(fps or {}).get(k) for k in FPS_KEYS}
    report.update(dict(extra or {}))
    report["num_sequences"] = len(scored)
    if skipped:
        report["skipped"] = skipped
    report = write_metrics(out_dir, report)
    write_toolkit_results(results, out_dir / TOOLKIT_DIR, protocol, tracker_name)
    write_csv(out_dir / "sequences.csv", report.get("sequences", []))
    if plots:
        save_plots(report, out_dir)
    log.info("%s on %s (%s): %s", tracker_name, dataset, protocol,
             ", ".join(f"{k}={v:.4g}" for k, v in report["metrics"].items() if isinstance(v, (int, float))))
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | bool):
        return str(int(value))
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return str(value)


def print_results_table(report: Mapping, title: str) -> None:
    """The final metrics as a rich table (overall row, then subsets)."""
    from rich.console import Console
    from rich.table import Table

    metrics = report.get("metrics") or {}
    keys = [k for k in TABLE_KEYS if k in metrics] or sorted(metrics)
    table = Table(title=title)
    table.add_column("split")
    for key in keys:
        table.add_column(key, justify="right")
    rows = [("all", metrics)] + list((report.get("subsets") or {}).items())
    for name, values in rows:
        table.add_row(name, *[_fmt(values.get(k)) for k in keys])
    # a log file or pipe gets a fixed wide table instead of rich's 80-column fallback
    Console(width=None if sys.stdout.isatty() else 150).print(table)


def log_evaluation(cfg: DictConfig, report: Mapping[str, Any], out_dir: Path) -> None:
    """An evaluation report into a W&B run of its own (``job_type=evaluate``), offline unless the user
    opted in (as training's logger): no account needed."""
    import wandb
    from omegaconf import OmegaConf

    from src.report.wandb_run import log_report

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
