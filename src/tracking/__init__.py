"""Trackers and the runner that drives them over sequences.

Every tracker has ``modalities`` (what it reads), ``initialize(frames, box_ltwh)`` and
``track(frames) -> ltwh``; ``runner`` runs any of them over a benchmark split.
"""

from src.tracking.runner import SequenceRun, load_results, run_sequences, track_sequence, write_results
from src.tracking.tracker import OSTrackTracker

__all__ = ["OSTrackTracker", "SequenceRun", "load_results", "run_sequences", "track_sequence",
           "write_results"]
