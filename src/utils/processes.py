"""Worker processes that do not outlive their parent, and a process's resident memory.

A process pool's workers wait on a pipe to their parent; when the parent is killed (kill -9, the
OOM killer) a worker in the middle of a task finishes it and then blocks forever, holding its memory
(:func:`exit_with_parent`). :class:`MemoryProbe` samples :func:`resident_mb` while a tracker runs
(``scripts/bench_long_sequence.py``, tests/test_long_sequence.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this process end as soon as ``parent_pid`` (the process that started it) dies.

    On Linux the kernel sends SIGKILL when the parent exits (``prctl(PR_SET_PDEATHSIG)``); elsewhere, or
    if that fails, a daemon thread polls the parent pid every ``poll_s`` seconds. Call it first thing
    in the worker (a pool initializer). The parent must start the worker from a thread that lives as long
    as the pool (on Linux the signal follows the starting thread): the main thread, for our runners.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def resident_mb() -> float:
    """This process's resident memory (``VmRSS`` of /proc/self/status), MB; Linux only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class MemoryProbe:
    """A tracker that delegates to ``tracker`` and records ``(frame, resident MB)`` in ``samples`` at
    initialisation and every ``every`` frames; any other attribute is the tracker's own."""

    def __init__(self, tracker: Any, every: int = 1000):
        self.tracker, self.every = tracker, every
        self.modalities = tuple(getattr(tracker, "modalities", ("visible",)))
        self.samples: list[tuple[int, float]] = []
        self.frame = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["tracker"], name)

    def initialize(self, frames: Any, box: Any) -> None:
        self.frame = 0
        self.samples = [(0, resident_mb())]
        self.tracker.initialize(frames, box)

    def track(self, frames: Any) -> Any:
        box = self.tracker.track(frames)
        self.frame += 1
        if self.frame % self.every == 0:
            self.samples.append((self.frame, resident_mb()))
        return box

    def growth_mb(self, start: int = 1000) -> float:
        """Resident memory at the last sample minus at the first sample at or after frame ``start``."""
        first = next(mb for frame, mb in self.samples if frame >= min(start, self.samples[-1][0]))
        return self.samples[-1][1] - first
