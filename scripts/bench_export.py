"""Exported network vs PyTorch: tracking FPS of the same tracker loop on ONNX Runtime and on eager torch.

    .venv/bin/python scripts/bench_export.py [--variants single cmc] [--frames 120] [--threads 1]

For each variant at the CPU default size (conf/model/net/cpu.yaml, random weights: speed does not
depend on them) the network is exported with ``src.export`` (ONNX, batch 1, candidate elimination on)
and both backends track the same frames (a synthetic-benchmark-sized clip, held in memory, so disk
I/O is left out) with ``OSTrackTracker``: ``model`` is the forward alone, ``e2e`` the whole tracker
call. Backends alternate over ``--rounds`` rounds and the medians per frame are reported, so a change
in the machine's load hits both alike; quote the ratio, and the load (``uptime``) printed with it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.models import build_network  # noqa: E402
from src.network_export import export  # noqa: E402
from src.tracking.onnx_runtime import onnx_tracker  # noqa: E402
from src.tracking.tracker import OSTrackTracker  # noqa: E402

# the ONNX opset python -m src.export uses (conf/export.yaml: the one copy)
OPSET = int(OmegaConf.load(ROOT / "conf" / "export.yaml").opset)


def _bench_tracker():
    """scripts/bench_tracker.py: its network configs and its moving-target clip (one copy of each)."""
    spec = importlib.util.spec_from_file_location("bench_tracker", ROOT / "scripts" / "bench_tracker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def track(tracker, frames: list[dict], init_box: np.ndarray) -> tuple[list[float], list[float], np.ndarray]:
    tracker.initialize(frames[0], init_box.copy())
    e2e, model, boxes = [], [], [init_box]
    for frame in frames[1:]:
        start = time.perf_counter()
        boxes.append(tracker.track(frame))
        e2e.append(time.perf_counter() - start)
        model.append(tracker.last_model_time)
    return e2e, model, np.asarray(boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["single", "cmc"])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = _bench_tracker()
    import onnxruntime

    print(f"# uptime: {os.popen('uptime').read().strip()}")
    print(f"# torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} thread(s), "
          f"{args.frames} frames x {args.rounds} rounds per backend")
    print("| variant | PyTorch model FPS | ONNX Runtime model FPS | PyTorch e2e FPS | ONNX Runtime e2e FPS "
          "| ONNX / PyTorch (e2e) | max box diff (px) |")
    print("|---|---|---|---|---|---|---|")
    for variant in args.variants:
        cfg = bench.net_config(variant, "cpu")
        torch.manual_seed(0)
        net = build_network(cfg, load_pretrained=False).eval()
        modalities = list(cfg.get("modalities") or ["visible", "infrared"])
        frames, truth = bench.moving_frames(modalities, args.frames, 256, 192)
        init_box = truth[0]
        with tempfile.TemporaryDirectory() as tmp:
            meta = {"net": {**cfg, "modalities": modalities}, "tracker": {}}
            path = export(net, meta, Path(tmp) / f"{variant}.onnx", "onnx", OPSET)
            backends = {"torch": OSTrackTracker(net, device="cpu"),
                        "onnx": onnx_tracker(path, threads=args.threads)}
            times = {k: {"e2e": [], "model": []} for k in backends}
            boxes = {}
            for _ in range(args.rounds):
                for name, tracker in backends.items():
                    e2e, model, boxes[name] = track(tracker, frames, np.asarray(init_box, dtype=np.float64))
                    times[name]["e2e"] += e2e
                    times[name]["model"] += model
        fps = {k: {m: 1.0 / statistics.median(v) for m, v in t.items()} for k, t in times.items()}
        diff = float(np.abs(boxes["onnx"] - boxes["torch"]).max())
        print(f"| {variant} | {fps['torch']['model']:.0f} | {fps['onnx']['model']:.0f} | "
              f"{fps['torch']['e2e']:.0f} | {fps['onnx']['e2e']:.0f} | "
              f"{fps['onnx']['e2e'] / fps['torch']['e2e']:.2f} | {diff:.2g} |")
    print(f"# uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
