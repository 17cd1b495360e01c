"""Training pairs cut from still photographs: any region of a real photo is a target.

The synthetic world's targets are cutouts pasted on photos, so a network trained on it alone can find
"the pasted object" without matching the template; on a held-out photo it then fails the simplest
matching task there is (``scripts/probe_photo_matching.py``). Here the target is an arbitrary box of a
real photograph (the world's asset pack, ``src.data.synthetic.assets.backgrounds``), and the search frame
is the same photo seen by a camera that moved (a similarity transform: shift, zoom, a little roll) under
other light. With probability ``move`` the target also moves against the background: its patch is
pasted, feathered, at a shifted place and the place it left is filled from elsewhere in the photo, so
matching the surroundings alone is not enough. This is the still-image pair recipe of Siamese trackers
(SiamFC/DaSiamRPN train on detection images by augmenting one image into two views).

The thermal stream is the photo's luminance through a random monotonic response (inverted half the
time), blurred and noisy, the same response for both frames (one camera).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from src.data.sequence import INFRARED, VISIBLE
from src.data.transforms import jpeg_round_trip


@dataclass(frozen=True)
class PhotoPairConfig:
    """``data.photos`` (conf/data/pipeline/default.yaml explains each key)."""

    fraction: float = 0.0
    size: tuple[float, float] = (0.06, 0.3)
    aspect: tuple[float, float] = (0.3, 3.0)
    shift: float = 0.5
    zoom: float = 0.15
    roll: float = 4.0
    move: float = 0.5
    jpeg_quality: int = 92

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> PhotoPairConfig:
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"data.photos: unknown keys {sorted(unknown)}")
        for key in ("size", "aspect"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        config = cls(**values)
        if not 0.0 <= config.fraction <= 1.0:
            raise ValueError(f"data.photos.fraction must be in [0, 1], got {config.fraction}")
        return config


def _feather(h: int, w: int) -> np.ndarray:
    """``[h, w, 1]`` alpha: 1 inside, falling to 0 over the outer eighth of each side."""
    def ramp(n: int) -> np.ndarray:
        edge = max(1.0, n / 8.0)
        t = np.arange(n, dtype=np.float32) + 0.5
        return np.clip(np.minimum(t, n - t) / edge, 0.0, 1.0)

    return (ramp(h)[:, None] * ramp(w)[None, :])[..., None]


def _paste(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Blend ``patch`` into ``image`` at top-left ``(x, y)`` with a feathered edge (in place)."""
    h, w = patch.shape[:2]
    alpha = _feather(h, w)
    region = image[y:y + h, x:x + w].astype(np.float32)
    image[y:y + h, x:x + w] = np.clip(alpha * patch + (1 - alpha) * region, 0, 255).astype(np.uint8)


def _inside(box: np.ndarray, width: int, height: int) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= width and box[1] + box[3] <= height


def draw_pair(photo: np.ndarray, cfg: PhotoPairConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Template frame, its box, search frame, its box (``ltwh``) from one RGB photo; None when the draw
    does not fit the photo (the caller draws again)."""
    H, W = photo.shape[:2]
    side = math.sqrt(W * H) * rng.uniform(*cfg.size)
    aspect = math.exp(rng.uniform(math.log(cfg.aspect[0]), math.log(cfg.aspect[1])))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    if w < 6 or h < 6 or w > 0.7 * W or h > 0.7 * H:
        return None
    x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
    z_box = np.array([x, y, w, h])

    # the camera moved: zoom and roll about the target's centre, then a shift
    scale = math.exp(rng.uniform(-cfg.zoom, cfg.zoom))
    centre = (x + w / 2, y + h / 2)
    matrix = cv2.getRotationMatrix2D(centre, rng.normal(0, cfg.roll), scale)
    matrix[:, 2] += rng.uniform(-cfg.shift, cfg.shift, 2) * side
    search = cv2.warpAffine(photo, matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    cx, cy = matrix @ np.array([centre[0], centre[1], 1.0])
    x_box = np.array([cx - scale * w / 2, cy - scale * h / 2, scale * w, scale * h])
    if not _inside(x_box, W, H):
        return None

    if rng.random() < cfg.move:  # the target moves against the background
        pw, ph = int(round(x_box[2])), int(round(x_box[3]))
        px, py = int(round(x_box[0])), int(round(x_box[1]))
        moved = x_box + np.r_[rng.normal(0, 0.5, 2) * [pw, ph], 0, 0]
        qx, qy = int(round(moved[0])), int(round(moved[1]))
        fx, fy = int(rng.integers(0, W - pw + 1)), int(rng.integers(0, H - ph + 1))
        if not _inside(np.array([qx, qy, pw, ph], float), W, H):
            return None
        patch = search[py:py + ph, px:px + pw].astype(np.float32)
        fill = search[fy:fy + ph, fx:fx + pw].astype(np.float32)
        _paste(search, fill, px, py)
        _paste(search, patch, qx, qy)
        x_box = np.array([qx, qy, pw, ph], dtype=np.float64)

    # other light: gain, offset and gamma per channel on the search frame
    gain = rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)
    gamma = math.exp(rng.normal(0, 0.15))
    lit = 255.0 * (np.clip(search.astype(np.float32) * gain + rng.normal(0, 8), 0, 255) / 255.0) ** gamma
    return photo, z_box, np.clip(lit, 0, 255).astype(np.uint8), x_box


def pseudo_thermal(frames: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A thermal-looking stream for RGB frames: luminance through one random monotonic response
    (inverted half the time), blurred, with sensor noise; ``[H, W, 3]`` uint8 each."""
    invert = rng.random() < 0.5
    gamma = math.exp(rng.normal(0, 0.4))
    sigma = rng.uniform(0.6, 1.6)
    out = []
    for frame in frames:
        lum = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        lum = 1.0 - lum if invert else lum
        lum = cv2.GaussianBlur(lum ** gamma, (0, 0), sigma) * 255.0
        lum += rng.normal(0, 2.0, lum.shape).astype(np.float32)
        grey = np.clip(lum, 0, 255).astype(np.uint8)
        out.append(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    return tuple(out)


class PhotoPairDataset(torch.utils.data.Dataset):
    """Training pairs from the asset pack's photographs (:func:`draw_pair`); ``dataset[key]`` is
    deterministic in ``(seed, stream, key)``. Frames go through JPEG at the benchmark's quality, as the
    written and online pairs do, then through the same :class:`~src.data.processing.PairProcessing`."""

    def __init__(self, cfg: PhotoPairConfig, processing, seed: int, stream: int, length: int,
                 modalities: tuple[str, ...], max_tries: int = 50):
        from src.data.synthetic import assets

        self.photos = assets.backgrounds()
        self.cfg, self.processing = cfg, processing
        self.seed, self.stream, self.length = int(seed), stream, int(length)
        self.modalities, self.max_tries = tuple(modalities), max_tries

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        from src.data.datamodule import with_infrared_keys

        rng = np.random.default_rng([self.seed, self.stream, int(key)])
        for _ in range(self.max_tries):
            photo = self.photos[int(rng.integers(len(self.photos)))]
            drawn = draw_pair(photo, self.cfg, rng)
            if drawn is None:
                continue
            z_frame, z_box, x_frame, x_box = drawn
            quality = self.cfg.jpeg_quality
            template = {VISIBLE: jpeg_round_trip(z_frame, quality)}
            search = {VISIBLE: jpeg_round_trip(x_frame, quality)}
            if INFRARED in self.modalities:
                thermal = pseudo_thermal((z_frame, x_frame), rng)
                template[INFRARED], search[INFRARED] = (jpeg_round_trip(f, quality) for f in thermal)
            sample = self.processing(template, z_box, search, x_box, rng)
            if sample is not None:
                return with_infrared_keys(sample, self.modalities)
        raise RuntimeError(f"no valid photo training pair after {self.max_tries} draws (key {key})")
