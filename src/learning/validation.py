"""Validation by tracking: run the real tracker over the validation sequences and score them.

Under DDP each rank tracks its share of the sequences and updates a
:class:`~src.metrics.tracking_metrics.TrackingScores` with them; its compute gathers every rank's
per-frame scores (torchmetrics' own sync), so every rank scores the same full set (and logs
identical values).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

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
    from src.metrics import TrackingScores

    datamodule = module.trainer.datamodule
    if datamodule is None or not hasattr(datamodule, "sequences"):
        log.warning("validation tracking skipped: the datamodule has no sequences(split)")
        return {}
    sequences = list(datamodule.sequences(split))[:max_sequences]
    sequences = [truncate(s, max_frames) for s in sequences]
    if not sequences:
        return {}
    rank, world = module.global_rank, module.trainer.world_size
    share = sequences[rank::world]
    results = track_sequences(module.net, share, **module.hparams.get("tracker", {}))
    # states on the module's device: torchmetrics syncs them with the process group's backend (NCCL: CUDA)
    metric = TrackingScores(sequences, protocol=protocol).to(module.device)
    for seq in share:
        metric.update(results[seq.name], seq)
    with warnings.catch_warnings():
        # a rank with no sequence of its own (fewer sequences than ranks) still joins the sync
        warnings.filterwarnings("ignore", "The ``compute`` method of metric", UserWarning)
        report = metric.compute()  # every rank's sequences (torchmetrics' sync under DDP)
    return {k: float(v) for k, v in report["metrics"].items() if k in ("MPR", "MSR", "SR@0.5", "AOR")}
