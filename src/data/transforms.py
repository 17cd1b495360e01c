"""Image primitives shared by training and tracking: reading frames, the one crop function, box
jitter, normalisation. The training pairs are made from them in :mod:`src.data.processing`.

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
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

# ImageNet statistics (timm/MAE/OSTrack backbones are trained with them); thermal frames use
# the same, as OSTrack-based RGB-T trackers (ViPT, BAT) do.
MEAN = np.array(IMAGENET_DEFAULT_MEAN, dtype=np.float32)
STD = np.array(IMAGENET_DEFAULT_STD, dtype=np.float32)


class ImageReadError(RuntimeError):
    pass


JPEG_SUFFIXES = (".jpg", ".jpeg")


def read_image(path: str | Path) -> np.ndarray:
    """Read a frame as ``[H, W, 3]`` uint8 RGB. Single-channel (thermal) frames are replicated
    to three channels, so every downstream stage sees one layout.

    Frames deeper than 8 bits (16-bit thermal PNG/TIFF, float TIFF) are read at full depth and
    min-max normalised per frame to 0-255, as RGB-T trackers normalise raw thermal frames (OpenCV's
    plain 8-bit read keeps only the high byte: a 7084-7728 scene becomes 27-30). A JPEG that stops
    before its end-of-image marker (a truncated file, which the decoder would fill with grey) is an
    ImageReadError, like a missing or unreadable file."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read image ({error.strerror or error})") from None
    if str(path).lower().endswith(JPEG_SUFFIXES) and not _ends_like_a_jpeg(data):
        raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker; an interrupted copy?)")
    # ANYDEPTH: 16-bit stays 16-bit; COLOR: 1-channel files come back as 3 equal channels
    image = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: cannot read image (missing, empty or corrupt file)")
    if image.dtype != np.uint8:
        image = _to_uint8(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """An RGB ``[H, W, 3]`` (or one-channel ``[H, W(, 1)]``) uint8 image encoded as a JPEG at ``quality`` and
    decoded as :func:`read_image` reads a written frame: ``[H, W, 3]`` RGB, one channel as three equal ones
    (the on-the-fly training frames look like the written benchmark's)."""
    colour = image.ndim == 3 and image.shape[2] == 3
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if colour else image,
                            [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _ends_like_a_jpeg(data: np.ndarray) -> bool:
    """The file ends with JPEG's end-of-image marker ``FF D9`` (padding zeros after it allowed)."""
    tail = data[-64:].tobytes().rstrip(b"\x00")
    return tail.endswith(b"\xff\xd9")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Per-frame min-max normalisation of a deeper-than-8-bit frame to uint8 (a flat frame gives 0)."""
    array = image.astype(np.float32)
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(image.shape, dtype=np.uint8)
    low, high = float(array[finite].min()), float(array[finite].max())
    scale = 255.0 / (high - low) if high > low else 0.0
    array = np.where(finite, (array - low) * scale, 0.0)
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def check_same_size(images: dict[str, np.ndarray], paths: dict[str, str | Path]) -> None:
    """One crop geometry serves every modality, so their frames must be registered: the same size.
    ``images``/``paths``: modality -> frame and its file (the first modality is the reference)."""
    (ref, image), *others = images.items()
    for modality, other in others:
        if other.shape[:2] != image.shape[:2]:
            raise ImageReadError(
                f"{paths[modality]}: {modality} frame is {other.shape[1]}x{other.shape[0]} but the {ref} "
                f"frame {paths[ref]} is {image.shape[1]}x{image.shape[0]}: the modalities must be "
                f"registered (the same size) to share one crop")


@dataclass
class Jitter:
    """OSTrack's box jitter: size scaled by ``exp(N(0, scale))``, centre moved uniformly by up to
    ``center / 2`` times the jittered box's side ``sqrt(w * h)`` in each direction."""

    center: float = 0.0
    scale: float = 0.0

    def __call__(self, box_ltwh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x, y, w, h = (float(v) for v in box_ltwh)
        if self.center == 0 and self.scale == 0:
            return np.array([x, y, w, h])
        size = np.array([w, h]) * np.exp(rng.standard_normal(2) * self.scale)
        max_offset = math.sqrt(size[0] * size[1]) * self.center
        center = np.array([x + w / 2, y + h / 2]) + max_offset * (rng.random(2) - 0.5)
        return np.array([center[0] - size[0] / 2, center[1] - size[1] / 2, size[0], size[1]])


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


# how a crop is filled where it leaves the image: zeros (OSTrack's crops, ours), or the edge pixels repeated
# (the ECO authors' code, and pyCFTrackers after it)
BORDERS = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def crop(image: np.ndarray, geometry: CropGeometry, out: np.ndarray | None = None,
         border: str = "zero") -> np.ndarray:
    """Cut ``geometry``'s square out of ``image`` (``[H, W, C]`` or ``[H, W]``), padded where it leaves the
    image (``border``: :data:`BORDERS`), resized to ``geometry.size``. Pass ``out`` to reuse a buffer."""
    s = geometry.scale
    matrix = np.array([[s, 0.0, -geometry.x0 * s], [0.0, s, -geometry.y0 * s]], dtype=np.float64)
    size = (geometry.size, geometry.size)
    if out is None:
        return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=BORDERS[border])
    cv2.warpAffine(image, matrix, size, dst=out, flags=cv2.INTER_LINEAR, borderMode=BORDERS[border])
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
