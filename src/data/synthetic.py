"""The embedded synthetic RGB-T benchmark, written in the RGBT234 layout.

    python -m src.data.synthetic                      # -> data/synthetic_rgbt (the default)
    python -m src.data.synthetic root=DIR seed=3 splits.train.sequences=10 width=320 height=240

Keys are those of the ``generate`` section of ``conf/data/synthetic.yaml`` (plus ``root``), given as
``key=value`` (dotted for nested keys). Deterministic: the same seed and sizes give the same
bytes, whatever the worker count (each sequence draws from its own seeded generator).

What a sequence holds, and why (the task must need both modalities):
- a textured target (visible colour pattern) that is warm in thermal with its own hot-spot pattern;
- look-alike distractors (the target's texture, slightly recoloured) that are cold in thermal, and
  warm distractors that look different in visible: neither modality alone is unambiguous;
- a cluttered background (smooth colour field, shapes, grain) that the camera drifts over; shapes
  carry their own temperatures, so thermal has clutter too;
- RGBT234 challenge attributes: LI (visible dark and noisy), TC (target at ambient temperature),
  PO/HO (an occluder in both modalities), FM, SC, DEF, CM, BC, LR, MB, NO;
- infrared ground truth = visible ground truth shifted by a per-sequence misregistration of a few
  pixels (the thermal frame is rendered shifted the same way), as RGBT234's two files differ.

Layout: ``ROOT/{train,val,test}/`` each an RGBT234 root (``<seq>/visible/00001v.jpg``,
``<seq>/infrared/00001i.jpg``, ``visible.txt``, ``infrared.txt``, ``init.txt``, ``attr_txt/``,
``SequencesName.txt``) plus ``subsets/normal.txt`` (none of LI, TC, HO) and ``subsets/extreme.txt``
(any of them). ``ROOT/synthetic.json`` records the parameters; it is written last, so its presence
marks a complete benchmark. The reader's ``split`` argument is the folder name.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

ATTRIBUTES = ("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC")
EXTREME = ("LI", "TC", "HO")
MARKER = "synthetic.json"
FORMAT_VERSION = 2

# The defaults live in one place: the `generate` section of conf/data/synthetic.yaml (what
# `data=synthetic` generates and what `python -m src.data.synthetic` writes).
CONFIG_PATH = Path(__file__).resolve().parents[2] / "conf" / "data" / "synthetic.yaml"


def config_defaults() -> dict:
    """The ``generate`` section of conf/data/synthetic.yaml (the one place users change sizes)."""
    section = OmegaConf.load(CONFIG_PATH).get("generate") if CONFIG_PATH.is_file() else None
    if section is None:
        raise FileNotFoundError(f"{CONFIG_PATH}: no `generate` section (the synthetic benchmark's defaults)")
    return OmegaConf.to_container(section, resolve=True)


DEFAULTS = config_defaults()

# A seconds-small benchmark for tests (tests/conftest.py's ``tiny_synthetic_root``).
TINY = {
    "seed": 0,
    "width": 160,
    "height": 120,
    "splits": {
        "train": {"sequences": 3, "frames": 16},
        "val": {"sequences": 1, "frames": 16},
        "test": {"sequences": 2, "frames": 16},
    },
    "target_size": [20, 30],
    "small_target_size": [12, 16],
    "workers": 1,
}


# ---------------------------------------------------------------------------------------------
# textures


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


SPRITE = 48  # sprites are drawn at this resolution and resized per frame


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


# ---------------------------------------------------------------------------------------------
# motion


def trajectory(
    rng, frames: int, width: int, height: int, sizes: np.ndarray, speed: float, turn_every: int | None
) -> np.ndarray:
    """``[T, 2]`` top-left positions of a box of per-frame ``sizes`` ``[T, 2]`` that wanders with
    momentum (abrupt turns every ``turn_every`` frames for fast motion) and bounces off the borders."""
    pos = np.empty((frames, 2))
    w0, h0 = sizes[0]
    p = np.array([rng.uniform(0, width - w0), rng.uniform(0, height - h0)])
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


# ---------------------------------------------------------------------------------------------
# one sequence


def choose_attributes(rng, split: str, index: int, probability: float) -> set[str]:
    """Test: even indices normal (none of LI/TC/HO), odd extreme (cycling which one); others random."""
    optional = ("PO", "FM", "SC", "DEF", "CM", "BC", "LR", "MB")
    attrs: set[str] = set()
    if split == "test":
        if index % 2 == 1:
            attrs.add(EXTREME[(index // 2) % 3])
            if rng.random() < 0.3:
                attrs.add(str(rng.choice(EXTREME)))
        # 1-3 of the other attributes, spread evenly over the split (a random draw over only 16
        # sequences can leave one attribute on half of them and another on none)
        k = 1 + index % 3
        start = (
            int(rng.integers(len(optional))) if index >= 2 * len(optional) else (3 * index) % len(optional)
        )
        attrs.update(optional[(start + 3 * j) % len(optional)] for j in range(k))
    else:
        for code in (*EXTREME, *optional):
            if rng.random() < probability:
                attrs.add(code)
    if "HO" in attrs:
        attrs.discard("PO")
    if "PO" not in attrs and "HO" not in attrs:
        attrs.add("NO")
    return attrs


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


def motion_blur(layer: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, int]:
    length = int(min(15, max(3, np.linalg.norm(velocity) * 1.2)))
    kernel = np.zeros((length, length), np.float32)
    angle = math.atan2(velocity[1], velocity[0])
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    pad = length // 2 + 1  # room for the smear beyond the sprite's edge
    padded = np.pad(layer, ((pad, pad), (pad, pad), (0, 0)))
    head = cv2.filter2D(np.ascontiguousarray(padded[..., :4]), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    alpha = cv2.filter2D(np.ascontiguousarray(padded[..., 4]), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.concatenate([head, alpha[..., None]], axis=2), pad


def render_sequence(job: dict) -> dict:
    """Draw and write one sequence; returns its name, attributes and timing."""
    cfg, split, index, folder = job["cfg"], job["split"], job["index"], Path(job["folder"])
    split_id = {"train": 0, "val": 1, "test": 2}.get(split, 3 + sum(map(ord, split)))
    rng = np.random.default_rng([int(cfg["seed"]), split_id, index])
    T = int(job["frames"])
    attrs = choose_attributes(rng, split, index, float(cfg["attribute_probability"]))
    scene = Scene(cfg, rng, attrs, T)
    (folder / "visible").mkdir(parents=True, exist_ok=True)
    (folder / "infrared").mkdir(parents=True, exist_ok=True)
    boxes = np.zeros((T, 4), np.int64)
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(cfg["jpeg_quality"])]
    for t in range(T):
        frame_v, frame_t, boxes[t] = scene.frame(t, rng)
        cv2.imwrite(
            str(folder / "visible" / f"{t + 1:05d}v.jpg"), cv2.cvtColor(frame_v, cv2.COLOR_RGB2BGR), quality
        )
        cv2.imwrite(str(folder / "infrared" / f"{t + 1:05d}i.jpg"), frame_t, quality)

    shift = scene.shift
    boxes_i = boxes + np.array([shift[0], shift[1], 0, 0])
    write_boxes(folder / "visible.txt", boxes)
    write_boxes(folder / "infrared.txt", boxes_i)
    write_boxes(folder / "init.txt", boxes)
    return {
        "name": folder.name,
        "split": split,
        "attributes": sorted(attrs),
        "shift": [int(shift[0]), int(shift[1])],
    }


class Scene:
    """One synthetic RGB-T scene of ``frames`` frames, everything but the sensor noise drawn up front
    from ``rng`` (background, target, distractors, occluder, camera path, misregistration).
    ``frame(t, rng)`` renders frame ``t``; frames may be rendered in any order (the written
    benchmark renders them all in order, the on-the-fly training pairs only two)."""

    def __init__(self, cfg: dict, rng: np.random.Generator, attrs: set[str], frames: int) -> None:
        W, H = int(cfg["width"]), int(cfg["height"])
        T = int(frames)
        self.width, self.height, self.frames, self.attrs = W, H, T, attrs
        margin = 40  # canvas border the camera can drift into

        # ---- background: colour field + grain + clutter shapes, with a matching temperature field
        CH, CW = H + 2 * margin, W + 2 * margin
        bg_colors = [random_color(rng) for _ in range(2)]
        target_colors = [random_color(rng), random_color(rng)]
        if "BC" in attrs:  # clutter in the target's colours
            bg_colors = [random_color(rng, target_colors[0], 30), random_color(rng, target_colors[1], 30)]
        field = 0.65 * smooth_noise(rng, CH, CW, 60) + 0.35 * smooth_noise(rng, CH, CW, 14)
        vis = field * bg_colors[0] + (1 - field) * bg_colors[1]
        ambient = float(rng.uniform(55, 95))
        thermal = ambient + 30 * (smooth_noise(rng, CH, CW, 80) - 0.5)
        n_shapes = int(rng.integers(60, 90) if "BC" in attrs else rng.integers(25, 45))
        vis = np.ascontiguousarray(vis, dtype=np.float32)
        thermal = np.ascontiguousarray(thermal, dtype=np.float32)
        for _ in range(n_shapes):
            color = random_color(rng, bg_colors[int(rng.integers(2))] if "BC" in attrs else None, 40)
            temp = ambient + (rng.normal(0, 18) if rng.random() < 0.6 else 0.0)
            cx, cy = int(rng.integers(0, CW)), int(rng.integers(0, CH))
            a, b = int(rng.integers(4, 28)), int(rng.integers(4, 28))
            kind = rng.integers(3)
            for img, val in ((vis, tuple(float(c) for c in color)), (thermal, (float(temp),))):
                if kind == 0:
                    cv2.rectangle(img, (cx - a, cy - b), (cx + a, cy + b), val, -1)
                elif kind == 1:
                    cv2.ellipse(img, (cx, cy), (a, b), float(rng.uniform(0, 180)), 0, 360, val, -1)
                else:
                    cv2.line(img, (cx - a, cy - b), (cx + a, cy + b), val, int(rng.integers(2, 6)))
        vis += rng.normal(0, 7, vis.shape).astype(np.float32)  # grain: texture everywhere
        for _ in range(int(rng.integers(1, 3))):  # static hot spots (lamps, engines)
            cx, cy, r = int(rng.integers(0, CW)), int(rng.integers(0, CH)), int(rng.integers(4, 9))
            cv2.circle(thermal, (cx, cy), r, float(ambient + rng.uniform(50, 90)), -1)
        thermal = cv2.GaussianBlur(thermal, (0, 0), 1.2)[..., None]

        # ---- target
        side_range = cfg["small_target_size"] if "LR" in attrs else cfg["target_size"]
        side = float(rng.uniform(*side_range))
        aspect = float(np.exp(rng.uniform(*cfg["aspect_log_range"])))
        sizes = size_track(rng, T, side, aspect, "SC" in attrs, "DEF" in attrs)
        fast = "FM" in attrs or "MB" in attrs
        speed = float(rng.uniform(5, 9) if fast else rng.uniform(0.8, 2.5)) * side / 32
        pos = trajectory(rng, T, W, H, sizes, speed, turn_every=12 if "FM" in attrs else None)
        tex, tex_params = pattern(rng, SPRITE)
        target_delta = float(rng.uniform(75, 120))
        target_sprite = make_sprite(
            rng, target_colors, tex, thermal_pattern(rng, ambient, target_delta, 3), shape_mask(rng, SPRITE)
        )
        # TC: the target cools to ambient over the middle of the sequence (thermal crossover)
        heat = np.ones(T, np.float32)
        if "TC" in attrs:
            t = np.linspace(0, 1, T)
            start = rng.uniform(0.0, 0.3)
            heat = np.clip(
                1 - np.clip((t - start) / 0.15, 0, 1) * np.clip((start + 0.75 - t) / 0.15, 0, 1), 0.04, 1
            )
            heat = heat.astype(np.float32)

        # ---- distractors: look-alikes (cold), warm different ones, plain ones
        objects = []
        n_distract = int(rng.integers(cfg["distractors"][0], cfg["distractors"][1] + 1)) + (
            2 if "BC" in attrs else 0
        )
        for k in range(n_distract):
            kind = ("lookalike", "warm")[k] if k < 2 else str(rng.choice(["lookalike", "warm", "plain"]))
            d_side = side * float(rng.uniform(0.75, 1.25))
            d_sizes = size_track(rng, T, d_side, float(np.exp(rng.uniform(-0.5, 0.5))), False, False)
            d_pos = trajectory(rng, T, W, H, d_sizes, float(rng.uniform(0.8, 3.0)) * side / 32, None)
            if kind == "lookalike":
                colors = [random_color(rng, c, 12) for c in target_colors]
                d_tex, _ = pattern(rng, SPRITE, params=tex_params)
                d_thermal = np.full((SPRITE, SPRITE), ambient + rng.uniform(-12, 8), np.float32)
                mask = shape_mask(rng, SPRITE)
            elif kind == "warm":
                colors = [random_color(rng), random_color(rng)]
                d_tex, _ = pattern(rng, SPRITE)
                d_thermal = thermal_pattern(rng, ambient, target_delta * float(rng.uniform(0.8, 1.1)), 2)
                mask = shape_mask(rng, SPRITE)
            else:
                colors = [random_color(rng), random_color(rng)]
                d_tex, _ = pattern(rng, SPRITE)
                d_thermal = np.full((SPRITE, SPRITE), ambient + rng.normal(0, 10), np.float32)
                mask = shape_mask(rng, SPRITE)
            objects.append((make_sprite(rng, colors, d_tex, d_thermal, mask), d_pos, d_sizes))

        # ---- occluder (PO: covers part of the target; HO: covers most or all of it for a while)
        occluder = None
        if "PO" in attrs or "HO" in attrs:
            heavy = "HO" in attrs
            o_side = side * (1.5 if heavy else 0.9)
            occ_tex, _ = pattern(rng, SPRITE)
            o_sprite = make_sprite(
                rng,
                [random_color(rng), random_color(rng)],
                occ_tex,
                np.full((SPRITE, SPRITE), ambient - rng.uniform(5, 20), np.float32),
                shape_mask(rng, SPRITE, ellipse=False),
            )
            o_sprite[..., 4] = np.minimum(1.0, o_sprite[..., 4] * 3)  # opaque almost to the edge
            t0 = int(rng.integers(T // 6, max(T // 6 + 1, T // 2)))
            duration = max(8, T // 4)
            offset_y = 0.0 if heavy else float(rng.choice([-0.55, 0.55]))
            occluder = (o_sprite, o_side, t0, duration, offset_y)

        # ---- camera (CM: shaky with jumps; otherwise a slow drift) and misregistration
        if "CM" in attrs:
            steps = rng.normal(0, 2.5, (T, 2))
            jumps = rng.random(T) < 0.06
            steps[jumps] += rng.normal(0, 9, (int(jumps.sum()), 2))
            cam = np.cumsum(steps, axis=0)
        else:
            t = np.arange(T)[:, None]
            cam = rng.uniform(4, 12, 2) * np.sin(
                2 * math.pi * t / T * rng.uniform(0.3, 1.0) + rng.uniform(0, 6.28, 2)
            )
        limit = margin - int(cfg["misregistration"]) - 1
        cam = np.clip(np.round(cam), -limit, limit).astype(int)
        m = int(cfg["misregistration"])
        shift = rng.integers(-m, m + 1, 2) if m > 0 else np.zeros(2, int)
        if m > 0 and not shift.any():
            shift[int(rng.integers(2))] = int(rng.choice([-1, 1]))
        dark_gain = float(rng.uniform(0.12, 0.25)) if "LI" in attrs else 1.0
        # sensor noise: one bank drawn up front, a random window of it per frame (drawing a fresh
        # full frame of normals every frame is the single largest cost of the loop otherwise)
        pad = 24
        noise_bank = rng.standard_normal((H + pad, W + pad, 3), dtype=np.float32)


        self.__dict__.update(
            margin=margin, vis=vis, thermal=thermal, objects=objects, sizes=sizes, pos=pos,
            target_sprite=target_sprite, ambient=ambient, heat=heat, occluder=occluder, cam=cam,
            shift=shift, dark_gain=dark_gain, noise_pad=pad, noise_bank=noise_bank,
        )

    def frame(self, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t``: visible ``[H, W, 3]`` uint8 RGB, thermal ``[H, W, 1]`` uint8 and the visible
        ground truth ``[x, y, w, h]`` (int64); the thermal box is that plus ``self.shift``. ``rng``
        draws the sensor noise."""
        W, H, attrs, margin, pad = self.width, self.height, self.attrs, self.margin, self.noise_pad
        cam, shift, sizes, pos, heat = self.cam, self.shift, self.sizes, self.pos, self.heat
        vis, thermal, ambient, dark_gain, noise_bank = (
            self.vis, self.thermal, self.ambient, self.dark_gain, self.noise_bank)
        rgb_slice, t_slice = slice(0, 3), slice(3, 4)
        cx, cy = margin + cam[t, 0], margin + cam[t, 1]
        frame_v = vis[cy : cy + H, cx : cx + W].copy()
        # the thermal camera sees the scene shifted by `shift`: content at p appears at p + shift
        frame_t = thermal[cy - shift[1] : cy - shift[1] + H, cx - shift[0] : cx - shift[0] + W].copy()
        layers = []
        for sprite, d_pos, d_sizes in self.objects:
            w, h = max(2, round(d_sizes[t, 0])), max(2, round(d_sizes[t, 1]))
            layers.append((resize_layer(sprite, w, h), round(d_pos[t, 0]), round(d_pos[t, 1])))
        w, h = max(2, round(sizes[t, 0])), max(2, round(sizes[t, 1]))
        x, y = round(pos[t, 0]), round(pos[t, 1])
        x, y = min(max(x, 0), W - w), min(max(y, 0), H - h)
        box = np.array([x, y, w, h], np.int64)
        target = resize_layer(self.target_sprite, w, h)
        target[..., 3] = ambient + (target[..., 3] - ambient) * heat[t]
        if "MB" in attrs and t > 0:
            target, blur_pad = motion_blur(target, pos[t] - pos[t - 1])
            layers.append((target, x - blur_pad, y - blur_pad))
            # the benchmark as first written draws these frames' noise windows from [0, blur pad):
            # kept, so that the written benchmark stays byte-identical
            pad = blur_pad
        else:
            layers.append((target, x, y))
        if self.occluder is not None:
            o_sprite, o_side, t0, duration, offset_y = self.occluder
            if t0 <= t < t0 + duration:
                progress = (t - t0) / max(1, duration - 1)
                ow, oh = round(o_side * 1.1), round(o_side)
                ox = x + w / 2 + (progress - 0.5) * 2.2 * max(w, ow) - ow / 2
                oy = y + h / 2 + offset_y * h - oh / 2
                if "HO" in attrs:  # park over the target for the middle third of the window
                    ox = (
                        x
                        + w / 2
                        - ow / 2
                        + (0 if 0.3 < progress < 0.7 else (progress - 0.5) * 2.2 * max(w, ow))
                    )
                layers.append((resize_layer(o_sprite, ow, oh), round(ox), round(oy)))
        for layer, lx, ly in layers:
            paste(frame_v, layer, lx, ly, rgb_slice)
            paste(frame_t, layer, lx + int(shift[0]), ly + int(shift[1]), t_slice)
        if dark_gain < 1.0:
            nx, ny = (int(v) for v in rng.integers(0, pad, 2))
            frame_v = frame_v * dark_gain + 5.0 * noise_bank[ny : ny + H, nx : nx + W]
        nx, ny = (int(v) for v in rng.integers(0, pad, 2))
        frame_t += 1.5 * noise_bank[ny : ny + H, nx : nx + W, :1]
        frame_v = np.clip(frame_v, 0, 255).astype(np.uint8)
        frame_t = np.clip(frame_t, 0, 255).astype(np.uint8)
        return frame_v, frame_t, box


def write_boxes(path: Path, boxes: np.ndarray) -> None:
    path.write_text("".join(f"{int(b[0])},{int(b[1])},{int(b[2])},{int(b[3])}\n" for b in boxes))


# ---------------------------------------------------------------------------------------------
# the benchmark


def sequence_name(split: str, index: int) -> str:
    return f"{split}_{index:03d}"


def resolve_config(cfg: dict | DictConfig | None = None) -> dict:
    """Defaults merged with ``cfg``; unknown keys are an error (catches typos). A given ``splits``
    section replaces the default one as a whole (a benchmark with only a test split is legal)."""
    base = OmegaConf.create(DEFAULTS)
    given = {}
    if cfg is not None:
        given = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        given.pop("root", None)
    splits = given.pop("splits", None)
    OmegaConf.set_struct(base, True)
    out = OmegaConf.to_container(OmegaConf.merge(base, given), resolve=True)
    if splits is not None:
        out["splits"] = {str(k): dict(v) for k, v in dict(splits).items()}
    for split, spec in out["splits"].items():
        if set(spec) != {"sequences", "frames"}:
            raise ValueError(f"splits.{split}: expected keys sequences and frames, got {sorted(spec)}")
        if int(spec["sequences"]) < 0 or int(spec["frames"]) < 2:
            raise ValueError(f"splits.{split}: need sequences >= 0 and frames >= 2, got {spec}")
    return out


def generate(
    root: str | Path, cfg: dict | DictConfig | None = None, progress: bool = True, workers: int | None = None
) -> Path:
    """Write the benchmark to ``root`` (replacing an incomplete one). Returns ``root``.

    Generation goes to a temporary sibling folder that is renamed into place at the end, so an
    interrupted run never leaves a half-written benchmark that looks complete.
    """
    params = resolve_config(cfg)
    root = Path(root).expanduser().resolve()
    workers = int(params["workers"] if workers is None else workers)
    started = time.perf_counter()
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    jobs = []
    for split, spec in params["splits"].items():
        for index in range(int(spec["sequences"])):
            jobs.append(
                {
                    "cfg": params,
                    "split": split,
                    "index": index,
                    "frames": int(spec["frames"]),
                    "folder": str(tmp / split / sequence_name(split, index)),
                }
            )
    for split in params["splits"]:
        (tmp / split).mkdir(parents=True, exist_ok=True)
    results = []
    bar = _progress(len(jobs), progress)
    try:
        if workers > 1 and len(jobs) > 1:
            # spawn, not fork: a forked child can hang in OpenCV when the parent (a training run,
            # a test session) has used OpenCV's thread pool; the imports here are light
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(workers, len(jobs)), initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                for result in pool.imap_unordered(render_sequence, jobs):
                    results.append(result)
                    bar.update(1)
        else:
            for job in jobs:
                results.append(render_sequence(job))
                bar.update(1)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    by_split: dict[str, list[dict]] = {}
    for result in sorted(results, key=lambda r: r["name"]):
        by_split.setdefault(result["split"], []).append(result)
    for split in params["splits"]:
        write_split_lists(tmp / split, by_split.get(split, []))
    elapsed = time.perf_counter() - started
    meta = {
        "format": FORMAT_VERSION,
        "generator": "src.data.synthetic",
        "config": params,
        "sequences": {s: [r["name"] for r in rs] for s, rs in by_split.items()},
        "seconds": round(elapsed, 2),
    }
    (tmp / MARKER).write_text(json.dumps(meta, indent=1))
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def write_split_lists(folder: Path, results: list[dict]) -> None:
    """SequencesName.txt, attr_txt/<CODE>.txt (RGBT234's format) and subsets/{normal,extreme}.txt."""
    names = [r["name"] for r in results]
    listing = "".join(f"{n}\n" for n in names)
    (folder / "SequencesName.txt").write_text(listing)
    (folder / "attr_txt").mkdir(exist_ok=True)
    (folder / "attr_txt" / "SequencesName.txt").write_text(listing)
    for code in ATTRIBUTES:
        (folder / "attr_txt" / f"{code}.txt").write_text(
            "".join(f"{int(code in r['attributes'])}\n" for r in results)
        )
    (folder / "subsets").mkdir(exist_ok=True)
    extreme = [r["name"] for r in results if set(r["attributes"]) & set(EXTREME)]
    normal = [r["name"] for r in results if not set(r["attributes"]) & set(EXTREME)]
    (folder / "subsets" / "normal.txt").write_text("".join(f"{n}\n" for n in normal))
    (folder / "subsets" / "extreme.txt").write_text("".join(f"{n}\n" for n in extreme))


def is_complete(root: str | Path) -> bool:
    return (Path(root) / MARKER).is_file()


def recorded_config(root: str | Path) -> dict | None:
    """The parameters a complete benchmark at ``root`` was generated with (None if unknown)."""
    try:
        meta = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta.get("config") if meta.get("format") == FORMAT_VERSION else None


def ensure(root: str | Path, cfg: dict | DictConfig | None = None, progress: bool = True) -> Path:
    """Generate the benchmark at ``root`` unless a complete one is there. Safe when several
    processes (parallel tests, a multirun) ask at once: one generates, the others wait on a lock.

    A complete benchmark made with other parameters is kept (tests point ``data.root`` at small
    fixtures, and deleting data behind a user's back is worse) but a warning says how to redo it.
    """
    root = Path(root).expanduser().resolve()
    wanted = resolve_config(cfg)
    if not is_complete(root):
        root.parent.mkdir(parents=True, exist_ok=True)
        lock_path = root.with_name(f".{root.name}.lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not is_complete(root):
                    if root.exists() and any(root.iterdir()):
                        raise FileExistsError(
                            f"{root}: exists but is not a complete synthetic benchmark "
                            f"(no {MARKER}); remove it or point data.root elsewhere"
                        )
                    print(f"Generating the synthetic RGB-T benchmark in {root} ...", file=sys.stderr)
                    generate(root, wanted, progress=progress)
                    return root
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    if not _same(recorded_config(root), wanted):
        log.warning(
            "%s was generated with other parameters than the config's `generate` section "
            "(or an older generator); using it as it is. To regenerate: remove it, or run "
            "python -m src.data.synthetic root=%s",
            root,
            root,
        )
    return root


def _same(recorded: dict | None, wanted: dict) -> bool:
    """Equal generation parameters; ``workers`` only changes speed, not content."""
    if recorded is None:
        return False
    strip = lambda c: {k: v for k, v in c.items() if k != "workers"}  # noqa: E731
    return strip(recorded) == strip(wanted)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="synthetic RGB-T", unit="seq", dynamic_ncols=True)


def default_root() -> Path:
    return (
        Path(os.environ.get("PROJECT_ROOT", Path(__file__).resolve().parents[2])) / "data" / "synthetic_rgbt"
    )


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print("defaults (conf/data/synthetic.yaml, generate):\n" + OmegaConf.to_yaml(DEFAULTS))
        return default_root()
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise SystemExit(f"arguments are key=value pairs, got {bad}")
    cli = OmegaConf.from_dotlist([a.lstrip("+") for a in argv])
    root = Path(str(cli.pop("root"))) if "root" in cli else default_root()
    cfg = OmegaConf.merge(DEFAULTS, cli)
    started = time.perf_counter()
    generate(root, cfg)
    params = resolve_config(cfg)
    total = sum(s["sequences"] * s["frames"] for s in params["splits"].values())
    print(f"wrote {root} ({total} frame pairs) in {time.perf_counter() - started:.1f} s")
    return root


if __name__ == "__main__":
    main()
