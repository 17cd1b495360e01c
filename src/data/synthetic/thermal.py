"""Thermal imaging in the calibrated world: a scene is a temperature field in degrees Celsius; the camera
turns it into 16-bit counts (a linear response, a fixed column pattern, row banding, temporal noise, a
lens fall-off) after its own detail enhancement (the dark or bright halo round hot objects that real
uncooled cameras show), and an automatic gain control maps the counts to the 8-bit frame that is written.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

COUNTS_PER_DEGREE = 80.0  # the response: 0.0125 degC per count
COUNTS_AT_ZERO = 16384.0  # the count of a 0 degC scene (-40 degC is 13184, +100 degC 24384)
NETD = 0.05  # temporal noise, degC (a 50 mK camera)
AGC_PERCENTILES = (1.0, 99.0)
AGC_MIN_SPAN = 3.0  # degC: a flat scene is not stretched into pure noise


def halo(field: np.ndarray, strength: float, sigma: float) -> np.ndarray:
    """The camera's detail enhancement: ``field + strength * (field - blur(field))`` (a dark ring round a
    hot object on a cool background, a bright one round a cold object)."""
    blurred = cv2.GaussianBlur(field, (0, 0), sigma)
    return field + strength * (field - blurred)


def to_counts(
    field: np.ndarray, columns: np.ndarray, rng: np.random.Generator, noise: np.ndarray
) -> np.ndarray:
    """``[H, W]`` uint16 counts of a temperature ``field`` (degC): the linear response plus the camera's fixed
    column pattern ``columns`` ``[W]`` (degC), a row banding of this frame and temporal ``noise`` ``[H, W]``
    (unit normals), with a lens fall-off towards the corners."""
    H, W = field.shape
    rows = rng.normal(0, 0.03, (H, 1)).astype(np.float32)
    degrees = field + columns[None, :] + rows - falloff(H, W) + NETD * noise
    counts = COUNTS_AT_ZERO + COUNTS_PER_DEGREE * degrees
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


@functools.lru_cache(maxsize=8)
def falloff(H: int, W: int) -> np.ndarray:
    """``[H, W]`` degC the lens loses towards the corners (0.3 degC there)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return 0.6 * (((xx - W / 2) / W) ** 2 + ((yy - H / 2) / H) ** 2)


def agc(counts: np.ndarray) -> np.ndarray:
    """Automatic gain control: the frame's 1st to 99th percentile of counts (read on every other pixel of
    every other row, as a camera's histogram does) stretched linearly to 0-255 (spanning at least
    AGC_MIN_SPAN degrees), as uint8."""
    lo, hi = np.percentile(counts[::2, ::2], AGC_PERCENTILES)
    span = max(float(hi - lo), AGC_MIN_SPAN * COUNTS_PER_DEGREE)
    mid = (float(hi) + float(lo)) / 2
    out = (counts.astype(np.float32) - (mid - span / 2)) * (255.0 / span)
    return np.clip(out, 0, 255).astype(np.uint8)


def degrees(counts: np.ndarray) -> np.ndarray:
    """The inverse of the linear response: counts back to degC (noise and banding included)."""
    return (counts.astype(np.float32) - COUNTS_AT_ZERO) / COUNTS_PER_DEGREE
