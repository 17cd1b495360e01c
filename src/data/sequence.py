"""The one record every reader yields and every consumer (sampler, tracker, metrics) reads, and the one
rule for a modality a sequence lacks: the other stream stands in for it (:func:`stand_in`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

VISIBLE = "visible"
INFRARED = "infrared"
MODALITIES = (VISIBLE, INFRARED)

_T = TypeVar("_T")


class MissingModalityError(ValueError):
    """A tracker or network reads none of the streams a sequence has (a visible-only tracker on
    thermal-only footage)."""


def reference_modality(available: Iterable[str]) -> str:
    """The stream a sequence's first box and scores refer to: visible, or infrared where it is the only
    one (thermal-only footage: VOT-TIR, PTB-TIR, LSOTB-TIR)."""
    available = list(available)
    if VISIBLE in available or not available:
        return VISIBLE
    return available[0]


def modalities_to_read(available: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Of the modalities ``wanted`` (a tracker's, a network's), those to read from a sequence that has
    ``available``: the ones it has, and the stream that stands in for one it lacks
    (:func:`with_stand_ins`). A dual-modal reader on single-modal data reads the one stream twice; on
    visible-only data every reader runs (the visible frame stands in for a thermal one, as RGB-T
    trackers are run on OTB and GOT-10k). On thermal-only data a reader that wants no thermal stream
    is a :class:`MissingModalityError`: it was built for what that footage lacks."""
    available, wanted = list(available), list(wanted)
    read = [m for m in wanted if m in available]
    if len(read) < len(wanted):
        source = reference_modality(available)
        if source != VISIBLE and not read:
            raise MissingModalityError(
                f"reads {'/'.join(wanted)} frames only, and the sequence has {'/'.join(available)} only: "
                f"track thermal-only footage with a tracker that reads infrared (csrt_tir, kcf_rgbt, an "
                f"RGB-T checkpoint)")
        if source not in read and source in available:
            read.insert(0, source)
    return read


def unreadable(sequences: Iterable[Sequence], wanted: Iterable[str]) -> dict[str, str]:
    """``{name: why}`` of the sequences a reader of ``wanted`` cannot read (:func:`modalities_to_read`)."""
    wanted = list(wanted)
    out = {}
    for seq in sequences:
        try:
            modalities_to_read(seq.frames, wanted)
        except MissingModalityError as error:
            out[seq.name] = str(error)
    return out


def stand_in(frames: Mapping[str, _T], modality: str) -> _T:
    """``frames[modality]``, or the other stream's where there is none: a dual-modal network or tracker
    sees the visible frame in the infrared slot on visible-only data, and the thermal frame in the
    visible slot on thermal-only data, in training as in tracking."""
    value = frames.get(modality)
    if value is not None:
        return value
    return frames[VISIBLE] if VISIBLE in frames else frames[INFRARED]


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
        frames: modality -> frame paths in temporal order (``visible``, ``infrared`` for RGB-T data,
            ``infrared`` alone for thermal-only footage). Paths may not exist: scoring needs
            annotations only.
        boxes: modality -> ``[T, 4]`` float64 ground truth in ``ltwh`` pixels (the benchmark's
            own numbers, unconverted). Rows of unannotated frames (sparse ground truth, GOT-10k
            test) are NaN. Single-modal data has the one modality's boxes only.
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
    def reference(self) -> str:
        """The modality whose boxes a tracker starts from and is scored on (:func:`reference_modality`)."""
        return reference_modality(self.frames or self.boxes)

    @property
    def gt(self) -> np.ndarray:
        """The reference modality's ground truth ``[T, 4]``."""
        return self.boxes[self.reference]

    @property
    def init_box(self) -> np.ndarray:
        """First-frame box of the reference ground truth (what a tracker is initialised with)."""
        return self.gt[0]


def truncate(seq: Sequence, max_frames: int | None) -> Sequence:
    """The first ``max_frames`` frames of ``seq`` (the whole sequence for None)."""
    if max_frames is None or len(seq) <= max_frames:
        return seq
    attributes = {k: (v[:max_frames] if isinstance(v, np.ndarray) and v.ndim else v)
                  for k, v in seq.attributes.items()}
    return dataclasses.replace(
        seq, frames={m: list(p[:max_frames]) for m, p in seq.frames.items()},
        boxes={m: b[:max_frames] for m, b in seq.boxes.items()}, valid=seq.valid[:max_frames],
        attributes=attributes)
