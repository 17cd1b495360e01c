"""Faults: kill -9 during a checkpoint save, kill -9 of an evaluation with tracking workers.

Each test runs the real entry code in a subprocess and kills it with SIGKILL at a chosen point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None,
              log: Path | None = None) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out = log.read_text() if log is not None else ""
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}:\n{out[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Running (a zombie, already dead but not yet reaped by init, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


# -- workers end with their parent ---------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_exit_with_parent_ends_the_worker_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "worker.pid"
    worker = (f"import os, time; from src.utils.processes import exit_with_parent; "
              f"exit_with_parent({{ppid}}); open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
              f"time.sleep(120)")
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        code = {worker!r}.replace("{{ppid}}", str(os.getpid()))
        subprocess.Popen([sys.executable, "-c", code])
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT)
    try:
        _wait_for(lambda: pid_file.is_file() and pid_file.read_text(), 60, "the worker", proc)
        child = int(pid_file.read_text())
        assert _alive(child)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not _alive(child), 10, f"worker {child} to exit after its parent was killed")
    finally:
        proc.kill()


# -- kill -9 during a checkpoint save ------------------------------------------------------------
TRAIN_SCRIPT = textwrap.dedent("""
    # Train 2 epochs; the 2nd last.ckpt save stalls once it has started writing into the checkpoint
    # folder (half a checkpoint written), and the test kills the process there.
    import shutil, sys, time
    from pathlib import Path
    import torch

    data_root, log_dir, marker = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    real_save, real_copyfile, calls = torch.save, shutil.copyfile, []

    def stall(handle_or_path):
        calls.append(1)
        if len(calls) == 2:
            marker.touch()
            time.sleep(600)

    def save(obj, f, *args, **kwargs):
        if "checkpoints" in str(getattr(f, "name", "")):  # a file in the checkpoint folder
            data = __import__("io").BytesIO()
            real_save(obj, data, *args, **kwargs)
            f.write(data.getvalue()[: len(data.getvalue()) // 2])
            f.flush()
            stall(f)
            f.write(data.getvalue()[len(data.getvalue()) // 2:])
            return None
        return real_save(obj, f, *args, **kwargs)

    def copyfile(src, dst, *args, **kwargs):  # a save through a temp file on another filesystem
        if "checkpoints" in str(dst):
            payload = Path(src).read_bytes()
            with open(dst, "wb") as handle:
                handle.write(payload[: len(payload) // 2])
                handle.flush()
                stall(handle)
        return real_copyfile(src, dst, *args, **kwargs)

    torch.save, shutil.copyfile = save, copyfile
    from tests.test_train import make_cfg, run_train

    run_train(make_cfg(data_root, log_dir, "run", "logger=csv", "test=false", "trainer.max_epochs=2",
                       "trainer.check_val_every_n_epoch=10"))
""")


@pytest.mark.slow  # a training subprocess: ~30-60 s
def test_sigkill_during_checkpoint_save_keeps_the_previous_last_ckpt(tiny_synthetic_root, tmp_path):
    from src.training.checkpoints import read_training_checkpoint

    marker = tmp_path / "stalled"
    # the system temp dir on another filesystem than the logs, where one exists (a rename is then a copy)
    shm = Path("/dev/shm")
    env = {**os.environ, "TMPDIR": str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else str(tmp_path)}
    cmd = [sys.executable, "-c", TRAIN_SCRIPT, str(tiny_synthetic_root), str(tmp_path / "logs"), str(marker)]
    with open(tmp_path / "train.log", "w") as log:  # a file, not a pipe nobody reads (it would fill up)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(marker.is_file, 300, "the second checkpoint save", proc, tmp_path / "train.log")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    last = tmp_path / "logs" / "train" / "runs" / "run" / "checkpoints" / "last.ckpt"
    ckpt = read_training_checkpoint(last)  # loads (a CheckpointError names the file otherwise)
    assert ckpt["epoch"] == 0  # the first epoch's checkpoint, whole
    assert any(k.startswith("net.") for k in ckpt["state_dict"])
    import torch

    full = torch.load(last, map_location="cpu", weights_only=True)  # every tensor reads back
    assert all(torch.isfinite(v).all() for v in full["state_dict"].values() if v.is_floating_point())


# -- kill -9 of an evaluation with tracking workers -------------------------------------------------
class SlowTracker:
    """Holds the first box, slowly; records its process id in ``marker_dir`` (test helper)."""

    modalities = ("visible",)

    def __init__(self, marker_dir: str):
        Path(marker_dir, f"{os.getpid()}.pid").touch()

    def initialize(self, frames, box_ltwh):
        self.box = np.asarray(box_ltwh, dtype=np.float64)

    def track(self, frames):
        time.sleep(1.0)
        return self.box


@pytest.mark.slow  # an evaluate subprocess and 2 spawned workers: ~30 s
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_evaluate_leaves_no_tracking_worker(tiny_synthetic_root, tmp_path):
    markers = tmp_path / "workers"
    markers.mkdir()
    cmd = [sys.executable, "-m", "src.evaluate", "tracker=kcf", f"data.root={tiny_synthetic_root}",
           "num_workers=2", f"hydra.run.dir={tmp_path / 'run'}",
           "~tracker.factory",
           f"+tracker.factory={{_target_:tests.test_faults.SlowTracker,marker_dir:'{markers}'}}"]
    with open(tmp_path / "evaluate.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: len(list(markers.glob("*.pid"))) == 2, 240, "two tracking workers", proc,
                  tmp_path / "evaluate.log")
        workers = [int(p.stem) for p in markers.glob("*.pid")]
        assert all(_alive(w) for w in workers)
        assert set(workers) <= set(_children(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not any(_alive(w) for w in workers), 15,
                  f"the tracking workers {workers} to exit after evaluate was killed")
    finally:
        proc.kill()
        for pid in [int(p.stem) for p in markers.glob("*.pid")]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # do not leave them behind when the test fails
