"""Resident memory over one long sequence: LasHeR test's longest (12,862 frames), ours and KCF+RGBT.

    .venv/bin/python scripts/bench_long_sequence.py [--frames 12862] [--trackers ours kcf_rgbt]
                                                    [--out FILE.md] [--json FILE.json]

The sequence is generated in the ``data=folder`` layout (``src.data.synthetic.long_sequence``, 96x72
frames: memory, not accuracy, is measured) and read back by the folder reader. Each tracker then goes
through the whole evaluation path in this process, as ``python -m src.evaluate`` runs it with one worker
(``src.tracking.evaluation.evaluate_tracker``: tracking, raw results, timing, metrics.json, sequences.csv,
plots), then its report into an offline W&B run (``src.report.wandb_run.log_report``, what ``log_wandb=true``
logs) and the validation scoring (``TrackingScores``, what validation computes after tracking).

Resident memory (VmRSS) is sampled every ``--every`` frames while tracking; the figure of merit is its
growth from frame 1,000 to the last frame (flat: at most 50 MB). Ours is CMC* at the CPU size with random
weights (memory and speed do not depend on them), the mirrored views on, as ``conf/tracker/ours.yaml``
tracks; one torch thread, ``src.evaluate``'s default.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import torch  # noqa: E402

from src.conf import register_resolvers  # noqa: E402
from src.data.synthetic.long_sequence import LASHER_LONGEST, write_long_sequence  # noqa: E402
from src.utils.io import print_report, write_json  # noqa: E402
from src.utils.processes import MemoryProbe, resident_mb  # noqa: E402


def bench(name: str, sequence: Any, out_dir: Path, every: int) -> dict[str, Any]:
    import wandb

    from src.metrics import TrackingScores
    from src.report.wandb_run import log_report
    from src.tracking.evaluation import evaluate_tracker
    from src.tracking.runner import benchmark_tracker, read_box_file

    probe = MemoryProbe(benchmark_tracker(name), every)
    before = resident_mb()
    start = time.perf_counter()
    report = evaluate_tracker(probe, [sequence], "otb", out_dir / name, tracker_name=name, dataset="long")
    wall = time.perf_counter() - start
    after_report = resident_mb()
    run = wandb.init(project="bench-long-sequence", dir=str(out_dir / name), mode="offline", name=name)
    log_report(run, report, out_dir / name)
    wandb.finish()
    after_wandb = resident_mb()
    results = read_box_file(out_dir / name / "results" / f"{sequence.name}.txt")
    metric = TrackingScores([sequence], protocol="otb")
    metric.update(results, sequence)
    validation = metric.compute()["metrics"]
    after_validation = resident_mb()
    samples = probe.samples
    growth = probe.growth_mb(1000)
    return {"tracker": name, "frames": len(sequence), "wall_s": wall, "fps_e2e": report["fps"]["e2e"],
            "rss_start_mb": before, "rss_1000_mb": samples[-1][1] - growth, "rss_end_mb": samples[-1][1],
            "rss_max_tracking_mb": max(mb for _, mb in samples),
            "growth_1000_to_end_mb": growth,
            "rss_after_report_mb": after_report, "rss_after_wandb_mb": after_wandb,
            "rss_after_validation_mb": after_validation, "validation_AO": validation.get("AOR"),
            "metrics_json_kb": (out_dir / name / "metrics.json").stat().st_size / 1024,
            "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=LASHER_LONGEST)
    parser.add_argument("--image", default="96x72", help="frame size WxH")
    parser.add_argument("--trackers", nargs="+", default=["ours", "kcf_rgbt"])
    parser.add_argument("--every", type=int, default=1000, help="frames between memory samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (src.evaluate's default: 1)")
    parser.add_argument("--workdir", type=Path, help="the sequence and runs go here (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--json", type=Path, help="also write every figure (and the samples) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_resolvers()
    width, height = (int(v) for v in args.image.split("x"))
    from src.data.readers import get_reader

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        start = time.perf_counter()
        write_long_sequence(work / "data", args.frames, width, height)
        written = time.perf_counter() - start
        sequence = next(iter(get_reader("folder", work / "data").sequences()))
        rows = [bench(name, sequence, work / "runs", args.every) for name in args.trackers]

    lines = [f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch thread(s). One generated {args.frames}-frame RGB-T sequence, "
             f"{args.image} JPEG frames (written in {written:.0f} s), tracked through src.evaluate's path, "
             f"then its W&B report (offline) and the validation scoring. RSS in MB.", "",
             "| tracker | e2e FPS | wall s | RSS at frame 1,000 | RSS at the end | growth 1,000 -> end "
             "| max while tracking | after report | after W&B | after validation | metrics.json KB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tracker']} | {r['fps_e2e']:.1f} | {r['wall_s']:.0f} | {r['rss_1000_mb']:.1f} | "
                     f"{r['rss_end_mb']:.1f} | **{r['growth_1000_to_end_mb']:+.1f}** | "
                     f"{r['rss_max_tracking_mb']:.1f} | {r['rss_after_report_mb']:.1f} | "
                     f"{r['rss_after_wandb_mb']:.1f} | {r['rss_after_validation_mb']:.1f} | "
                     f"{r['metrics_json_kb']:.1f} |")
    lines += ["", "RSS every 1,000 frames (MB): " + "; ".join(
        f"{r['tracker']}: " + ", ".join(f"{mb:.0f}" for _, mb in r["samples"]) for r in rows)]
    print_report(lines, args.out)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
