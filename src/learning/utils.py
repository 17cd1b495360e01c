"""Helpers for the train entry point: instantiating config groups, W&B, the results table
(resuming: src/learning/checkpoints.py; JSON files: src/utils/io.py)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group (callbacks, loggers); None -> []."""
    objects = []
    for name, entry in (group or {}).items():
        if isinstance(entry, Mapping) and "_target_" in entry:
            log.info("instantiating %s <%s>", name, entry["_target_"])
            objects.append(hydra.utils.instantiate(entry))
    return objects


def finish_wandb() -> None:
    """Close the W&B run of this process, so the next multirun job starts a new one."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    if wandb.run is not None:
        wandb.finish()


def task_wrapper(fn: Callable) -> Callable:
    """Runs ``fn`` and always closes W&B afterwards, also when it fails (one W&B run per job)."""

    @wraps(fn)
    def wrapped(*args, **kwargs):
        from src.utils.cli import UserError

        try:
            return fn(*args, **kwargs)
        except UserError:
            raise  # one line from the entry point (src.utils.cli.run_cli), no logged traceback
        except Exception:
            log.exception("run failed")
            raise
        finally:
            finish_wandb()

    return wrapped


def to_float(value: Any) -> float | None:
    try:
        value = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
