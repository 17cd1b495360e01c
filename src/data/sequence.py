"""The one record every reader yields and every consumer (sampler, tracker, metrics) reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VISIBLE = "visible"
INFRARED = "infrared"
MODALITIES = (VISIBLE, INFRARED)


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
