"""Track sequences with a tracker and write the whole evaluation: the one path from a tracker to a report.

:func:`evaluate_tracker` runs the sequences (:mod:`src.tracking.runner`: raw results, per-frame timing,
resuming, worker processes) and hands the boxes to :func:`src.report.write_report`. ``src.evaluate``,
training's end-of-run test and the benchmark scripts all call it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.report import write_report
from src.tracking.base import is_factory
from src.utils.io import folder_lock

if TYPE_CHECKING:
    from src.data.sequence import Sequence

log = logging.getLogger(__name__)

RESULTS_DIR = "results"
# what a second evaluation into a folder in use is told to do instead (src.utils.io.folder_lock)
ELSEWHERE = "evaluate into another run directory (hydra.run.dir=DIR)"


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
    factory = is_factory(tracker)
    # one writer per results folder (re-entrant: src.evaluate holds it too)
    with folder_lock(out_dir, ELSEWHERE):
        runs, _failed = run_sequences(
            sequences, out_dir / RESULTS_DIR, layout_for(protocol),
            tracker=None if factory else tracker, factory=tracker if factory else None,
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
