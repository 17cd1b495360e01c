"""The suite's trackers as TraX servers: what the VOT toolkit runs for each tracker of a workspace that
``python -m src.vot workspace`` wrote (``protocol = traxpython``, ``command = src.vot_tracker``, the entry
point that calls :func:`main`).

The tracker is built as ``python -m src.evaluate`` builds it: conf/evaluate.yaml composed with the overrides
in ``RGBT_VOT_OVERRIDES`` (``tracker=<conf/tracker name>``, ``ckpt_path=``, ``device=``, ``cpu_threads=``),
then its ``tracker.factory``. ``tracker=oracle`` is :class:`GroundTruthOracle` instead, which reports the
workspace's ground truth: a check of the protocol (accuracy at the toolkit's ceiling, no failure), not a
tracker.

The server speaks TraX through the ``vot-trax`` package's bindings: rectangles, images as file paths, and
the channels ``color`` and ``ir`` (``channels="rgbt"``): every frame arrives as the pair of paths, read as
the suite reads frames (:func:`src.data.transforms.read_image`) into the ``visible`` and ``infrared``
streams a tracker reads.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from src.conf import CONF_DIR, register_resolvers

OVERRIDES_ENV = "RGBT_VOT_OVERRIDES"  # src.vot writes it into trackers.ini (env_RGBT_VOT_OVERRIDES)
ORACLE = "oracle"
# the TraX channel sets a tracker may ask for, and the suite's stream each channel is
CHANNEL_SETS = {"rgbt": ("color", "ir"), "rgb": ("color",), "ir": ("ir",)}
STREAMS = {"color": "visible", "ir": "infrared"}


class GroundTruthOracle:
    """Reports the ground truth of the frame it is given: the box in ``groundtruth.txt`` of the toolkit
    sequence folder the ``color`` frame lives in, at the frame's number (``color/%08d.jpg``, from 1). A
    frame without a box (``0``, the target absent) repeats the last box."""

    modalities = ("visible", "infrared")
    name = ORACLE

    def __init__(self) -> None:
        self._boxes: dict[Path, list[list[float] | None]] = {}
        self._last = np.zeros(4)

    def _box(self, path: str | Path) -> np.ndarray:
        path = Path(path)
        folder = path.parent.parent
        if folder not in self._boxes:
            rows = (folder / "groundtruth.txt").read_text().split()
            self._boxes[folder] = [[float(v) for v in r.split(",")] if "," in r else None for r in rows]
        row = self._boxes[folder][int(path.stem) - 1]
        if row is not None:
            self._last = np.asarray(row, dtype=np.float64)
        return self._last.copy()

    def initialize(self, paths: Mapping[str, str], box_ltwh: np.ndarray) -> None:
        self._last = np.asarray(box_ltwh, dtype=np.float64)

    def track(self, paths: Mapping[str, str]) -> np.ndarray:
        return self._box(paths["color"])


def build(overrides: list[str]) -> Any:
    """The tracker the overrides name (conf/evaluate.yaml composed with them), or the oracle."""
    if f"tracker={ORACLE}" in overrides:
        return GroundTruthOracle()
    from hydra import compose, initialize_config_dir

    from src.tracking.runner import build_tracker
    from src.utils.cli import set_cpu_threads

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides)
    set_cpu_threads(cfg.get("cpu_threads"))
    return build_tracker(cfg.tracker.factory)


def read_frames(paths: Mapping[str, str], wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The frame's channels as the streams a tracker reads (a stream the frame lacks: the other one's)."""
    from src.data.sequence import with_stand_ins
    from src.data.transforms import read_image

    return with_stand_ins({STREAMS[c]: read_image(p) for c, p in paths.items()}, wanted)


def serve(tracker: Any, channels: str = "rgbt") -> None:
    """Answer the toolkit's requests until it quits: initialise on ``initialize`` (at every multistart
    anchor), track on ``frame``, reply with the box as a rectangle."""
    try:
        import trax
    except ImportError:
        sys.exit("src.vot_tracker: no vot-trax package on the path (make vot links it into "
                 ".vot-venv/trax-path, which trackers.ini's `paths` names)")

    names = CHANNEL_SETS[channels]
    wanted = tuple(getattr(tracker, "modalities", ("visible",)))
    reads_paths = isinstance(tracker, GroundTruthOracle)
    with trax.Server([trax.Region.RECTANGLE], [trax.Image.PATH], list(names),
                     tracker_name=getattr(tracker, "name", type(tracker).__name__)) as server:
        while True:
            request = server.wait()
            if request.type in (trax.TraxStatus.QUIT, trax.TraxStatus.ERROR):
                break
            paths = {c: request.image[c].path() for c in names}
            frames = paths if reads_paths else read_frames(paths, wanted)
            if request.type == trax.TraxStatus.INITIALIZE:
                box = np.asarray(request.objects[0][0].bounds(), dtype=np.float64)
                tracker.initialize(frames, box.copy())
            else:
                box = np.asarray(tracker.track(frames), dtype=np.float64).reshape(4)
            server.status([(trax.Rectangle.create(*(float(v) for v in box)), {})])


def main() -> None:
    """Serve the tracker ``RGBT_VOT_OVERRIDES`` names until the toolkit quits."""
    overrides = shlex.split(os.environ.get(OVERRIDES_ENV, ""))
    serve(build(overrides))
