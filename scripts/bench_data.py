"""Data benchmarks: synthetic generation time and training pairs per second.

    python scripts/bench_data.py [--workers 0 2] [--batches 20] [--batch-size 32]
                                 [--template-size 64] [--search-size 128] [--skip-generation]
                                 [--online 0 0.75]

1. Generates the default synthetic benchmark (conf/data/synthetic.yaml's ``generate`` section)
   into a temporary folder and reports the wall time (the budget: under 60 s on 2 cores).
2. Serves training batches from it through TrackingDataModule at the CPU default crop sizes and
   reports pairs/s for each worker count and each share of pairs drawn from new scenes on the fly
   (``--online``; ``data.online.fraction``, 0.75 in ``make train``) (first batch excluded: worker start-up).
Prints a Markdown table (for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omegaconf import OmegaConf  # noqa: E402

from src.data import synthetic  # noqa: E402
from src.data.datamodule import TrackingDataModule  # noqa: E402


def bench_generation(root: Path, workers: int | None) -> tuple[float, int]:
    cfg = synthetic.config_defaults()
    if workers is not None:
        cfg["workers"] = workers
    start = time.perf_counter()
    synthetic.generate(root, cfg, progress=True)
    seconds = time.perf_counter() - start
    params = synthetic.resolve_config(cfg)
    frames = sum(s["sequences"] * s["frames"] for s in params["splits"].values())
    return seconds, frames


def bench_pairs(
    root: Path, workers: int, batches: int, batch_size: int, template_size: int, search_size: int,
    online: float = 0.0,
) -> float:
    # conf/data/pipeline/default.yaml's options, with no template jitter; the training config's keys here
    options = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "pipeline" / "default.yaml"))
    options.update(
        template_jitter={},
        modalities=["visible", "infrared"],
        heatmap_stride=16,
        heatmap_cell="round",
        name="rgbt234",
        root=str(root),
        splits={"train": "train", "val": "val", "test": "test"},
        template_size=template_size,
        search_size=search_size,
        batch_size=batch_size,
        num_workers=workers,
        samples_per_epoch=batch_size * (batches + 1),
        max_gap=30,
        persistent_workers=False,
        seed=0,
    )
    if online:  # scenes drawn on the fly, as conf/data/synthetic.yaml's `online` section draws them
        options.update(generate=synthetic.config_defaults(),
                       online={"fraction": online, "frames": 40, "generate": {}})
    dm = TrackingDataModule(**options)
    iterator = iter(dm.train_dataloader())
    next(iterator)  # start-up: reading annotations, forking workers
    start = time.perf_counter()
    count = 0
    for batch in iterator:
        count += batch["search_box"].shape[0]
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--template-size", type=int, default=64)
    parser.add_argument("--search-size", type=int, default=128)
    parser.add_argument("--generation-workers", type=int, default=None)
    parser.add_argument("--online", type=float, nargs="+", default=[0.0, 0.75],
                        help="shares of the pairs drawn from new scenes on the fly")
    parser.add_argument(
        "--skip-generation",
        action="store_true",
        help="time the pipeline on data/synthetic_rgbt (generated if missing)",
    )
    args = parser.parse_args(argv)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench_data_"))
    rows = []
    try:
        if args.skip_generation:
            root = synthetic.ensure(synthetic.default_root(), synthetic.config_defaults())
        else:
            root = tmp / "synthetic_rgbt"
            seconds, frames = bench_generation(root, args.generation_workers)
            rows.append(
                (
                    "generate default benchmark",
                    f"{seconds:.1f} s",
                    f"{frames} frame pairs, {frames / seconds:.0f} pairs/s",
                )
            )
        for workers, online in ((w, f) for f in args.online for w in args.workers):
            rate = bench_pairs(
                root, workers, args.batches, args.batch_size, args.template_size, args.search_size, online
            )
            rows.append(
                (
                    f"training pairs, num_workers={workers}, online {online:g}",
                    f"{rate:.0f} pairs/s",
                    f"batch {args.batch_size}, template {args.template_size}, search {args.search_size}, "
                    f"{rate / args.batch_size:.1f} batches/s",
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| measurement | result | notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
