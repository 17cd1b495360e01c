"""Training-time schedules that are not learning rates."""

from __future__ import annotations

import math


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
