"""Image work shared by training and tracking: reading frames, the one crop function, normalisation.

The crop is OSTrack's ``sample_target`` geometry (a square of side ``ceil(sqrt(w*h) * factor)``
centred on the box, zero padding outside the image, resized to ``output_size``), done as one
affine warp so the tracker can reuse its output buffer every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

# ImageNet statistics (timm/MAE/OSTrack backbones are trained with them); thermal frames use
# the same, as OSTrack-based RGB-T trackers (ViPT, BAT) do.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ImageReadError(RuntimeError):
    pass


def read_image(path: str | Path) -> np.ndarray:
    """Read a frame as ``[H, W, 3]`` uint8 RGB. Single-channel (thermal) frames are replicated
    to three channels, so every downstream stage sees one layout."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # 1-channel files come back as 3 equal channels
    if image is None:
        raise ImageReadError(f"{path}: cannot read image (missing or corrupt file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class CropGeometry:
    """Maps between image and crop pixels: ``crop = (image - (x0, y0)) * scale``."""

    x0: float
    y0: float
    scale: float
    size: int

    def box_to_crop(self, box_ltwh: np.ndarray) -> np.ndarray:
        box = np.asarray(box_ltwh, dtype=np.float64)
        return np.array([(box[0] - self.x0) * self.scale, (box[1] - self.y0) * self.scale,
                         box[2] * self.scale, box[3] * self.scale])

    def box_to_image(self, box_ltwh: np.ndarray) -> np.ndarray:
        box = np.asarray(box_ltwh, dtype=np.float64)
        return np.array([box[0] / self.scale + self.x0, box[1] / self.scale + self.y0,
                         box[2] / self.scale, box[3] / self.scale])


def crop_geometry(box_ltwh: np.ndarray, factor: float, output_size: int) -> CropGeometry:
    """Geometry of the square crop of side ``ceil(sqrt(w*h) * factor)`` centred on ``box_ltwh``."""
    x, y, w, h = (float(v) for v in box_ltwh)
    crop_size = math.ceil(math.sqrt(max(w * h, 0.0)) * factor)
    if crop_size < 1:
        raise ValueError(f"box {box_ltwh} is too small to crop around")
    x0 = round(x + 0.5 * w - crop_size * 0.5)
    y0 = round(y + 0.5 * h - crop_size * 0.5)
    return CropGeometry(float(x0), float(y0), output_size / crop_size, output_size)


def crop(image: np.ndarray, geometry: CropGeometry, out: np.ndarray | None = None) -> np.ndarray:
    """Cut ``geometry``'s square out of ``image`` (``[H, W, C]`` or ``[H, W]``), zero-padded where
    it leaves the image, resized to ``geometry.size``. Pass ``out`` to reuse a buffer."""
    s = geometry.scale
    matrix = np.array([[s, 0.0, -geometry.x0 * s], [0.0, s, -geometry.y0 * s]], dtype=np.float64)
    size = (geometry.size, geometry.size)
    if out is None:
        return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    cv2.warpAffine(image, matrix, size, dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out


def sample_target(image: np.ndarray, box_ltwh: np.ndarray, factor: float, output_size: int,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, CropGeometry]:
    """The crop OSTrack calls ``sample_target``: geometry from the box, then the crop."""
    geometry = crop_geometry(box_ltwh, factor, output_size)
    return crop(image, geometry, out), geometry


def normalize(crop_rgb: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` uint8 -> ``[3, H, W]`` float32, ImageNet-normalised."""
    array = (crop_rgb.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
