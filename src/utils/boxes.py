"""Box formats: the one place that converts between them.

Formats (all float, pixel units unless a function says otherwise):
- ``ltwh``: left, top, width, height (what every benchmark stores; "x y w h").
- ``xyxy``: left, top, right, bottom, with ``right = left + width`` (continuous convention).
- ``cxcywh``: center x, center y, width, height, with ``cx = left + width / 2``.

Benchmark-specific pixel conventions (OTB's ``+1`` widths, GTOT's corners) live in the
metrics' protocol code, not here. Every function works on numpy arrays and torch tensors
of shape ``[..., 4]``; tensors go through ``torchvision.ops.box_convert`` (``xywh`` is its name for
``ltwh``) where its arithmetic is this module's.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert

Array = np.ndarray | torch.Tensor


def _stack(parts: list, like: Array) -> Array:
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def ltwh_to_xyxy(box: Array) -> Array:
    if isinstance(box, torch.Tensor):
        return box_convert(box, "xywh", "xyxy")
    x, y, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([x, y, x + w, y + h], box)


def xyxy_to_ltwh(box: Array) -> Array:
    if isinstance(box, torch.Tensor):
        return box_convert(box, "xyxy", "xywh")
    x1, y1, x2, y2 = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([x1, y1, x2 - x1, y2 - y1], box)


def polygon_to_ltwh(polygon: np.ndarray) -> np.ndarray:
    """``[..., 8]`` corner polygons (x1 y1 x2 y2 x3 y3 x4 y4) -> ``[..., 4]`` ltwh of their axis-aligned
    bounding box (continuous: width = max x - min x), as the tracking toolkits reduce polygons."""
    polygon = np.asarray(polygon, dtype=np.float64)
    xs, ys = polygon[..., 0::2], polygon[..., 1::2]
    x1, y1 = xs.min(-1), ys.min(-1)
    return np.stack([x1, y1, xs.max(-1) - x1, ys.max(-1) - y1], axis=-1)


def ltwh_to_cxcywh(box: Array) -> Array:
    # not box_convert: it goes through xyxy, cx = (x + (x + w)) / 2, which rounds differently
    x, y, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([x + w / 2, y + h / 2, w, h], box)


def cxcywh_to_ltwh(box: Array) -> Array:
    # not box_convert: it goes through xyxy, w = (cx + w/2) - (cx - w/2), which rounds differently
    cx, cy, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([cx - w / 2, cy - h / 2, w, h], box)


def cxcywh_to_xyxy(box: Array) -> Array:
    if isinstance(box, torch.Tensor):
        return box_convert(box, "cxcywh", "xyxy")
    cx, cy, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], box)


def xyxy_to_cxcywh(box: Array) -> Array:
    if isinstance(box, torch.Tensor):
        return box_convert(box, "xyxy", "cxcywh")
    x1, y1, x2, y2 = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], box)


def clip_ltwh(box: np.ndarray, width: int, height: int, min_size: float) -> np.ndarray:
    """Clip an ``ltwh`` box to a ``width x height`` image, keeping at least ``min_size`` per side."""
    x1, y1, x2, y2 = ltwh_to_xyxy(np.asarray(box, dtype=np.float64))
    x1 = min(max(0.0, x1), width - min_size)
    y1 = min(max(0.0, y1), height - min_size)
    x2 = min(max(x1 + min_size, x2), width)
    y2 = min(max(y1 + min_size, y2), height)
    return np.array([x1, y1, x2 - x1, y2 - y1])
