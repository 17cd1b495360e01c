"""Hand-crafted features for the correlation-filter baselines, vectorized numpy (no loop over pixels).

The KCF paper (Henriques et al., TPAMI 2015) uses Felzenszwalb's HOG variant (fHOG, 31 channels:
18 contrast-sensitive + 9 contrast-insensitive orientation bins and 4 texture energies, cell 4).
``gradient_orientation_features`` is our own, slightly smaller version of it: the 18 signed and 9
unsigned orientation bins with fHOG's four-block normalisation and 0.2 truncation, plus one
intensity channel (the cell's mean grey level). RGBT234's "+RGBT" baselines concatenate the two
modalities' feature channels (Li et al., "RGB-T object tracking: benchmark and baseline", PR
2019); ``multimodal_features`` does that.

ECO and C-COT's hand-crafted setting (Danelljan et al., CVPR 2017, Sec. 5) adds Color Names (van de
Weijer et al., "Learning color names for real-world applications", TIP 2009: 11 probabilities of the
basic colour terms). Their learned 32768-entry lookup table is not part of this project;
``colour_name_features`` is a stand-in with the same shape and meaning: a soft assignment of each
pixel to the 11 terms' prototype sRGB colours, averaged over each cell.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGNED_BINS = 18
UNSIGNED_BINS = SIGNED_BINS // 2
NUM_CHANNELS = SIGNED_BINS + UNSIGNED_BINS + 1
_TRUNCATION = 0.2
_EPS = 1e-6


def to_gray(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB (or ``[H, W]``) -> ``[H, W]`` float32 in [0, 1] (ITU-R 601 luma)."""
    if image.ndim == 2:
        return image.astype(np.float32) / 255.0
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
    return image.astype(np.float32) @ weights


def gradient_orientation_features(gray: np.ndarray, cell_size: int = 4) -> np.ndarray:
    """HOG-like features of one grey patch.

    Args:
        gray: ``[H, W]`` float in [0, 1]; H and W multiples of ``cell_size``.
        cell_size: side of a cell in pixels.

    Returns:
        ``[NUM_CHANNELS, H / cell_size, W / cell_size]`` float32: 18 signed orientation bins, 9
        unsigned ones (each contrast-normalised over the four 2x2-cell blocks that contain the cell,
        truncated at 0.2, averaged), and the cell's mean intensity minus 0.5.
    """
    height, width = gray.shape
    if height % cell_size or width % cell_size:
        raise ValueError(f"patch {height}x{width} is not a multiple of the cell size {cell_size}")
    rows, cols = height // cell_size, width // cell_size
    gray = gray.astype(np.float32, copy=False)

    # central differences inside, one-sided at the border
    gx = np.empty_like(gray)
    gy = np.empty_like(gray)
    gx[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    gx[:, 0] = gray[:, 1] - gray[:, 0]
    gx[:, -1] = gray[:, -1] - gray[:, -2]
    gy[1:-1] = gray[2:] - gray[:-2]
    gy[0] = gray[1] - gray[0]
    gy[-1] = gray[-1] - gray[-2]
    magnitude = np.hypot(gx, gy)
    angle = np.arctan2(gy, gx) % (2 * np.pi)  # [0, 2pi): contrast-sensitive

    # soft assignment to the two nearest of 18 signed bins (linear in angle)
    position = angle * (SIGNED_BINS / (2 * np.pi)) - 0.5
    lower = np.floor(position)
    upper_weight = (position - lower).astype(np.float32)
    lower_bin = lower.astype(np.int64) % SIGNED_BINS
    upper_bin = (lower_bin + 1) % SIGNED_BINS
    # one histogram of (bin, cell) pairs for all pixels: a bincount over flat indices
    cell = ((np.arange(height) // cell_size)[:, None] * cols + (np.arange(width) // cell_size)[None, :])
    index = np.concatenate([(lower_bin * (rows * cols) + cell).ravel(),
                            (upper_bin * (rows * cols) + cell).ravel()])
    weights = np.concatenate([(magnitude * (1.0 - upper_weight)).ravel(),
                              (magnitude * upper_weight).ravel()])
    signed = np.bincount(index, weights, minlength=SIGNED_BINS * rows * cols)
    signed = signed.reshape(SIGNED_BINS, rows, cols).astype(np.float32)
    unsigned = signed[:UNSIGNED_BINS] + signed[UNSIGNED_BINS:]

    # fHOG normalisation: the energy of each 2x2 block of cells (unsigned histograms), edge-padded
    energy = np.pad((unsigned**2).sum(axis=0), 1, mode="edge")
    blocks = energy[:-1, :-1] + energy[1:, :-1] + energy[:-1, 1:] + energy[1:, 1:]  # [rows+1, cols+1]
    four = np.stack([blocks[:-1, :-1], blocks[1:, :-1], blocks[:-1, 1:], blocks[1:, 1:]])  # [4, rows, cols]
    inverse = 1.0 / np.sqrt(four + _EPS)

    def normalise(hist: np.ndarray) -> np.ndarray:  # [B, rows, cols] -> [B, rows, cols]
        return np.minimum(hist[None] * inverse[:, None], _TRUNCATION).mean(axis=0)

    intensity = gray.reshape(rows, cell_size, cols, cell_size).mean(axis=(1, 3)) - 0.5
    return np.concatenate([normalise(signed), normalise(unsigned), intensity[None]]).astype(np.float32)


def multimodal_features(patches: dict[str, np.ndarray], modalities: tuple[str, ...],
                        cell_size: int = 4) -> np.ndarray:
    """Concatenate each modality's features along the channel axis (RGBT234's "+RGBT" recipe).

    Args:
        patches: modality -> ``[H, W, 3]`` uint8 RGB crop (thermal crops have three equal channels).
        modalities: which patches to use, in channel order.

    Returns:
        ``[len(modalities) * NUM_CHANNELS, H / cell_size, W / cell_size]`` float32.
    """
    return np.concatenate([gradient_orientation_features(to_gray(patches[m]), cell_size) for m in modalities])


# The 11 basic colour terms (Berlin and Kay) in van de Weijer et al.'s order, as prototype sRGB values
COLOUR_NAMES = ("black", "blue", "brown", "grey", "green", "orange", "pink", "purple", "red", "white",
                "yellow")
_COLOUR_PROTOTYPES = np.array([
    [0, 0, 0], [0, 0, 255], [139, 69, 19], [128, 128, 128], [0, 160, 0], [255, 140, 0],
    [255, 160, 200], [128, 0, 128], [220, 0, 0], [255, 255, 255], [255, 235, 0]], dtype=np.float32) / 255.0
_COLOUR_BANDWIDTH = 0.2  # sRGB distance (0-1 scale) over which a term's probability falls by exp(-1/2)


def colour_name_features(image: np.ndarray, cell_size: int = 4) -> np.ndarray:
    """Colour-name probabilities of an RGB patch, averaged per cell.

    Args:
        image: ``[H, W, 3]`` uint8 RGB; H and W multiples of ``cell_size``.

    Returns:
        ``[len(COLOUR_NAMES), H / cell_size, W / cell_size]`` float32, summing to 1 over the channels.
    """
    height, width = image.shape[:2]
    if image.ndim != 3 or image.shape[2] != 3 or height % cell_size or width % cell_size:
        raise ValueError(f"colour_name_features needs an [H, W, 3] patch with H, W multiples of {cell_size}, "
                         f"got {image.shape}")
    rows, cols = height // cell_size, width // cell_size
    # cell means first (the soft assignment of the cell's mean colour: 16x less work than per pixel);
    # INTER_AREA by an integer factor is the exact block mean
    means = cv2.resize(image.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA) / 255.0
    distance = ((means[:, :, None, :] - _COLOUR_PROTOTYPES) ** 2).sum(axis=-1)  # [rows, cols, 11]
    logits = -0.5 * distance / _COLOUR_BANDWIDTH**2
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return np.ascontiguousarray(probabilities.transpose(2, 0, 1), dtype=np.float32)
