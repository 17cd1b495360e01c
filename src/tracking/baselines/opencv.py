"""OpenCV's classical trackers (CSRT = CSR-DCF, KCF, MIL) behind the suite's tracker interface.

Lukezic et al.'s CSR-DCF is what OpenCV calls CSRT; the seed's comparison table lists it as
"CSR-DCF". Each tracker reads one modality: ``modality="infrared"`` runs it on the thermal stream
(thermal frames arrive as three equal channels, see ``read_image``).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from src.tracking.base import checked_box

_FACTORIES = {
    "csrt": (cv2.TrackerCSRT, cv2.TrackerCSRT_Params),
    "kcf": (cv2.TrackerKCF, cv2.TrackerKCF_Params),
    "mil": (cv2.TrackerMIL, cv2.TrackerMIL_Params),
}


class _Lost:
    """A tracker OpenCV could not start: every update is a loss (the first box is held)."""

    @staticmethod
    def update(image):
        return False, None


class OpenCVTracker:
    """One of OpenCV's single-object trackers on one modality.

    Args (conf/tracker/csrt.yaml, mil.yaml, ... set them):
        algorithm: ``csrt``, ``kcf`` or ``mil``.
        modality: the stream it tracks on (``visible`` or ``infrared``).
        params: attributes of the algorithm's ``cv2.Tracker*_Params`` to override (e.g.
            ``{"use_hog": False}`` for CSRT), OpenCV's defaults otherwise.
    """

    def __init__(self, algorithm: str, modality: str, params: Mapping | None = None):
        if algorithm not in _FACTORIES:
            raise ValueError(f"unknown OpenCV tracker {algorithm!r}; choose from {sorted(_FACTORIES)}")
        self.algorithm = algorithm
        self.modality = modality
        self.modalities = (modality,)
        tracker_cls, params_cls = _FACTORIES[algorithm]
        self._params = params_cls()
        for key, value in dict(params or {}).items():
            if not hasattr(self._params, key):
                raise ValueError(f"cv2.{params_cls.__name__} has no parameter {key!r}")
            setattr(self._params, key, value)
        self._create = tracker_cls.create
        self._tracker = None
        self._box = np.zeros(4)

    @staticmethod
    def _bgr(frames: dict[str, np.ndarray], modality: str) -> np.ndarray:
        # OpenCV's colour features (CSRT's colour names and histograms, KCF's CN) assume BGR
        return cv2.cvtColor(frames[modality], cv2.COLOR_RGB2BGR)

    def initialize(self, frames: dict[str, np.ndarray], box_ltwh: np.ndarray) -> None:
        """Start a fresh OpenCV tracker (one per sequence). frames: modality -> ``[H, W, 3]`` uint8 RGB."""
        box = checked_box(box_ltwh, "initial box", "OpenCVTracker.initialize")
        # OpenCV takes an integer Rect; keep at least one pixel per side
        x, y, w, h = (int(round(v)) for v in box)
        rect = (x, y, max(1, w), max(1, h))
        self._tracker = self._create(self._params)
        self._box = box.copy()
        try:
            self._tracker.init(self._bgr(frames, self.modality), rect)
        except cv2.error:  # CSRT asserts on a box a pixel or two wide at the border: it never starts
            self._tracker = _Lost()

    def track(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """Next frame's ``ltwh`` box (float64 ``[4]``); on a loss OpenCV reports (or raises), the last box."""
        if self._tracker is None:
            raise RuntimeError("OpenCVTracker.track called before initialize")
        try:
            ok, rect = self._tracker.update(self._bgr(frames, self.modality))
        except cv2.error:  # CSRT asserts on a window shrunk to nothing at the border: a loss, as ok=False
            ok, rect = False, None
        if ok:
            self._box = np.asarray(rect, dtype=np.float64)
        return self._box.copy()
