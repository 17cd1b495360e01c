"""Training-time schedules: the CE keep ratio and the learning-rate schedules.

The learning-rate schedules are factories that conf/model/scheduler/*.yaml make partials of
(``_target_`` + ``_partial_: true``); TrackerLitModule.configure_optimizers calls the partial with the
optimiser (and ``total_steps``, the run's optimiser steps, when the factory takes it). Each returns
Lightning's lr-scheduler config: the scheduler and the ``interval`` it is stepped at.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch


def ce_keep_ratio(epoch: float, start_epoch: float, warm_epochs: float, target: float) -> float:
    """Candidate-elimination keep ratio for a (possibly fractional) epoch.

    OSTrack's ``adjust_keep_rate`` (lib/utils/ce_utils.py): all search tokens are kept (ratio 1)
    until ``start_epoch``; over the next ``warm_epochs`` the ratio follows half a cosine from 1 down
    to ``target``, and stays there afterwards. Eliminating tokens early, while the attention that
    ranks them is still random, throws away the target; the warm-up avoids that.
    """
    if epoch < start_epoch:
        return 1.0
    if warm_epochs <= 0 or epoch >= start_epoch + warm_epochs:
        return float(target)
    progress = (epoch - start_epoch) / warm_epochs
    return float(target + (1.0 - target) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def cosine_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """Learning-rate factor at optimiser ``step`` (0-based) of ``total``: linear warm-up to 1 over
    ``warmup`` steps, then half a cosine from 1 down to ``floor`` at the last step (timm's and
    DeiT's recipe for ViTs trained from scratch; not the CPU default:
    docs/results/benchmarks_history_2026-12-03, "What capped it")."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup - 1)
    progress = min(1.0, (step - warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def step_schedule(optimizer: torch.optim.Optimizer, drop_epoch: int, gamma: float) -> dict[str, Any]:
    """OSTrack's step decay: the lr times ``gamma`` every ``drop_epoch`` epochs (at least 1), stepped per
    epoch (conf/model/scheduler/step.yaml)."""
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, int(drop_epoch)), gamma=gamma)
    return {"scheduler": scheduler, "interval": "epoch"}


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                    min_lr_ratio: float) -> dict[str, Any]:
    """:func:`cosine_factor` over the run's ``total_steps`` optimiser steps, stepped per step
    (conf/model/scheduler/cosine.yaml)."""
    factor = partial(cosine_factor, warmup=int(warmup_steps), total=int(total_steps),
                     floor=float(min_lr_ratio))
    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
