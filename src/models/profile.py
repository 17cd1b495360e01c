"""Counting and timing a network: parameters, FLOPs (and MACs), model-only and end-to-end FPS.

One "frame" is one forward pass at batch 1: the template and search crops of every modality the variant
reads (dual-modal variants run both modalities through the backbone). FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2 FLOPs, so MACs = FLOPs / 2), counted
with the math attention kernel because the counter does not see the fused CPU kernels; candidate
elimination on is the network's own keep ratios, off is keep ratio 1. Model-only FPS times ``net(...)``
under ``torch.inference_mode`` with the real kernels (the median of timed calls after warm-up calls);
end-to-end FPS times ``OSTrackTracker.track`` (crops, normalisation, the forward, the score window, the box)
on frames already in memory, with conf/tracker/ours.yaml's settings.

``scripts/bench_model.py`` (every variant, both sizes) and ``python -m src.profile`` (one network) count with
these functions, so their figures agree.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

# keep ratio per candidate-elimination setting: None keeps the network's own ratios, 1.0 keeps every token
CE_RATIOS: dict[str, float | None] = {"on": None, "off": 1.0}


def frame_inputs(cfg: Mapping[str, Any], device: str = "cpu") -> dict[str, torch.Tensor]:
    """One frame's network inputs (random): both modalities' template and search crops at batch 1."""
    z, x = cfg["template_size"], cfg["search_size"]
    shapes = {"template_visible": z, "search_visible": x, "template_infrared": z, "search_infrared": x}
    return {k: torch.randn(1, 3, s, s, device=device) for k, s in shapes.items()}


def count_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_flops(net: torch.nn.Module, inputs: Mapping[str, torch.Tensor], keep_ratio: float | None) -> int:
    """FLOPs of one forward (a multiply-add is 2)."""
    # grad enabled and the math SDPA kernel: the fused inference kernels are invisible to the counter
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        net(**inputs, keep_ratio=keep_ratio)
    return counter.get_total_flops()


def sync(device: str | torch.device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_fps(net: torch.nn.Module, inputs: Mapping[str, torch.Tensor], ratios: Mapping[str, float | None],
             warmup: int, iters: int, device: str = "cpu", amp: str | None = None) -> dict[str, float]:
    """Model-only FPS per keep-ratio setting; the settings alternate call by call, so a load change on a
    shared machine hits CE on and CE off alike."""
    times: dict[str, list[float]] = {tag: [] for tag in ratios}
    autocast = (torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16) if amp == "bf16"
                else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for i in range(warmup + iters):
            for tag, ratio in ratios.items():
                sync(device)
                t0 = time.perf_counter()
                net(**inputs, keep_ratio=ratio)
                sync(device)
                if i >= warmup:
                    times[tag].append(time.perf_counter() - t0)
    return {tag: 1.0 / statistics.median(t) for tag, t in times.items()}


def time_tracker(net: torch.nn.Module, warmup: int, iters: int, device: str = "cpu",
                 frame_size: tuple[int, int] = (192, 256)) -> dict[str, float]:
    """End-to-end FPS of ``OSTrackTracker`` around ``net`` (conf/tracker/ours.yaml's loop settings: the
    mirrored views included) on one in-memory frame per modality of ``frame_size`` (H, W; the synthetic
    benchmark's), and the model-only FPS of its forwards (``last_model_time``): medians over ``iters``
    frames after ``warmup``."""
    from src.tracking.tracker import OSTrackTracker

    height, width = frame_size
    rng = np.random.default_rng(0)
    frames = {m: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for m in ("visible", "infrared")}
    box = np.array([width / 2 - 16, height / 2 - 16, 32, 32], dtype=np.float64)
    tracker = OSTrackTracker(net, device=device)
    tracker.initialize(frames, box)
    e2e, model = [], []
    for i in range(warmup + iters):
        tracker.set_state(box)  # the same crop every frame: timing, not tracking
        sync(device)
        t0 = time.perf_counter()
        tracker.track(frames)
        sync(device)
        if i >= warmup:
            e2e.append(time.perf_counter() - t0)
            model.append(tracker.last_model_time)
    return {"e2e": 1.0 / statistics.median(e2e), "model": 1.0 / statistics.median(model)}
