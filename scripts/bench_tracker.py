"""Tracker speed: model-only vs end-to-end FPS, and frame-decoding time.

    .venv/bin/python scripts/bench_tracker.py [--variants cmc single] [--frames 200] [--out FILE.md]

For each variant at the CPU default size (the composed ``model=cpu +variant=<name>``, random weights:
speed does not depend on them), on one search-region-sized target in a synthetic-benchmark-sized frame:

- model: the network forward alone, on the tracker's own preallocated inputs (what
  ``OSTrackTracker.last_model_time`` measures);
- e2e: ``OSTrackTracker.track`` on frames already in memory (crop + normalisation + forward +
  Hanning window + box decoding and mapping), i.e. what the tracker costs without disk I/O;
- e2e / model: the fraction of the tracker's time spent in the network (goal >= 0.9);
- each with the mirrored views off and on (``tracker.factory.hflip``: the network reads batch 2);
- decode: ``read_image`` of one JPEG frame per modality, the I/O the runner times separately.

``--baselines eco eco_rgbt ...`` times classical trackers (conf/tracker/<name>.yaml) the same way:
``track`` on the same frames (``--variants`` with no name skips the network). ``--threads N`` also
caps the BLAS / OpenMP threads numpy and OpenCV use (the script restarts itself with
``OMP_NUM_THREADS`` etc. set, which numpy reads when it loads).

Medians over ``--frames`` frames after ``--warmup`` frames. The machine's load shows up directly in
these numbers: run it alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.conf import compose_net, variant_names  # noqa: E402  (compose_net: model=<size> +variant=<name>)
from src.data.transforms import read_image  # noqa: E402
from src.models import build_network  # noqa: E402
from src.tracking.tracker import OSTrackTracker  # noqa: E402
from src.utils.io import print_report  # noqa: E402

VARIANTS = tuple(variant_names())  # conf/variant/


def moving_frames(modalities, count: int, width: int, height: int, seed: int = 0):
    """A textured target drifting over noise: the tracker follows something, as on real data."""
    rng = np.random.default_rng(seed)
    background = {m: rng.integers(0, 80, (height, width, 3), dtype=np.uint8) for m in modalities}
    patch = rng.integers(120, 255, (32, 32, 3), dtype=np.uint8)
    frames, boxes = [], []
    for t in range(count):
        x = int(width / 3 + 20 * np.sin(t / 15))
        y = int(height / 3 + 15 * np.cos(t / 20))
        frame = {}
        for m in modalities:
            image = background[m].copy()
            image[y:y + 32, x:x + 32] = patch
            frame[m] = image
        frames.append(frame)
        boxes.append(np.array([x, y, 32.0, 32.0]))
    return frames, boxes


def bench_variant(variant: str, size: str, num_frames: int, warmup: int, width: int, height: int,
                  hflip: bool) -> dict:
    torch.manual_seed(0)
    net = build_network(compose_net(size, variant)).eval()
    tracker = OSTrackTracker(net, device="cpu", hflip=hflip)
    frames, boxes = moving_frames(tracker.modalities, num_frames + warmup + 1, width, height)
    tracker.initialize(frames[0], boxes[0])
    e2e, model = [], []
    for t in range(1, len(frames)):
        start = time.perf_counter()
        tracker.track(frames[t])
        elapsed = time.perf_counter() - start
        if t > warmup:
            e2e.append(elapsed)
            model.append(tracker.last_model_time)
    # the forward alone, called directly on the tracker's inputs (no crop, no box decoding)
    forward = []
    with torch.inference_mode():
        for t in range(num_frames + warmup):
            start = time.perf_counter()
            net(**tracker._net_inputs)
            if t >= warmup:
                forward.append(time.perf_counter() - start)
    med = statistics.median
    return {"variant": variant, "hflip": hflip, "modalities": len(tracker.modalities),
            "model_ms": 1e3 * med(model),
            "forward_ms": 1e3 * med(forward), "e2e_ms": 1e3 * med(e2e),
            "model_fps": 1 / med(model), "e2e_fps": 1 / med(e2e), "ratio": med(model) / med(e2e),
            "ratio_mean": sum(model) / sum(e2e)}


def bench_baseline(name: str, num_frames: int, warmup: int, width: int, height: int) -> dict:
    """End-to-end ``track`` time of a classical tracker built from conf/tracker/<name>.yaml."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[f"tracker={name}"])
    tracker = instantiate(cfg.tracker.factory)
    frames, boxes = moving_frames(tracker.modalities, num_frames + warmup + 1, width, height)
    tracker.initialize(frames[0], boxes[0])
    times = []
    for t in range(1, len(frames)):
        start = time.perf_counter()
        tracker.track(frames[t])
        if t > warmup:
            times.append(time.perf_counter() - start)
    med = statistics.median(times)
    return {"tracker": name, "modalities": len(tracker.modalities), "e2e_ms": 1e3 * med, "e2e_fps": 1 / med,
            "mean_fps": len(times) / sum(times)}


def bench_decode(width: int, height: int, count: int = 50, quality: int = 92) -> float:
    """Median milliseconds to read one JPEG frame (``read_image``), of the benchmark's frame size."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(count):
            # smooth content compresses like camera frames (pure noise would be far larger)
            small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
            image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
            path = Path(tmp) / f"{i:05d}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            paths.append(path)
        times = []
        for path in paths:
            start = time.perf_counter()
            read_image(path)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=["single", "cmc"], choices=VARIANTS)
    parser.add_argument("--baselines", nargs="*", default=[], help="conf/tracker/ names to time too")
    parser.add_argument("--size", default="cpu", help="conf/model/<size>.yaml (default: cpu)")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--image", default="256x192", help="frame size WxH (synthetic benchmark: 256x192)")
    parser.add_argument("--decode-image", nargs="+", default=["256x192", "640x480"],
                        help="frame sizes for the decode timing (RGBT234 frames are 630x460 to 640x480)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice). On a loaded shared machine "
                             "use 1: spinning OpenMP threads that wait for a busy core inflate every figure")
    parser.add_argument("--hflip", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="the tracker's mirrored views (tracker.factory.hflip): each setting listed")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    if args.threads:
        variables = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if any(os.environ.get(v) != str(args.threads) for v in variables):  # numpy read them on import
            os.execve(sys.executable, [sys.executable, *sys.argv],
                      {**os.environ, **{v: str(args.threads) for v in variables}})
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    width, height = (int(v) for v in args.image.split("x"))

    rows = [bench_variant(v, args.size, args.frames, args.warmup, width, height, flip == "on")
            for v in args.variants for flip in args.hflip]
    decode = {s: bench_decode(*(int(v) for v in s.split("x"))) for s in args.decode_image}

    lines = [f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch threads; model `{args.size}`; frames {args.image}; "
             f"median of {args.frames} frames after {args.warmup} warm-up frames.", "",
             "| variant | hflip | modalities | model ms | e2e ms | model FPS | e2e FPS "
             "| e2e/model FPS ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {'on' if r['hflip'] else 'off'} | {r['modalities']} | "
                     f"{r['model_ms']:.2f} | {r['e2e_ms']:.2f} | "
                     f"{r['model_fps']:.1f} | {r['e2e_fps']:.1f} | {r['ratio']:.3f} |")
    lines += ["", "Forward called directly (no tracker around it), median ms: "
              + ", ".join(f"{r['variant']} (hflip {'on' if r['hflip'] else 'off'}) {r['forward_ms']:.2f}"
                          for r in rows), "",
              "| frame size | decode ms per frame and modality (read_image, JPEG) |", "|---|---|"]
    lines += [f"| {s} | {ms:.2f} |" for s, ms in decode.items()]
    if args.baselines:
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
        lines += ["", f"Classical trackers ({threads} BLAS threads), ``track`` on frames in memory:", "",
                  "| tracker | modalities | e2e ms (median) | FPS (median) | FPS (mean) |",
                  "|---|---|---|---|---|"]
        for name in args.baselines:
            r = bench_baseline(name, args.frames, args.warmup, width, height)
            lines.append(f"| {name} | {r['modalities']} | {r['e2e_ms']:.2f} | {r['e2e_fps']:.1f} "
                         f"| {r['mean_fps']:.1f} |")
    print_report(lines, args.out)


if __name__ == "__main__":
    main()
