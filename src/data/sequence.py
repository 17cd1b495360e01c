"""The one record every reader yields and every consumer (sampler, tracker, metrics) reads, and the one
rule for a modality a sequence lacks: the visible frame stands in for it (:func:`stand_in`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

VISIBLE = "visible"
INFRARED = "infrared"
MODALITIES = (VISIBLE, INFRARED)

_T = TypeVar("_T")


def modalities_to_read(available: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Of the modalities ``wanted`` (a tracker's, a network's), those to read from a sequence that has
    ``available``: the ones it has, and the visible stream as well when one it lacks is to be
    stood in for (:func:`with_stand_ins`)."""
    available, wanted = set(available), list(wanted)
    read = [m for m in wanted if m in available]
    if len(read) < len(wanted) and VISIBLE not in read:
        read.insert(0, VISIBLE)
    return read


def stand_in(frames: Mapping[str, _T], modality: str) -> _T:
    """``frames[modality]``, or the visible one where there is none: a dual-modal network or tracker on
    single-modal data sees the visible frame in the infrared slot, in training as in tracking."""
    value = frames.get(modality)
    return frames[VISIBLE] if value is None else value


def with_stand_ins(frames: Mapping[str, _T], wanted: Iterable[str]) -> dict[str, _T]:
    """``frames`` with every modality ``wanted`` that it lacks filled by :func:`stand_in`."""
    out = dict(frames)
    for m in wanted:
        if m not in out:
            out[m] = stand_in(frames, m)
    return out


@dataclass
class Sequence:
    """One video of a benchmark.

    Attributes:
        name: sequence name as the benchmark spells it (result files are named after it).
        frames: modality -> frame paths in temporal order (``visible`` always; ``infrared`` for
            RGB-T data). Paths may not exist: scoring needs annotations only.
        boxes: modality -> ``[T, 4]`` float64 ground truth in ``ltwh`` pixels (the benchmark's
            own numbers, unconverted). Rows of unannotated frames (sparse ground truth, GOT-10k
            test) are NaN. Single-modal data has only ``visible``.
        valid: ``[T]`` bool, the target is annotated and visible in this frame (absence,
            all-zero boxes, NaN rows are False).
        attributes: name -> per-sequence bool (RGBT234/LasHeR codes such as ``LI``, ``TC``) or
            per-frame ``[T]`` array (GOT-10k ``cover``, LaSOT ``full_occlusion``).
        meta: anything else the benchmark provides (resolution, object class, ...).
    """

    name: str
    frames: dict[str, list[Path]]
    boxes: dict[str, np.ndarray]
    valid: np.ndarray
    attributes: dict[str, bool | np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in MODALITIES if m in self.frames)

    @property
    def init_box(self) -> np.ndarray:
        """First-frame box of the visible ground truth (what a tracker is initialised with)."""
        return self.boxes[VISIBLE][0]
