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
    from tests.helpers.configs import make_cfg, run_train

    run_train(make_cfg(data_root, log_dir, "run", "logger=csv", "test=false", "trainer.max_epochs=2",
                       "trainer.check_val_every_n_epoch=10"))
""")


@pytest.mark.slow  # a training subprocess: ~30-60 s
def test_sigkill_during_checkpoint_save_keeps_the_previous_last_ckpt(tiny_synthetic_root, tmp_path):
    from src.learning.checkpoints import read_training_checkpoint

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


# -- NaN and inf: out of the network, in a checkpoint -----------------------------------------------
class NaNNet:
    """Wraps a stand-in network so that its forward returns NaN maps on the calls in ``bad`` (1-based)."""

    def __init__(self, bad: set[int], value: float = float("nan")):
        from tests.helpers.tracking import FixedBoxNet

        self.inner = FixedBoxNet(rel_size=0.25)
        self.bad, self.value = bad, value

    def __getattr__(self, name):
        return getattr(self.__dict__["inner"], name)

    def __call__(self, **inputs):
        out = self.inner(**inputs)
        if self.inner.calls in self.bad:
            out = {k: torch_full_like(v, self.value) for k, v in out.items()}
        return out


def torch_full_like(tensor, value):
    import torch

    return torch.full_like(tensor, value)


def _tracker(bad: set[int], value: float = float("nan")):
    from src.tracking.tracker import OSTrackTracker

    net = NaNNet(bad, value)
    tracker = OSTrackTracker(net.inner, hflip=False, device="cpu")
    tracker.net = net  # the loop calls the wrapper; buffers and settings come from the stand-in
    return tracker


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_network_output_keeps_the_last_box_and_is_counted(tmp_path, value):
    from src.tracking.runner import NONFINITE, track_sequence
    from tests.helpers.tracking import read_sequences, write_benchmark

    sequences, _ = read_sequences(write_benchmark(tmp_path, num_sequences=1, num_frames=8))
    clean, _ = track_sequence(_tracker(set()), sequences[0])
    tracker = _tracker({3, 4}, value)  # the forwards of frames 3 and 4
    boxes, times = track_sequence(tracker, sequences[0])
    assert np.isfinite(boxes).all()
    np.testing.assert_array_equal(times[NONFINITE], [0, 0, 0, 1, 1, 0, 0, 0])
    assert tracker.nonfinite_frames == 2
    np.testing.assert_array_equal(boxes[3], boxes[2])  # the last good box, kept
    np.testing.assert_array_equal(boxes[4], boxes[2])
    np.testing.assert_array_equal(boxes[:3], clean[:3])
    # the stand-in's box follows the state: the track goes on from the kept box as the clean one did
    np.testing.assert_allclose(boxes[5:], clean[3:6], atol=1e-9)


class NaNBoxTracker:
    """A classical-style tracker whose returned box is NaN on frame 2 (test helper)."""

    modalities = ("visible",)

    def initialize(self, frames, box_ltwh):
        self.box, self.frame = np.asarray(box_ltwh, dtype=np.float64), 0

    def track(self, frames):
        self.frame += 1
        self.box = self.box + 1.0
        return np.full(4, np.nan) if self.frame == 2 else self.box


def test_nonfinite_boxes_are_counted_in_metrics_json_and_survive_a_resume(tmp_path):
    import json

    from src.tracking.evaluation import evaluate_tracker
    from tests.helpers.tracking import read_sequences, write_benchmark

    sequences, subsets = read_sequences(write_benchmark(tmp_path / "data", num_sequences=2, num_frames=6))
    out = tmp_path / "run"
    report = evaluate_tracker(NaNBoxTracker(), sequences, "rgbt234", out, subsets=subsets, plots=False,
                              progress=False)
    assert report["nonfinite_frames"] == 2
    assert report["nonfinite_by_sequence"] == {"seq0": 1, "seq1": 1}
    boxes = np.loadtxt(out / "results" / "seq0.txt")
    np.testing.assert_array_equal(boxes[2], boxes[1])  # the frame kept the previous box
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["nonfinite_frames"] == 2
    resumed = evaluate_tracker(NaNBoxTracker(), sequences, "rgbt234", out, subsets=subsets, plots=False,
                               progress=False)  # every sequence read back: the count from timing/
    assert resumed["nonfinite_frames"] == 2


def test_a_checkpoint_with_nan_weights_is_refused_in_one_line(tmp_path):
    import torch

    from src.learning.checkpoints import checkpoint_info
    from src.models.pretrained import CheckpointError
    from src.tracking.tracker import OSTrackTracker
    from src.utils.cli import UserError
    from tests.helpers.tracking import save_checkpoint, write_benchmark

    path = save_checkpoint(tmp_path / "diverged.ckpt")
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.numel() > 3)
    ckpt["state_dict"][name].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    torch.save(ckpt, path)
    short = name[len("net."):]
    refusal = rf"diverged.ckpt: its weights hold NaN or inf \((net\.)?{short}: 3 "  # with or without net.
    for load in (checkpoint_info, OSTrackTracker.from_checkpoint):
        with pytest.raises(CheckpointError, match=refusal):
            load(path)
    assert issubclass(CheckpointError, UserError)  # the entry points print it as one line
    root = write_benchmark(tmp_path / "data", num_sequences=1, num_frames=4)
    proc = subprocess.run([sys.executable, "-m", "src.evaluate", f"ckpt_path={path}", "data=rgbt234",
                           f"data.root={root / 'test'}", "split=null", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "its weights hold NaN or inf" in last
    assert "Traceback" not in proc.stderr


# -- two evaluations into one folder -----------------------------------------------------------------
def test_folder_lock_names_a_live_holder_and_takes_over_a_dead_ones(tmp_path, caplog):
    from src.utils.io import LOCK_FILE, FolderBusyError, folder_lock

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from src.utils.io import folder_lock
        with folder_lock({str(tmp_path)!r}):
            print("held", flush=True)
            time.sleep(60)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = rf"in use by process {holder.pid} on .*wait for it"
        with pytest.raises(FolderBusyError, match=busy), folder_lock(tmp_path, "evaluate elsewhere"):
            pass
    finally:
        holder.kill()  # SIGKILL: its lock file stays, the kernel releases the lock
        holder.wait()
    assert json_pid(tmp_path / LOCK_FILE) == holder.pid
    with caplog.at_level("WARNING"), folder_lock(tmp_path):
        assert json_pid(tmp_path / LOCK_FILE) == os.getpid()
        with folder_lock(tmp_path):  # re-entrant in one process
            pass
        assert (tmp_path / LOCK_FILE).is_file()
    assert f"took over the lock of process {holder.pid}" in caplog.text
    assert not (tmp_path / LOCK_FILE).exists()  # released


def json_pid(path: Path) -> int:
    import json

    return json.loads(path.read_text())["pid"]


class StepTracker:
    """Moves the box one pixel a frame, slowly (test helper: an evaluation that lasts a few seconds)."""

    modalities = ("visible",)

    def initialize(self, frames, box_ltwh):
        self.box = np.asarray(box_ltwh, dtype=np.float64)

    def track(self, frames):
        time.sleep(0.25)
        self.box = self.box + 1.0
        return self.box


def test_two_evaluations_into_one_folder_at_once(tmp_path):
    from tests.helpers.tracking import write_benchmark

    root = write_benchmark(tmp_path / "data", num_sequences=2, num_frames=12)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "src.evaluate", "tracker=kcf", "data=rgbt234", f"data.root={root / 'test'}",
           "split=null", f"hydra.run.dir={run_dir}", "~tracker.factory",
           "+tracker.factory={_target_:tests.test_faults.StepTracker}"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outputs  # one tracked (5.5 s of frames), the other was refused at once
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    refusal = outputs[loser][1].strip().splitlines()[-1]
    assert refusal.startswith(f"error: {run_dir} is in use by process {procs[winner].pid} on ")
    assert "evaluate into another run directory" in refusal
    for name in ("seq0", "seq1"):  # whole files, the winner's
        boxes = np.loadtxt(run_dir / "results" / f"{name}.txt")
        assert boxes.shape == (12, 4)
        np.testing.assert_allclose(boxes[1:] - boxes[:-1], 1.0)
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / ".lock").exists()
