"""Rendering one frame of a :class:`~src.data.synthetic.scene.Scene`, in steps: the camera's view of
the background in both modalities, the layers (distractors, the target, the occluder) at frame ``t``,
their compositing, and the sensor noise.

A layer is ``(sprite, x, y)``: an ``[h, w, 5]`` RGB + temperature + alpha image and its top-left
corner in visible-frame coordinates (the thermal frame sees it shifted by the misregistration).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from src.data.synthetic.scene import Scene

Layer = tuple[np.ndarray, int, int]

RGB, TEMPERATURE = slice(0, 3), slice(3, 4)  # a layer's channels per modality


def paste(canvas: np.ndarray, layer: np.ndarray, x: int, y: int, channels: slice) -> None:
    """Alpha-blend ``layer`` (``[h, w, 5]`` RGB+T+alpha) into ``canvas`` ``[H, W, C]`` at (x, y), clipped."""
    H, W = canvas.shape[:2]
    h, w = layer.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    part = layer[y0 - y : y1 - y, x0 - x : x1 - x]
    region = canvas[y0:y1, x0:x1]
    alpha = part[..., 4:5]
    region += alpha * (part[..., channels] - region)


def resize_layer(layer: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize a ``[S, S, 5]`` sprite (cv2 resizes at most 4 channels at once)."""
    head = cv2.resize(np.ascontiguousarray(layer[..., :4]), (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(np.ascontiguousarray(layer[..., 4]), (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([head, alpha[..., None]], axis=2)


def blur_length(velocity: np.ndarray) -> int:
    """Length in pixels of the motion-blur kernel for a ``velocity`` of pixels per frame."""
    return int(min(15, max(3, np.linalg.norm(velocity) * 1.2)))


def blur_pad(velocity: np.ndarray) -> int:
    """How far :func:`motion_blur` pads a layer on each side: room for the smear beyond its edge."""
    return blur_length(velocity) // 2 + 1


def motion_blur(layer: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, int]:
    """``layer`` smeared along ``velocity``, padded on every side by the returned width (:func:`blur_pad`)."""
    length = blur_length(velocity)
    kernel = np.zeros((length, length), np.float32)
    angle = math.atan2(velocity[1], velocity[0])
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    pad = blur_pad(velocity)
    padded = np.pad(layer, ((pad, pad), (pad, pad), (0, 0)))
    head = cv2.filter2D(np.ascontiguousarray(padded[..., :4]), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    alpha = cv2.filter2D(np.ascontiguousarray(padded[..., 4]), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.concatenate([head, alpha[..., None]], axis=2), pad


# ---------------------------------------------------------------------------------------------
# the steps of a frame


def camera_view(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The background under the camera at frame ``t``: visible ``[H, W, 3]`` and thermal ``[H, W, 1]``
    float32 copies; the thermal camera sees the scene shifted by ``scene.shift`` (content at p appears
    at p + shift)."""
    W, H, margin, shift = scene.width, scene.height, scene.margin, scene.shift
    cx, cy = margin + scene.cam[t, 0], margin + scene.cam[t, 1]
    visible = scene.vis[cy : cy + H, cx : cx + W].copy()
    thermal = scene.thermal[cy - shift[1] : cy - shift[1] + H, cx - shift[0] : cx - shift[0] + W].copy()
    return visible, thermal


def distractor_layers(scene: Scene, t: int) -> list[Layer]:
    layers = []
    for d in scene.objects:
        w, h = max(2, round(d.sizes[t, 0])), max(2, round(d.sizes[t, 1]))
        layers.append((resize_layer(d.sprite, w, h), round(d.pos[t, 0]), round(d.pos[t, 1])))
    return layers


def target_box(scene: Scene, t: int) -> tuple[int, int, int, int]:
    """The target's visible ground truth ``(x, y, w, h)`` at frame ``t``, inside the frame."""
    sizes, pos = scene.target.sizes, scene.target.pos
    w, h = max(2, round(sizes[t, 0])), max(2, round(sizes[t, 1]))
    x, y = round(pos[t, 0]), round(pos[t, 1])
    x, y = min(max(x, 0), scene.width - w), min(max(y, 0), scene.height - h)
    return x, y, w, h


def blurred(scene: Scene, t: int) -> bool:
    """Whether the target is motion-blurred at frame ``t`` (MB, from the second frame on)."""
    return "MB" in scene.attrs and t > 0


def target_layer(scene: Scene, t: int, box: tuple[int, int, int, int]) -> Layer:
    """The target at ``box``, its heat at frame ``t`` (TC), motion-blurred along its path (MB)."""
    x, y, w, h = box
    target = resize_layer(scene.target.sprite, w, h)
    target[..., 3] = scene.ambient + (target[..., 3] - scene.ambient) * scene.target.heat[t]
    if blurred(scene, t):
        pos = scene.target.pos
        target, pad = motion_blur(target, pos[t] - pos[t - 1])
        return target, x - pad, y - pad
    return target, x, y


def occluder_layer(scene: Scene, t: int, box: tuple[int, int, int, int]) -> Layer | None:
    """The occluder while it passes the target (PO: across it, off its centre; HO: parked over it for
    the middle third of its window), else None."""
    occluder = scene.occluder
    if occluder is None or not occluder.start <= t < occluder.start + occluder.duration:
        return None
    x, y, w, h = box
    progress = (t - occluder.start) / max(1, occluder.duration - 1)
    ow, oh = round(occluder.side * 1.1), round(occluder.side)
    ox = x + w / 2 + (progress - 0.5) * 2.2 * max(w, ow) - ow / 2
    oy = y + h / 2 + occluder.offset_y * h - oh / 2
    if "HO" in scene.attrs:  # park over the target for the middle third of the window
        ox = x + w / 2 - ow / 2 + (0 if 0.3 < progress < 0.7 else (progress - 0.5) * 2.2 * max(w, ow))
    return resize_layer(occluder.sprite, ow, oh), round(ox), round(oy)


def composite(visible: np.ndarray, thermal: np.ndarray, layers: list[Layer], shift: np.ndarray) -> None:
    """Paste ``layers`` in order into both frames, in place (thermal: shifted by the misregistration)."""
    for layer, lx, ly in layers:
        paste(visible, layer, lx, ly, RGB)
        paste(thermal, layer, lx + int(shift[0]), ly + int(shift[1]), TEMPERATURE)


def noise_window(scene: Scene, t: int) -> int:
    """The range of the sensor-noise windows' offsets into the bank at frame ``t``: the bank's pad, but
    the blur pad on motion-blurred frames (as the benchmark was first written: kept, so that the written
    benchmark stays byte-identical)."""
    if blurred(scene, t):
        pos = scene.target.pos
        return blur_pad(pos[t] - pos[t - 1])
    return scene.noise_pad


def sensor_noise(
    scene: Scene, visible: np.ndarray, thermal: np.ndarray, rng: np.random.Generator, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both frames as uint8 with sensor noise, a random window of the scene's noise bank (offsets
    drawn from ``rng`` in ``[0, pad)``); LI: the visible frame darkened and noisier."""
    W, H, noise_bank = scene.width, scene.height, scene.noise_bank
    if scene.dark_gain < 1.0:
        nx, ny = (int(v) for v in rng.integers(0, pad, 2))
        visible = visible * scene.dark_gain + 5.0 * noise_bank[ny : ny + H, nx : nx + W]
    nx, ny = (int(v) for v in rng.integers(0, pad, 2))
    thermal += 1.5 * noise_bank[ny : ny + H, nx : nx + W, :1]
    visible = np.clip(visible, 0, 255).astype(np.uint8)
    thermal = np.clip(thermal, 0, 255).astype(np.uint8)
    return visible, thermal


def render_frame(scene: Scene, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``t`` of ``scene``: visible ``[H, W, 3]`` uint8 RGB, thermal ``[H, W, 1]`` uint8 and the
    visible ground truth ``[x, y, w, h]`` (int64). ``rng`` draws the sensor noise."""
    visible, thermal = camera_view(scene, t)
    box = target_box(scene, t)
    layers = distractor_layers(scene, t)
    layers.append(target_layer(scene, t, box))
    occluder = occluder_layer(scene, t, box)
    if occluder is not None:
        layers.append(occluder)
    composite(visible, thermal, layers, scene.shift)
    visible, thermal = sensor_noise(scene, visible, thermal, rng, noise_window(scene, t))
    return visible, thermal, np.array(box, np.int64)
