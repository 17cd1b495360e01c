"""Validation by tracking: run the real tracker over the validation sequences and score them.

Under DDP each rank tracks its share of the sequences; the results are gathered so every rank
scores the same full set (and logs identical values).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from src.data.sequence import Sequence

log = logging.getLogger(__name__)


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


def _gather(obj, module) -> list:
    """``obj`` from every rank (a one-element list without distributed training)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [obj]
    out: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


@torch.no_grad()
def track_sequences(net, sequences: list[Sequence], **tracker: object) -> dict[str, np.ndarray]:
    """``{name: [T, 4] ltwh}``: each sequence tracked by ``OSTrackTracker(net, **tracker)`` (eval mode;
    the network's training mode is restored afterwards)."""
    from src.tracking.runner import track_sequence
    from src.tracking.tracker import OSTrackTracker

    was_training = net.training
    net.eval()
    tracker_ = OSTrackTracker(net, **tracker)
    results = {seq.name: np.asarray(track_sequence(tracker_, seq)[0], dtype=np.float64) for seq in sequences}
    net.train(was_training)
    return results


@torch.no_grad()
def track_validation(module, split: str, protocol: str, max_sequences: int | None = None,
                     max_frames: int | None = None) -> dict[str, float]:
    """Track ``split``'s sequences with ``OSTrackTracker(module.net)``; returns ``{"MPR", "MSR", ...}``.

    Returns an empty dict (and logs why) when the datamodule offers no sequences.
    """
    from src.metrics import evaluate_results

    datamodule = module.trainer.datamodule
    if datamodule is None or not hasattr(datamodule, "sequences"):
        log.warning("validation tracking skipped: the datamodule has no sequences(split)")
        return {}
    sequences = list(datamodule.sequences(split))[:max_sequences]
    sequences = [truncate(s, max_frames) for s in sequences]
    if not sequences:
        return {}
    rank, world = module.global_rank, module.trainer.world_size
    results = track_sequences(module.net, sequences[rank::world], **module.hparams.get("tracker", {}))
    merged: dict = {}
    for part in _gather(results, module):
        merged.update(part)
    report = evaluate_results(merged, sequences, protocol=protocol, subsets=None)
    return {k: float(v) for k, v in report["metrics"].items() if k in ("MPR", "MSR", "SR@0.5", "AOR")}
