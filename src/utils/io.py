"""Files written whole or not at all, and values made plain for JSON and for checkpoints.

- :func:`atomic_write` writes through a temporary file beside the target (``.<name>.<pid>.tmp``, so a
  rename never crosses filesystems), then ``os.replace``: an interrupted or failed write leaves the
  previous file whole and no temporary file behind. :func:`atomic_write_text` and :func:`write_json`
  are built on it (so is ``src.learning.checkpoints.atomic_torch_save``).
- :func:`folder_lock` keeps a folder to one writing process at a time (``.lock``, flock'ed, with the
  holder's pid, host, start time and command); a second process gets :class:`FolderBusyError` naming the
  holder, and a lock left by a process that died is taken over.
- :func:`sha256_file`: a file's sha256 (checkpoints' identity in resumed results, exported weights, the
  study's starting checkpoint).
- :func:`json_ready` turns OmegaConf configs, numpy and torch values and paths into plain Python (dicts,
  lists, str, int, float, bool, None): what ``json.dumps`` writes and ``torch.load(weights_only=True)``
  reads back.

No torch import here: the entry points check their inputs before torch is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from src.utils.cli import UserError


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


def sha256_file(path: str | Path) -> str:
    """The file's sha256 as hex, read in 1 MiB blocks (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``path.write_text(text)``, atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def print_report(lines: list[str], out: str | Path | None = None) -> str:
    """A benchmark script's Markdown report: printed, and written to ``out`` when one is given."""
    report = "\n".join(lines)
    print(report)
    if out:
        atomic_write_text(out, report + "\n")
    return report


def write_json(path: str | Path, payload: Any, **dumps: Any) -> Path:
    """``payload`` as JSON (indent 2; numpy and torch values and paths as plain values, NaN as
    written by ``json``), atomically: a crash never leaves half a metrics.json. ``dumps``: more
    ``json.dumps`` options (``sort_keys``, ``ensure_ascii``)."""
    return atomic_write_text(path, json.dumps(json_ready(payload, finite=False), indent=2, **dumps))


def json_ready(value: Any, *, finite: bool = True) -> Any:
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
        return {str(k): json_ready(v, finite=finite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, finite=finite) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return json_ready(value.tolist(), finite=finite)
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- one writer per folder -------------------------------------------------------------------------
LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # folders this process holds, with the nesting depth


class FolderBusyError(UserError):
    """Another live process holds the folder (:func:`folder_lock`); the message names it."""


def _holder(fd: int) -> dict[str, Any]:
    """What a lock file says of its holder ({} when empty or unreadable)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextlib.contextmanager
def folder_lock(folder: str | Path, instead: str = "use another folder") -> Iterator[Path]:
    """Hold ``folder`` for this process while the block runs; re-entrant within a process.

    ``<folder>/.lock`` is locked with ``flock`` (the kernel releases it when the holder exits, however it
    exits: a lock left by a dead process is taken over, never waited on) and holds the holder's pid,
    host, start time and command. Another process gets :class:`FolderBusyError` at once, naming the
    holder and ending with ``instead`` (what the user can do instead).
    """
    import fcntl
    import logging

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            for _ in range(20):  # the holder writes its name right after locking: give it a moment
                if holder:
                    break
                time.sleep(0.05)
                holder = _holder(fd)
            os.close(fd)
            raise FolderBusyError(
                f"{folder} is in use by process {holder.get('pid', '?')} on {holder.get('host', '?')} (since "
                f"{holder.get('started', '?')}: {holder.get('command', '?')}); wait for it to finish, or "
                f"{instead}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file while this one opened it: lock the new one
    previous = _holder(fd)
    if previous.get("pid"):
        logging.getLogger(__name__).warning("%s: took over the lock of process %s on %s, which ended "
                                            "without releasing it", folder, previous.get("pid"),
                                            previous.get("host"))
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
          "command": " ".join(sys.argv)[:500]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    _held[key] = 1
    try:
        yield folder
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still locked: a process that opened it meanwhile finds it gone and retries
        os.close(fd)


# the names results.format takes; "corner" is the older name of "xyxy"
RESULT_FORMATS = ("ltwh", "xyxy", "polygon")
FORMAT_ALIASES = {"corner": "xyxy"}


def result_format(name: str) -> str:
    """``results.format``'s canonical name (``ltwh``, ``xyxy``, ``polygon``); ValueError for another."""
    name = FORMAT_ALIASES.get(str(name), str(name))
    if name not in RESULT_FORMATS:
        raise ValueError(f"results.format={name}: expected one of {', '.join(RESULT_FORMATS)} (x y w h; "
                         "x1 y1 x2 y2; x1 y1 ... x4 y4)")
    return name
