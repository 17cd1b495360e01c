"""Files written whole or not at all, and values made plain for JSON and for checkpoints.

- :func:`atomic_write` writes through a temporary file beside the target (``.<name>.<pid>.tmp``, so a
  rename never crosses filesystems), then ``os.replace``: an interrupted or failed write leaves the
  previous file whole and no temporary file behind. :func:`atomic_write_text` and :func:`write_json`
  are built on it (so is ``src.training.checkpoints.atomic_torch_save``).
- :func:`plain` turns OmegaConf configs, numpy and torch values and paths into plain Python (dicts,
  lists, str, int, float, bool, None): what ``json.dumps`` writes and ``torch.load(weights_only=True)``
  reads back.

No torch import here: the entry points check their inputs before torch is imported.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], Any], *, durable: bool = False) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``; returns ``path``.

    The folder is made if missing. On any failure (a full disk, Ctrl-C) the
    temporary file is removed and ``path`` keeps its old content. ``durable``: the file and then the
    rename are fsynced (checkpoints: a power cut after the call cannot lose them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no empty or partial temporary files left behind (a full disk)
        raise
    if durable:  # make the rename itself durable (some filesystems cannot fsync a folder)
        with contextlib.suppress(OSError):
            _fsync(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``path.write_text(text)``, atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, payload: Any, **dumps: Any) -> Path:
    """``payload`` as JSON (indent 2; numpy and torch values and paths as plain values, NaN as
    written by ``json``), atomically: a crash never leaves half a metrics.json. ``dumps``: more
    ``json.dumps`` options (``sort_keys``, ``ensure_ascii``)."""
    return atomic_write_text(path, json.dumps(plain(payload, finite=False), indent=2, **dumps))


def plain(value: Any, *, finite: bool = True) -> Any:
    """``value`` as plain Python containers and scalars, recursively.

    OmegaConf configs are resolved to containers; mappings become dicts with ``str`` keys, lists and
    tuples lists; numpy arrays and scalars and torch tensors (anything with ``tolist``) Python lists
    and scalars; paths ``str``. With ``finite`` (the default) a NaN or infinite float becomes None,
    which JSON can hold (metrics.json: "cannot be computed"); ``finite=False`` keeps it (configs,
    hyperparameters). Anything else is returned as it is.
    """
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): plain(v, finite=finite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, finite=finite) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return plain(value.tolist(), finite=finite)
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value
