"""python -m src.compare: the seed's tables (and plots) from many runs' metrics.json files.

    python -m src.compare inputs=[logs/train/multiruns/2026-11-23_22-00-00_ab12cd]
    python -m src.compare inputs=[runA,runB/metrics.json,logs/evaluate/runs]   # folders searched recursively
    python -m src.compare wandb_group=ablation_dual                            # offline runs under logs/
    python -m src.compare wandb_group=ablation_dual wandb_online=true          # the W&B API (needs login)
    python -m src.compare inputs=[...] format=latex                            # also booktabs LaTeX tables

Writes into its run directory (``logs/compare/runs/<time>_<id>/``):
- ``tables.md`` -- every table, and one ``<table>.md`` / ``<table>.csv`` each: ``methods`` (MPR, MSR,
  FPS of every method), ``ablation`` (the six fusion recipes), ``tsf`` (single-modal TSF before/after,
  per dataset), ``tsf_sorted`` (TSF before/after in the recipes run with ``fusion.align=sorted``),
  ``extreme`` and ``normal`` (robustness per variant), ``significance`` (the seed's claims as paired
  comparisons: gap, seed spread, Wilcoxon p over sequences);
- with ``format=latex``, ``<table>.tex`` each and ``tables.tex`` (all of them): booktabs ``table``
  environments (``\\usepackage{booktabs}``), the best value of a row of figures bold and the second
  underlined (``Table.to_latex``);
- ``runs.csv`` (one row per run) and ``summary.json`` (mean, spread and count per method and figure);
- ``plots/<dataset>_precision.png``, ``_success.png``, ``_radar_MPR.png``, ``_radar_MSR.png``, each also as
  a PDF (vector, TrueType fonts embedded) for a paper;
- a W&B summary run in the group (offline unless ``WANDB_MODE=online``) with the tables as
  ``wandb.Table`` s and the plots as images.

Several runs of one method (seeds) become ``mean±std`` (sample standard deviation); the count is
in ``summary.json``. FPS is the end-to-end figure (``fps.e2e``: crop + forward + decode), the one
every tracker has; ``fps_key=model`` picks the network-only figure (our variants only).

This module holds the command: ``run`` (collect the runs, write the outputs, log the W&B summary run)
and the Hydra ``main``; the runs are found in ``collect``, the tables built in ``tables``, the plots drawn
in ``plots``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from src.compare.collect import apply_speed_pass, collect, group_methods
from src.compare.plots import write_plots
from src.compare.tables import Table, build_tables, run_rows, summary
from src.conf import register_resolvers
from src.report import write_csv

register_resolvers()
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


FORMATS = ("markdown", "latex")


def write_outputs(records: list[dict[str, Any]], out_dir: str | Path, fps_key: str = "e2e",
                  plots: bool = True, fmt: str = "markdown") -> tuple[list[Table], dict[str, Path]]:
    """Write the tables (Markdown, CSV; LaTeX too with ``fmt="latex"``), runs.csv, summary.json and plots
    into ``out_dir``."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt}: expected one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = build_tables(records, fps_key)
    for t in tables:
        (out_dir / f"{t.name}.md").write_text(t.to_markdown())
        (out_dir / f"{t.name}.csv").write_text(t.to_csv())
        if fmt == "latex":
            (out_dir / f"{t.name}.tex").write_text(t.to_latex())
    (out_dir / "tables.md").write_text("\n".join(t.to_markdown() for t in tables))
    if fmt == "latex":
        (out_dir / "tables.tex").write_text("\n".join(t.to_latex() for t in tables))
    write_csv(out_dir / "runs.csv", run_rows(records, fps_key))
    (out_dir / "summary.json").write_text(json.dumps(summary(records, fps_key), indent=2, ensure_ascii=False))
    figures = write_plots(records, out_dir / "plots") if plots else {}
    return tables, figures


def log_wandb_summary(tables: list[Table], figures: Mapping[str, Path], group: str, project: str,
                      out_dir: Path, mode: str = "offline") -> None:
    """One W&B run in ``group`` holding every table (``wandb.Table``) and plot (``wandb.Image``)."""
    import wandb

    run = wandb.init(project=project, group=group, name=f"summary-{group}", job_type="compare",
                     dir=str(out_dir), mode=mode, reinit="finish_previous")
    try:
        run.log({f"tables/{t.name}": t.to_wandb() for t in tables}
                | {f"plots/{k}": wandb.Image(str(p)) for k, p in figures.items()})
    finally:
        wandb.finish()


def run(cfg: DictConfig) -> list[Table]:
    fmt = str(cfg.get("format") or "markdown")
    if fmt not in FORMATS:
        raise SystemExit(f"src.compare: format={fmt}: expected one of {', '.join(FORMATS)}")
    inputs = cfg.inputs if OmegaConf.is_list(cfg.inputs) else ([cfg.inputs] if cfg.inputs else [])
    records = collect(inputs, cfg.get("wandb_group"), cfg.get("wandb_dir"), bool(cfg.get("wandb_online")),
                      cfg.wandb_project, cfg.get("wandb_entity"))
    if not records:
        raise SystemExit(f"src.compare: no metrics.json with scores found in {list(inputs)}"
                         + (f" or W&B group {cfg.wandb_group!r}" if cfg.get("wandb_group") else ""))
    if cfg.get("fps_inputs"):
        apply_speed_pass(records, collect(cfg.fps_inputs))
    out_dir = Path(cfg.output_dir)
    tables, figures = write_outputs(records, out_dir, cfg.fps_key, bool(cfg.plots), fmt)
    print(f"{len(records)} runs, {len(group_methods(records))} methods\n")
    print("\n".join(t.to_markdown() for t in tables))
    print(f"written to {out_dir}")
    if cfg.get("log_wandb"):
        group = cfg.get("summary_group") or cfg.get("wandb_group") or "compare"
        log_wandb_summary(tables, figures, group, cfg.wandb_project, out_dir,
                          mode=str(cfg.get("wandb_mode") or "offline"))
    return tables


def main(cfg: DictConfig) -> None:
    run(cfg)


# Hydra names the job after the task function's module (``hydra.job.name``, the app name of --help):
# "compare", as the command is called, rather than "cli".
main.__module__ = "src.compare"
main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="compare")(main)
