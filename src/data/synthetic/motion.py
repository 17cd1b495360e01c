"""Motion in the synthetic scenes: object paths that wander and bounce, box sizes over time (scale change,
deformation) and the camera's drift or shake."""

from __future__ import annotations

import math

import numpy as np


def trajectory(
    rng, frames: int, width: int, height: int, sizes: np.ndarray, speed: float, turn_every: int | None
) -> np.ndarray:
    """``[T, 2]`` top-left positions of a box of per-frame ``sizes`` ``[T, 2]`` that wanders with
    momentum (abrupt turns every ``turn_every`` frames for fast motion) and bounces off the borders."""
    pos = np.empty((frames, 2))
    w0, h0 = sizes[0]
    # a box wider or taller than the frame (a large, elongated, scaling target of the on-the-fly training
    # scenes) starts at the border, as the bounce below keeps it later; any other draw is unchanged
    p = np.array([rng.uniform(0, max(width - w0, 0.0)), rng.uniform(0, max(height - h0, 0.0))])
    angle = rng.uniform(0, 2 * math.pi)
    v = speed * np.array([math.cos(angle), math.sin(angle)])
    for t in range(frames):
        if turn_every and t % turn_every == 0 and t:
            angle = rng.uniform(0, 2 * math.pi)
            v = speed * np.array([math.cos(angle), math.sin(angle)])
        v = 0.92 * v + rng.normal(0, 0.25 * speed, 2)
        norm = np.linalg.norm(v)
        if norm > 1e-6:
            v *= speed / norm * rng.uniform(0.7, 1.3)
        p = p + v
        limit = np.array([width - sizes[t, 0], height - sizes[t, 1]])
        for k in range(2):  # bounce
            if p[k] < 0:
                p[k], v[k] = -p[k], abs(v[k])
            if p[k] > limit[k]:
                p[k], v[k] = 2 * limit[k] - p[k], -abs(v[k])
            p[k] = min(max(p[k], 0.0), max(limit[k], 0.0))
        pos[t] = p
    return pos


def size_track(rng, frames: int, side: float, aspect: float, scale_change: bool, deform: bool) -> np.ndarray:
    """``[T, 2]`` (w, h): constant, or scale ramp (SC: x0.5..x1.7 overall) and/or aspect wobble (DEF)."""
    t = np.linspace(0, 1, frames)
    scale = np.ones(frames)
    if scale_change:
        a, b = (0.6, 1.5) if rng.random() < 0.5 else (1.5, 0.6)
        scale = a + (b - a) * (0.5 - 0.5 * np.cos(math.pi * t))
    w = side * math.sqrt(aspect) * scale
    h = side / math.sqrt(aspect) * scale
    if deform:
        wobble = 0.3 * np.sin(2 * math.pi * rng.uniform(1.5, 3.0) * t + rng.uniform(0, 6.28))
        w, h = w * (1 + wobble), h * (1 - wobble)
    return np.stack([w, h], axis=1)


def camera_path(rng, frames: int, shaky: bool, limit: int) -> np.ndarray:
    """``[T, 2]`` integer camera offsets within ``[-limit, limit]``: shaky with jumps (CM), otherwise a
    slow drift."""
    T = frames
    if shaky:
        steps = rng.normal(0, 2.5, (T, 2))
        jumps = rng.random(T) < 0.06
        steps[jumps] += rng.normal(0, 9, (int(jumps.sum()), 2))
        cam = np.cumsum(steps, axis=0)
    else:
        t = np.arange(T)[:, None]
        cam = rng.uniform(4, 12, 2) * np.sin(
            2 * math.pi * t / T * rng.uniform(0.3, 1.0) + rng.uniform(0, 6.28, 2)
        )
    return np.clip(np.round(cam), -limit, limit).astype(int)
