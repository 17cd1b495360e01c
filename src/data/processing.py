"""Training-pair processing: jitter, crop, augment, normalise, targets (OSTrack's STARK processing).

Everything works in numpy/OpenCV on ``[H, W, 3]`` uint8 frames with the primitives of
:mod:`src.data.transforms`; the crop is the shared ``src.data.transforms.crop`` (the tracker's), taken
with the same geometry for both modalities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from src.data.transforms import CropGeometry, Jitter, crop, crop_geometry, normalize
from src.utils.boxes import cxcywh_to_ltwh, ltwh_to_cxcywh


@dataclass
class Augmentation:
    """Photometric and geometric augmentation of a pair (the values: ``data.augmentation``,
    conf/data/pipeline/default.yaml; OSTrack's recipe).

    hflip: probability of flipping template and search crops of both modalities together.
    brightness: each crop's pixels are multiplied by a factor drawn from ``[1 - b, 1 + b]``.
    grayscale: probability of turning the visible crops (template and search together) grey.

    What a real camera does to frames that a rendered world does not (each 0 turns it off; the
    calibrated world's values: conf/data/synthetic.yaml). Each draw is per crop, so template and
    search, visible and thermal, are degraded independently, as two cameras and two moments are:

    contrast: the crop's deviation from its mean is scaled by a factor in ``[1 - c, 1 + c]``.
    blur: probability of a Gaussian blur (sigma 0.5-1.5 px: defocus, motion, a cheap lens).
    noise: probability of Gaussian sensor noise (sigma 2-8 grey levels).
    jpeg: probability of re-encoding the crop as JPEG at quality 30-90 (compressed footage).
    modality: probability that one stream of the search crop (visible or thermal, even odds) is
        degraded: dark (x0.1-0.3), saturated (x2.5-4, clipped) or missing (the other stream stands in,
        as in tracking, :func:`src.data.sequence.stand_in`), each a third of the time.
    aspect: probability of stretching both frames of the pair by ``exp(u)`` in x and ``exp(-u)`` in y,
        ``u`` uniform in ``+-aspect_log`` (the target's w/h changes by ``exp(2u)``): covers w/h 0.3-3 with
        the world's own aspects.
    aspect_log: the stretch's range (see ``aspect``).
    """

    hflip: float
    brightness: float
    grayscale: float
    contrast: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg: float = 0.0
    modality: float = 0.0
    aspect: float = 0.0
    aspect_log: float = 0.0

    def stretch(self, rng: np.random.Generator) -> float | None:
        """The pair's aspect stretch ``exp(u)`` (x; y gets its inverse), or None for none."""
        if self.aspect > 0 and rng.random() < self.aspect:
            return float(np.exp(rng.uniform(-self.aspect_log, self.aspect_log)))
        return None

    def degrade(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One crop ``[H, W, 3]`` uint8 through contrast, blur, noise and JPEG (each at its rate)."""
        out = image
        if self.contrast > 0:
            factor = rng.uniform(1 - self.contrast, 1 + self.contrast)
            mean = float(out.mean())
            out = cv2.convertScaleAbs(out, alpha=factor, beta=mean * (1 - factor))
        if self.blur > 0 and rng.random() < self.blur:
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=rng.uniform(0.5, 1.5))
        if self.noise > 0 and rng.random() < self.noise:
            noise = rng.normal(0.0, rng.uniform(2.0, 8.0), out.shape)
            out = np.clip(out + noise, 0, 255).astype(np.uint8)
        if self.jpeg > 0 and rng.random() < self.jpeg:
            quality = int(rng.integers(30, 91))
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return out

    def degrade_modality(self, crops: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """At rate ``modality``: one stream of ``crops`` (a search crop's) dark, saturated or missing."""
        if self.modality <= 0 or len(crops) < 2 or rng.random() >= self.modality:
            return
        names = sorted(crops)
        victim = names[int(rng.integers(len(names)))]
        kind = int(rng.integers(3))
        if kind == 0:
            crops[victim] = cv2.convertScaleAbs(crops[victim], alpha=rng.uniform(0.1, 0.3))
        elif kind == 1:
            crops[victim] = cv2.convertScaleAbs(crops[victim], alpha=rng.uniform(2.5, 4.0))
        else:
            other = next(m for m in names if m != victim)
            crops[victim] = crops[other].copy()


def stretch_pair(images: dict[str, np.ndarray], boxes: np.ndarray, factor: float
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Frames resized by ``factor`` in x and ``1 / factor`` in y, and the ``ltwh`` boxes ``[..., 4]`` with
    them."""
    height, width = next(iter(images.values())).shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height / factor)))
    sx, sy = size[0] / width, size[1] / height
    out = {m: cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) for m, image in images.items()}
    return out, np.asarray(boxes, np.float64) * np.array([sx, sy, sx, sy])


CENTER_CELLS = ("round", "floor")


def heatmap(box_cxcywh: np.ndarray, size: int, min_overlap: float = 0.7,
            center_cell: str = "round") -> np.ndarray:
    """``[size, size]`` float32 Gaussian target at a normalised ``cxcywh`` box.

    ``center_cell``: which cell is the centre's. ``round``: ``round(c * size)``, OSTrack's (the cell
    whose top-left corner is nearest the centre); ``floor``: ``floor(c * size)``, the cell whose patch
    holds the centre. Either way the box decodes as ``(cell + offset) / size``: the offset the network
    learns is in [-0.5, 0.5) or [0, 1). On a coarse grid a patch-token network finds the patch holding
    the centre; with ``round`` half of its labels sit one cell off that patch
    (docs/results/benchmarks_history_2026-12-01).

    OSTrack's ``generate_heatmap`` (CenterNet's): centre cell ``round(c * size)``, radius from
    CornerNet's ``gaussian_radius`` at ``min_overlap`` (OSTrack keeps that formula's known slip),
    truncated to an int, sigma = diameter / 6.
    """
    cx, cy, w, h = (float(v) * size for v in box_cxcywh)
    radius = max(0, int(gaussian_radius(w, h, min_overlap)))
    out = np.zeros((size, size), np.float32)
    if center_cell not in CENTER_CELLS:
        raise ValueError(f"heatmap center_cell must be one of {CENTER_CELLS}, got {center_cell!r}")
    if center_cell == "round":
        x, y = int(round(cx)), int(round(cy))
    else:  # a centre on the crop's far edge belongs to the last patch
        x, y = min(math.floor(cx), size - 1), min(math.floor(cy), size - 1)
    sigma = (2 * radius + 1) / 6
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    gauss = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma)).astype(np.float32)
    gauss[gauss < np.finfo(np.float32).eps * gauss.max()] = 0
    left, right = min(x, radius), min(size - x, radius + 1)
    top, bottom = min(y, radius), min(size - y, radius + 1)
    if left + right > 0 and top + bottom > 0 and 0 <= x < size + radius and 0 <= y < size + radius:
        patch = gauss[radius - top : radius + bottom, radius - left : radius + right]
        if patch.size:
            out[y - top : y + bottom, x - left : x + right] = patch
    return out


def gaussian_radius(width: float, height: float, min_overlap: float = 0.7) -> float:
    """CenterNet/OSTrack's radius (the three quadratic roots, smallest wins)."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(max(b1**2 - 4 * c1, 0))) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(max(b2**2 - 16 * c2, 0))) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(max(b3**2 - 4 * a3 * c3, 0))) / 2
    return min(r1, r2, r3)


@dataclass(kw_only=True)
class PairProcessing:
    """Turns frames + boxes of a template and a search frame into one training sample.

    Crops: template at ``template_factor`` around its (lightly) jittered box, search at
    ``search_factor`` around its jittered box; the geometry comes from the visible box and is
    applied to every modality. Boxes in the output are the visible ground truth in crop
    coordinates, normalised ``cxcywh``. The values come from the configs (TrackingDataModule passes
    them): the sizes, stride and cell from ``model``, the rest from ``data`` (conf/data/pipeline/).
    ``template_jitter`` not given: none.
    """

    template_size: int
    search_size: int
    template_factor: float
    search_factor: float
    template_jitter: Jitter = field(default_factory=Jitter)
    search_jitter: Jitter
    augmentation: Augmentation
    heatmap_stride: int
    heatmap_cell: str
    min_box_fraction: float = 0.5  # of the target that must stay inside the search crop

    def geometry(
        self, box: np.ndarray, factor: float, size: int, jitter: Jitter, rng: np.random.Generator
    ) -> CropGeometry | None:
        jittered = jitter(box, rng)
        if not (jittered[2] > 0 and jittered[3] > 0):
            return None
        return crop_geometry(jittered, factor, size)

    def crop_box(self, geometry: CropGeometry, box: np.ndarray) -> np.ndarray | None:
        """The box in crop pixels clipped to the crop, or None when too little of it is inside."""
        b = geometry.box_to_crop(box)
        x1, y1 = max(b[0], 0.0), max(b[1], 0.0)
        x2, y2 = min(b[0] + b[2], geometry.size), min(b[1] + b[3], geometry.size)
        if x2 - x1 < 1 or y2 - y1 < 1 or (x2 - x1) * (y2 - y1) < self.min_box_fraction * b[2] * b[3]:
            return None
        return np.array([x1, y1, x2 - x1, y2 - y1])

    def __call__(
        self,
        template: dict[str, np.ndarray],
        template_box: np.ndarray,
        search: dict[str, np.ndarray],
        search_box: np.ndarray,
        rng: np.random.Generator,
        search_centre: np.ndarray | None = None,
    ) -> dict[str, torch.Tensor] | None:
        """``template``/``search``: modality -> ``[H, W, 3]`` uint8. Boxes: visible ``ltwh``.
        ``search_centre``: the point ``(x, y)`` of the search frame the search crop is centred on (before
        its jitter) instead of the target's centre, at the target's size (a crop a drifted tracker cuts).
        Returns None when the jittered search crop lost the target (the caller redraws)."""
        aug = self.augmentation
        crop_around = search_box  # the search crop is cut around it: the target, or the centre given
        if search_centre is not None:
            crop_around = cxcywh_to_ltwh(np.array([search_centre[0], search_centre[1], *search_box[2:]]))
        stretch = aug.stretch(rng)
        if stretch is not None:
            template, template_box = stretch_pair(template, template_box, stretch)
            search, (search_box, crop_around) = stretch_pair(search, np.stack([search_box, crop_around]),
                                                             stretch)
        z_geo = self.geometry(
            template_box, self.template_factor, self.template_size, self.template_jitter, rng
        )
        x_geo = self.geometry(crop_around, self.search_factor, self.search_size, self.search_jitter, rng)
        if z_geo is None or x_geo is None:
            return None
        z_box = self.crop_box(z_geo, template_box)
        x_box = self.crop_box(x_geo, search_box)
        if z_box is None or x_box is None:
            return None
        z_crops = {m: crop(image, z_geo) for m, image in template.items()}
        x_crops = {m: crop(image, x_geo) for m, image in search.items()}

        if aug.grayscale > 0 and rng.random() < aug.grayscale and "visible" in z_crops:
            for crops in (z_crops, x_crops):
                grey = cv2.cvtColor(crops["visible"], cv2.COLOR_RGB2GRAY)
                crops["visible"] = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        if aug.hflip > 0 and rng.random() < aug.hflip:
            for crops in (z_crops, x_crops):
                for m in crops:
                    crops[m] = np.ascontiguousarray(crops[m][:, ::-1])
            z_box = np.array([self.template_size - z_box[0] - z_box[2], z_box[1], z_box[2], z_box[3]])
            x_box = np.array([self.search_size - x_box[0] - x_box[2], x_box[1], x_box[2], x_box[3]])
        if aug.brightness > 0:
            for crops in (z_crops, x_crops):
                for m in crops:
                    factor = rng.uniform(1 - aug.brightness, 1 + aug.brightness)
                    crops[m] = cv2.convertScaleAbs(crops[m], alpha=factor)
        for crops in (z_crops, x_crops):
            for m in crops:
                crops[m] = aug.degrade(crops[m], rng)
        aug.degrade_modality(x_crops, rng)

        z_norm = ltwh_to_cxcywh(z_box) / self.template_size
        x_norm = ltwh_to_cxcywh(x_box) / self.search_size
        sample = {f"template_{m}": normalize(c) for m, c in z_crops.items()}
        sample.update({f"search_{m}": normalize(c) for m, c in x_crops.items()})
        sample["template_box"] = torch.from_numpy(z_norm.astype(np.float32))
        sample["search_box"] = torch.from_numpy(x_norm.astype(np.float32))
        sample["heatmap"] = torch.from_numpy(heatmap(x_norm, self.search_size // self.heatmap_stride,
                                                     center_cell=self.heatmap_cell))
        return sample
