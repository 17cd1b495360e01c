"""Worker processes that do not outlive their parent.

A process pool's workers wait on a pipe to their parent; when the parent is killed (kill -9, the
OOM killer) a worker in the middle of a task finishes it and then blocks forever, holding its memory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

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
