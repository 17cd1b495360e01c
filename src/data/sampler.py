"""Which frames make a training pair: OSTrack's causal sampling.

A template frame, then a search frame later in the same sequence, at most ``max_gap`` frames on;
when no usable frame lies in that window the window widens (OSTrack's ``gap_increase``) until
one does. Only frames where the target is annotated and visible are used.
"""

from __future__ import annotations

import numpy as np

from src.data.readers.base import box_valid
from src.data.sequence import Sequence


def usable_frames(sequence: Sequence, min_size: float = 2.0) -> np.ndarray:
    """Indices of frames a pair may use: valid, and a reference box (:attr:`Sequence.gt`) of at least
    ``min_size`` px a side (the crop geometry is taken from it)."""
    boxes = sequence.gt
    ok = sequence.valid & box_valid(boxes)
    with np.errstate(invalid="ignore"):
        ok &= (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return np.flatnonzero(ok)


class CausalPairSampler:
    """Draws ``(sequence index, template frame, search frame)`` with the search frame after the
    template (causal), within ``max_gap`` frames, widened by ``gap_increase`` while empty.

    Args:
        sequences: the training sequences.
        max_gap: largest template-to-search distance in frames before widening (``data.max_gap``).
        gap_increase: widening step (OSTrack uses 5).
        weights: per-sequence sampling weights (default: proportional to usable frames, so long
            sequences are not under-sampled; OSTrack samples sequences uniformly within a dataset).
    """

    def __init__(
        self,
        sequences: list[Sequence],
        max_gap: int,
        gap_increase: int = 5,
        weights: np.ndarray | None = None,
    ):
        self.sequences = sequences
        self.max_gap = int(max_gap)
        self.gap_increase = int(gap_increase)
        self.usable = [usable_frames(s) for s in sequences]
        counts = np.array([len(u) for u in self.usable], dtype=np.float64)
        if counts.sum() == 0:
            raise ValueError("no training sequence has a usable (valid, visible) frame")
        if weights is None:
            weights = counts
        weights = np.where(counts > 0, np.asarray(weights, dtype=np.float64), 0.0)
        self.probabilities = weights / weights.sum()

    def sample(self, rng: np.random.Generator) -> tuple[int, int, int]:
        seq_index = int(rng.choice(len(self.sequences), p=self.probabilities))
        frames = self.usable[seq_index]
        if len(frames) == 1:  # a one-frame sequence pairs with itself
            return seq_index, int(frames[0]), int(frames[0])
        # the template must have a later usable frame
        template = int(frames[rng.integers(0, len(frames) - 1)])
        gap = self.max_gap
        last = int(frames[-1])
        while True:
            window = frames[(frames > template) & (frames <= template + gap)]
            if len(window):
                return seq_index, template, int(window[rng.integers(0, len(window))])
            if template + gap >= last:  # cannot happen (frames[-1] > template), kept as a guard
                return seq_index, template, last
            gap += self.gap_increase
