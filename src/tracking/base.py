"""The interface every tracker of the suite satisfies: ours, the ONNX one and the classical baselines.

A structural :class:`typing.Protocol` (OSTrack has a ``BaseTracker`` class; here nothing needs to inherit):
``modalities`` names the streams it reads (``visible``, ``infrared``), ``initialize`` takes the first
frames and the target's box, ``track`` returns the box in the next frames. Frames are ``{modality: HxWx3
uint8 RGB}``; boxes are ``[x, y, w, h]`` in pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Tracker(Protocol):
    modalities: Sequence[str]

    def initialize(self, frames: Mapping[str, np.ndarray], box_ltwh: np.ndarray) -> None: ...

    def track(self, frames: Mapping[str, np.ndarray]) -> np.ndarray: ...


def checked_box(box_ltwh: Any, what: str, who: str) -> np.ndarray:
    """``box_ltwh`` as a float64 ``[4]`` copy; ValueError (``"<who>: invalid <what> [...]"``) unless it is
    four finite numbers with a positive width and height."""
    box = np.array(box_ltwh, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"{who}: invalid {what} {box.tolist()}: not a valid x y w h box (finite, positive "
                         "width and height)")
    return box


def is_factory(tracker: Any) -> bool:
    """Whether ``tracker`` builds trackers rather than being one: a ``_target_`` config, a class, or a
    callable that is not itself a tracker (e.g. ``functools.partial``)."""
    from omegaconf import DictConfig

    if isinstance(tracker, (Mapping, DictConfig, type)):
        return True
    return callable(tracker) and not isinstance(tracker, Tracker)
