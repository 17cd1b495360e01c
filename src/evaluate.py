"""``python -m src.evaluate``: track a benchmark split and score it, or score existing result files.

    python -m src.evaluate ckpt_path=CKPT data=rgbt234 data.root=DIR   # our tracker: track, then score
    python -m src.evaluate tracker=csrt                                  # a classical baseline
    python -m src.evaluate results_dir=DIR data=rgbt234 data.root=DIR    # score raw files, frames absent

Everything lands in the Hydra run directory: ``results/`` (raw results in the benchmark's own
layout), ``timing/`` (per-frame seconds), ``metrics.json``, ``sequences.csv`` and plots
(:mod:`src.report`). Rerunning with ``hydra.run.dir=<that directory>`` resumes: finished sequences are
not tracked again. One evaluation writes into a directory at a time (``.lock``,
:func:`src.utils.io.folder_lock`): a second one stops with one line naming the first.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from src.conf import register_resolvers
from src.utils.cli import (
    UserError,
    check_data_keys,
    check_data_root,
    check_modalities,
    check_override_types,
    check_tracker_checkpoint,
    run_cli,
    set_cpu_threads,
)
from src.utils.io import folder_lock

# torch (through the tracking runner) is imported only once the inputs are checked, inside run(): a
# mistyped path is reported within a second or two, not after torch's import
# ${uid:} (run directories) and ${tags_with:} (W&B tags): before Hydra composes this command's config
register_resolvers()
log = logging.getLogger(__name__)


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


def check_options(cfg: DictConfig) -> None:
    """Options evaluate would otherwise ignore without a word: an error for an unknown ``data`` key or a
    ``limit_sequences`` below 1, a warning for a ``ckpt_path`` the tracker does not read."""
    check_data_keys(cfg.data)
    limit = cfg.get("limit_sequences")
    if limit is not None and int(limit) < 1:
        raise UserError(f"limit_sequences={limit}: must be at least 1 (null: every sequence)")
    if cfg.get("ckpt_path") and (cfg.get("results_dir") or "ckpt_path" not in cfg.tracker.factory):
        why = "results_dir scores existing files" if cfg.get("results_dir") else \
            f"tracker={cfg.tracker.name} does not read a checkpoint"
        log.warning("ckpt_path=%s is not used: %s", cfg.ckpt_path, why)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Everything ``python -m src.evaluate`` does, given its composed config: read the sequences, track
    them (or read the result files), score and report."""
    from src.data import open_benchmark
    from src.data.readers.base import AnnotationError
    from src.learning.checkpoints import checkpoint_info
    from src.report import log_evaluation, write_report
    from src.tracking.evaluation import ELSEWHERE, evaluate_tracker
    from src.tracking.runner import SequenceRun, load_results, summarize_fps

    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    check_options(cfg)
    try:
        reader = open_benchmark(cfg.data, cfg.split, skip_bad=bool(cfg.skip_bad_sequences))
        sequences = list(reader.sequences())[: cfg.get("limit_sequences")]
    except (FileNotFoundError, AnnotationError) as error:  # the inputs, named by the reader: one line
        raise UserError(str(error)) from error
    dataset = cfg.data.get("dataset") or cfg.data.name
    common = {"subsets": reader.subsets(), "dataset": dataset, "tau": cfg.tau}
    protocol = cfg.data.protocol

    with folder_lock(out_dir, ELSEWHERE):  # one evaluation per run directory at a time
        if cfg.get("results_dir"):  # score-only mode
            results_dir = Path(cfg.results_dir)
            prefix = cfg.results.get("prefix") or ""
            results = load_results(results_dir, sequences, cfg.results.format, prefix)
            runs = [SequenceRun(n, b) for n, b in results.items()]
            extra = {"results_dir": str(results_dir), "wall_time_s": time.perf_counter() - start}
            report = write_report(results, sequences, protocol, out_dir, fps=summarize_fps(runs), extra=extra,
                                  tracker_name=cfg.get("tracker_name") or results_dir.name, **common)
        else:
            tracker_cfg = cfg.tracker
            extra = {}
            if "ckpt_path" in tracker_cfg.factory:
                if not tracker_cfg.factory.ckpt_path:
                    raise ValueError(f"tracker={tracker_cfg.name} needs a checkpoint: pass ckpt_path=CKPT "
                                     "(or results_dir=DIR to score existing result files)")
                extra = checkpoint_info(tracker_cfg.factory.ckpt_path)
            name = cfg.get("tracker_name") or (extra.get("variant") if tracker_cfg.name == "ours" else None) \
                or tracker_cfg.name
            wanted = extra.get("modalities") or tracker_cfg.get("modalities")
            check_modalities(sequences, wanted, tracker_cfg.name)
            set_cpu_threads(cfg.get("cpu_threads"))
            report = evaluate_tracker(OmegaConf.to_container(tracker_cfg.factory, resolve=True), sequences,
                                      protocol, out_dir, tracker_name=name, num_workers=int(cfg.num_workers),
                                      skip_bad=bool(cfg.skip_bad_sequences), extra=extra,
                                      cpu_threads=cfg.get("cpu_threads"), **common)
    print(json.dumps({k: report[k] for k in ("tracker", "dataset", "protocol", "metrics", "fps")}, indent=2))
    print(f"written to {out_dir}")
    if cfg.get("log_wandb"):
        log_evaluation(cfg, report, out_dir)
    return report


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    check_inputs(cfg)
    report = run(cfg)
    return report["metrics"].get("MSR", report["metrics"].get("AO"))


if __name__ == "__main__":
    run_cli(main)
