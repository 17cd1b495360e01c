"""Trackers and the runner that drives them over sequences.

Every tracker satisfies :class:`~src.tracking.base.Tracker`: ``modalities`` (what it reads),
``initialize(frames, box_ltwh)`` and ``track(frames) -> ltwh``; ``runner`` runs any of them over a
benchmark split and :mod:`src.tracking.evaluation` scores what it tracked.
"""

from src.tracking.base import Tracker, is_factory
from src.tracking.runner import SequenceRun, load_results, run_sequences, track_sequence, write_results
from src.tracking.tracker import OSTrackTracker

__all__ = ["OSTrackTracker", "SequenceRun", "Tracker", "is_factory", "load_results", "run_sequences",
           "track_sequence", "write_results"]
