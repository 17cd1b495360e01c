"""What every entry point (train, evaluate, demo, export) does around its Hydra app: one-line errors
for known user mistakes, the input checks that find them before anything heavy is built, and the
CPU thread count.

    if __name__ == "__main__":
        run_cli(main)          # main: the @hydra.main function

Known user errors (:class:`UserError`, Hydra's composition and override errors) print one line,
``error: <message>``, on stderr and exit 1; the full traceback only with ``HYDRA_FULL_ERROR=1``.
Anything else is a bug and keeps its full traceback.

This module imports neither torch nor the project's models: the checks run within a second or two
of the command starting, before torch is imported.
"""

from __future__ import annotations

import logging
import os
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FULL_ERROR = "HYDRA_FULL_ERROR"


class UserError(Exception):
    """A mistake in the command line or the inputs (a missing file, a bad value): reported in one
    line, without a traceback."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigKeyError, ValidationError

    return (UserError, ConfigCompositionException, MissingConfigException, OverrideParseException,
            ConfigKeyError, ValidationError)


# the parts of Hydra's and OmegaConf's messages that a one-line report leaves out
_DETAIL_PREFIXES = ("Config search path", "full_key:", "object_type=", "reference_type=", "See https://")


def one_line(error: BaseException) -> str:
    """The error's message (and its cause's, for Hydra's wrapped errors) as one line."""
    parts = [str(error)]
    cause = error.__cause__
    if cause is not None and not isinstance(error, UserError) and str(cause) not in parts[0]:
        parts.append(str(cause))
    lines = []
    for part in parts:
        for line in part.splitlines():
            line = line.strip()
            if line.startswith(_DETAIL_PREFIXES):
                break
            if line:
                lines.append(line)
    text = " ".join(" ".join(line.split()) for line in lines)
    return text or type(error).__name__


def run_cli(main: Callable[[], Any]) -> Any:
    """Call a ``@hydra.main`` function; known user errors end the process with one line and exit 1.

    Hydra prints a (shortened) traceback for every error unless ``HYDRA_FULL_ERROR`` is set, so the
    variable is set while ``main`` runs and the errors are reported here instead; a user who set it
    gets Hydra's own behaviour (the full traceback).
    """
    if os.environ.get(FULL_ERROR) == "1":
        return main()
    os.environ[FULL_ERROR] = "1"
    try:
        return main()
    except BrokenPipeError:  # `--help | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except _user_error_types() as error:
        # Hydra has written one line before this one ("Error executing job with overrides: [...]")
        # when the error came from inside the job
        print(f"error: {one_line(error)}  ({FULL_ERROR}=1 for the traceback)", file=sys.stderr)
        sys.exit(1)
    finally:
        os.environ.pop(FULL_ERROR, None)


# -- input checks --------------------------------------------------------------------------------------
def check_data_root(data_cfg: Mapping, data_dir: str | Path | None = None) -> None:
    """A data root must exist. The synthetic benchmark (a config with ``generate``) is generated on
    first use, but only under ``paths.data_dir``: a mistyped root elsewhere is an error, not a
    place to write a benchmark to."""
    root = data_cfg.get("root")
    if root in (None, ""):
        raise UserError("data.root is not set: pass data.root=DIR")
    root = Path(str(root)).expanduser()
    if root.is_dir():
        return
    if root.exists():
        raise UserError(f"data.root={root}: not a directory")
    if data_cfg.get("generate") is not None and data_dir is not None:
        data_dir = Path(str(data_dir)).expanduser()
        if root.resolve().is_relative_to(data_dir.resolve()):
            return  # generated on first use
        raise UserError(f"data.root={root}: no such directory (the synthetic benchmark is generated only "
                        f"under paths.data_dir={data_dir}; write one elsewhere with "
                        f"`python -m src.data.synthetic root={root}`)")
    raise UserError(f"data.root={root}: no such directory")


def check_checkpoint(path: str | Path | None, key: str = "ckpt_path") -> None:
    """A checkpoint must be a readable file saved by ``torch.save`` (a zip archive since torch 1.6;
    what ``mmap`` and ``weights_only`` loading need). Checked without importing torch."""
    if path in (None, "", "null"):
        return
    path = Path(str(path)).expanduser()
    if not path.exists():
        raise UserError(f"{key}={path}: no such file")
    if not path.is_file():
        raise UserError(f"{key}={path}: not a file")
    try:
        readable = zipfile.is_zipfile(path)
    except OSError as error:
        raise UserError(f"{key}={path}: cannot be read ({error.strerror or error})") from error
    if not readable:
        raise UserError(f"{key}={path}: not a checkpoint saved by torch.save (not a zip archive; "
                        "truncated or another format?)")


def newest_checkpoint(log_dir: str | Path) -> Path:
    """The newest ``best.ckpt`` of the training runs under ``log_dir`` (what ``make train`` wrote last): the
    checkpoint commands that track with one default to."""
    found = sorted(
        (Path(log_dir) / "train" / "runs").glob("*/checkpoints/best.ckpt"), key=lambda p: p.stat().st_mtime
    )
    if not found:
        raise UserError(f"no checkpoint under {log_dir}/train/runs: run `make train` or pass ckpt_path=CKPT")
    return found[-1]


def check_tracker_checkpoint(tracker: Mapping, alternative: str) -> None:
    """A tracker config whose factory takes a checkpoint (``tracker.factory.ckpt_path``) must be given a
    readable one; ``alternative`` ends the error's hint (what else the command accepts)."""
    factory = tracker["factory"]
    if "ckpt_path" not in factory:
        return
    if not factory["ckpt_path"]:
        raise UserError(f"tracker={tracker['name']} needs a checkpoint: pass ckpt_path=CKPT ({alternative})")
    check_checkpoint(factory["ckpt_path"])


def check_override_types(cfg: Mapping, config_path: str | Path) -> None:
    """Top-level values must keep the type of their default in the primary config file: an int, float
    or bool key given a word (``num_workers=two``) is an error now, not a ValueError deep in a run."""
    from omegaconf import OmegaConf

    defaults = OmegaConf.to_container(OmegaConf.load(config_path), resolve=False)
    for key, default in defaults.items():
        value = cfg.get(key) if key in cfg else None
        if value is None or not isinstance(default, (bool, int, float)):
            continue
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise UserError(f"{key}={value!r}: expected true or false")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{key}={value!r}: expected a number")
        elif isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            raise UserError(f"{key}={value}: expected an integer")


# -- CPU threads ----------------------------------------------------------------------------------------
def set_cpu_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (``cpu_threads``; null keeps torch's default, one per core)
    and return the count in effect: what metrics.json records beside the FPS."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def check_data_keys(data_cfg: Mapping) -> None:
    """An unknown ``data`` key (one the data module does not take: a typo?) is a :class:`UserError`."""
    import inspect

    from src.data.datamodule import TrackingDataModule

    known = set(inspect.signature(TrackingDataModule.__init__).parameters) | {"_target_"}
    unknown = sorted(set(data_cfg) - known)
    if unknown:
        raise UserError(f"data.{unknown[0]}: unknown key (not an argument of {TrackingDataModule.__name__}; "
                        f"a typo?)")


def check_modalities(sequences: list[Any], wanted: Any, tracker_name: str) -> None:
    """Every sequence has a stream the tracker reads: a visible-only tracker on thermal-only footage is a
    :class:`UserError`, one line, before anything is tracked."""
    from src.data.sequence import VISIBLE, unreadable

    for name, why in unreadable(sequences, wanted or [VISIBLE]).items():
        raise UserError(f"sequence {name}: tracker={tracker_name} {why}")
