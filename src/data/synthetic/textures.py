"""Textures of the synthetic scenes: smooth noise fields, colours, sprite patterns and masks, the sprites
themselves (RGB, temperature and alpha at ``SPRITE`` resolution) and warm bodies' thermal patterns."""

from __future__ import annotations

import math

import cv2
import numpy as np

SPRITE = 48  # sprites are drawn at this resolution and resized per frame


def smooth_noise(
    rng: np.random.Generator, height: int, width: int, cell: float, channels: int = 1
) -> np.ndarray:
    """``[H, W, C]`` float32 in [0, 1]: uniform noise on a ``cell``-pixel lattice, bicubic-upsampled."""
    gh, gw = max(2, int(height / cell) + 2), max(2, int(width / cell) + 2)
    small = rng.random((gh, gw, channels), dtype=np.float32)
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(height, width, channels), 0.0, 1.0)


def random_color(
    rng: np.random.Generator, near: np.ndarray | None = None, spread: float = 25.0
) -> np.ndarray:
    if near is not None:
        return np.clip(near + rng.normal(0, spread, 3), 0, 255).astype(np.float32)
    # saturated-ish colours: a random hue at random value
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(90, 256), rng.integers(70, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def pattern(
    rng: np.random.Generator, size: int, kind: int | None = None, params: dict | None = None
) -> tuple[np.ndarray, dict]:
    """A binary-ish texture ``[S, S]`` in [0, 1] (stripes, checks or blobs) and its parameters, so a
    look-alike can redraw the same texture."""
    if params is None:
        kind = int(rng.integers(0, 3)) if kind is None else kind
        params = {
            "kind": kind,
            "freq": float(rng.uniform(1.5, 4.0)),
            "angle": float(rng.uniform(0, math.pi)),
            "phase": float(rng.uniform(0, 2 * math.pi)),
            "blob_seed": int(rng.integers(1 << 30)),
        }
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = params["kind"]
    if kind == 0:  # stripes
        u = xx * math.cos(params["angle"]) + yy * math.sin(params["angle"])
        value = 0.5 + 0.5 * np.sin(2 * math.pi * params["freq"] * u + params["phase"])
    elif kind == 1:  # checks
        value = 0.5 + 0.5 * np.sign(
            np.sin(2 * math.pi * params["freq"] * xx + params["phase"])
            * np.sin(2 * math.pi * params["freq"] * yy)
        )
    else:  # blobs
        blob_rng = np.random.default_rng(params["blob_seed"])
        value = smooth_noise(blob_rng, size, size, size / (params["freq"] * 1.5))[..., 0]
        value = (value > 0.5).astype(np.float32)
    return np.clip(value, 0, 1).astype(np.float32), params


def shape_mask(rng: np.random.Generator, size: int, ellipse: bool | None = None) -> np.ndarray:
    """Soft alpha ``[S, S]``: an ellipse or a rounded rectangle filling the square."""
    ellipse = bool(rng.random() < 0.5) if ellipse is None else ellipse
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (xx + 0.5) / size * 2 - 1
    v = (yy + 0.5) / size * 2 - 1
    if ellipse:
        d = np.sqrt(u * u + v * v)
    else:
        p = 6.0  # superellipse: a rounded rectangle
        d = (np.abs(u) ** p + np.abs(v) ** p) ** (1 / p)
    return np.clip((1.0 - d) * size / 3.0, 0.0, 1.0).astype(np.float32)


def make_sprite(rng, colors, texture, thermal, alpha) -> np.ndarray:
    """``[S, S, 5]`` float32: RGB, temperature (0-255 grey level), alpha."""
    c1, c2 = colors
    rgb = texture[..., None] * c1 + (1 - texture[..., None]) * c2
    shade = 0.8 + 0.4 * np.linspace(0, 1, SPRITE, dtype=np.float32)[:, None, None]  # light from above
    rgb = rgb * shade + rng.normal(0, 6, rgb.shape).astype(np.float32)
    return np.concatenate([rgb, thermal[..., None], alpha[..., None]], axis=2).astype(np.float32)


def thermal_pattern(rng, base: float, delta: float, blobs: int) -> np.ndarray:
    """A warm body: ``base + delta * (0.55 + 0.45 * hot spots)``; the hot-spot layout is the object's own."""
    yy, xx = np.mgrid[0:SPRITE, 0:SPRITE].astype(np.float32) / SPRITE
    heat = 0.5 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.45) ** 2) / 0.08)
    for _ in range(blobs):
        cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.06, 0.15)
        heat += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    heat /= heat.max()
    return (base + delta * (0.55 + 0.45 * heat)).astype(np.float32)
