"""The runner: per-sequence tracking and timing, result layouts, resume, parallel workers, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.sequence import INFRARED, VISIBLE
from src.tracking.runner import (
    SequenceRun,
    load_results,
    read_box_file,
    result_path,
    run_sequences,
    summarize_fps,
    track_sequence,
    write_results,
)
from src.tracking.tracker import OSTrackTracker
from tests.helpers.tracking import read_sequences, save_checkpoint, tiny_net, write_benchmark


class DriftTracker:
    """Deterministic stand-in: shifts the box by the mean brightness difference of the frames,
    so its output depends on the frames it is given (and on reading them in order)."""

    def __init__(self, modalities=(VISIBLE, INFRARED)):
        self.modalities = tuple(modalities)
        self.track_calls = 0
        self.seen: list[tuple[str, ...]] = []

    def initialize(self, frames, box_ltwh):
        self.box = np.asarray(box_ltwh, dtype=np.float64).copy()
        self.seen.append(tuple(sorted(frames)))

    def track(self, frames):
        self.track_calls += 1
        self.seen.append(tuple(sorted(frames)))
        self.box = self.box + np.array([frames[self.modalities[0]].mean() / 100.0, 0.5, 0.0, 0.0])
        return self.box.copy()


class FailingTracker(DriftTracker):
    def track(self, frames):
        raise AssertionError("must not track: the results exist")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = write_benchmark(tmp_path_factory.mktemp("bench"), num_sequences=3, num_frames=5)
    return read_sequences(root)


def test_track_sequence_boxes_and_timing(bench):
    sequences, _ = bench
    seq = sequences[0]
    tracker = OSTrackTracker(tiny_net("cmc"))
    boxes, times = track_sequence(tracker, seq)
    assert boxes.shape == (len(seq), 4)
    np.testing.assert_array_equal(boxes[0], seq.init_box)
    assert set(times) == {"e2e", "model", "decode", "nonfinite"}
    assert all(t.shape == (len(seq),) for t in times.values())
    assert not times["nonfinite"].any()  # every frame's output was finite
    assert np.all(times["e2e"] > 0) and np.all(times["decode"] > 0)
    assert np.isnan(times["model"][0]) and np.all(times["model"][1:] > 0)
    # the forward is part of the tracker call, so it cannot take longer than it
    assert np.all(times["model"][1:] <= times["e2e"][1:])


def test_runner_reads_only_the_tracker_modalities(bench):
    sequences, _ = bench
    visible_only = DriftTracker((VISIBLE,))
    track_sequence(visible_only, sequences[0])
    assert set(visible_only.seen) == {(VISIBLE,)}
    thermal_only = DriftTracker((INFRARED,))
    track_sequence(thermal_only, sequences[0])
    assert set(thermal_only.seen) == {(INFRARED,)}


def test_results_are_written_and_resumed(bench, tmp_path):
    sequences, _ = bench
    out = tmp_path / "results"
    runs, failed = run_sequences(sequences, out, "txt", tracker=DriftTracker(),
                                 timing_dir=tmp_path / "timing", progress=False)
    assert not failed and list(runs) == [s.name for s in sequences]
    for seq in sequences:
        path = out / f"{seq.name}.txt"
        first = path.read_text().splitlines()[0]
        assert len(first.split(" ")) == 4  # one "x y w h" row per frame
        np.testing.assert_allclose(read_box_file(path), runs[seq.name].boxes, atol=1e-4)
    assert not list(out.glob(".*tmp")) and not list((tmp_path / "timing").glob(".*tmp"))

    # a rerun loads every finished sequence instead of tracking it
    again, _ = run_sequences(sequences, out, "txt", tracker=FailingTracker(), timing_dir=tmp_path / "timing",
                             progress=False)
    assert all(r.resumed for r in again.values())
    for name, run in again.items():
        np.testing.assert_allclose(run.boxes, runs[name].boxes, atol=1e-4)
        np.testing.assert_allclose(run.times["e2e"], runs[name].times["e2e"], rtol=1e-6)

    # an interrupted run: only the missing sequence is tracked
    (out / f"{sequences[1].name}.txt").unlink()
    tracker = DriftTracker()
    third, _ = run_sequences(sequences, out, "txt", tracker=tracker, progress=False)
    assert tracker.track_calls == len(sequences[1]) - 1
    assert [n for n, r in third.items() if not r.resumed] == [sequences[1].name]


def test_parallel_workers_match_one_worker(bench, tmp_path):
    # a picklable factory (the class): each spawned worker builds its own tracker
    serial, _ = run_sequences(bench[0], tmp_path / "one", "txt", factory=DriftTracker, progress=False)
    parallel, failed = run_sequences(bench[0], tmp_path / "two", "txt", factory=DriftTracker, num_workers=2,
                                     progress=False)
    assert not failed and list(parallel) == list(serial)
    for name in serial:
        np.testing.assert_allclose(parallel[name].boxes, serial[name].boxes, atol=1e-9)
        assert (tmp_path / "two" / f"{name}.txt").is_file()


@pytest.mark.slow
def test_parallel_workers_match_one_worker_with_our_tracker(bench, tmp_path):
    sequences, _ = bench
    ckpt = save_checkpoint(tmp_path / "model.ckpt", "cmc")
    factory = {"_target_": "src.tracking.tracker.OSTrackTracker.from_checkpoint", "ckpt_path": str(ckpt),
               "device": "cpu"}
    serial, _ = run_sequences(sequences, tmp_path / "one", "txt", factory=factory, progress=False)
    parallel, failed = run_sequences(sequences, tmp_path / "two", "txt", factory=factory, num_workers=2,
                                     progress=False)
    assert not failed and list(parallel) == list(serial)
    for name in serial:
        np.testing.assert_allclose(parallel[name].boxes, serial[name].boxes, atol=1e-3)
        assert (tmp_path / "two" / f"{name}.txt").is_file()


def test_got10k_layout(bench, tmp_path):
    sequences, _ = bench
    runs, _ = run_sequences(sequences[:2], tmp_path, "got10k", tracker=DriftTracker(), progress=False)
    for seq in sequences[:2]:
        folder = tmp_path / seq.name
        assert sorted(p.name for p in folder.iterdir()) == [f"{seq.name}_001.txt", f"{seq.name}_time.txt"]
        boxes = np.loadtxt(folder / f"{seq.name}_001.txt", delimiter=",")  # as the got10k toolkit reads it
        times = np.loadtxt(folder / f"{seq.name}_time.txt", delimiter=",")
        assert boxes.shape == (len(seq), 4) and times.shape == (len(seq),)
        np.testing.assert_allclose(boxes, runs[seq.name].boxes, atol=1e-3)
        assert result_path(tmp_path, seq.name, "got10k") == folder / f"{seq.name}_001.txt"
    loaded = load_results(tmp_path, sequences[:2])
    np.testing.assert_allclose(loaded[sequences[0].name], runs[sequences[0].name].boxes, atol=1e-3)


def test_otb_layout_is_comma_separated(bench, tmp_path):
    sequences, _ = bench
    runs, _ = run_sequences(sequences[:1], tmp_path, "otb", tracker=DriftTracker(), progress=False)
    name = sequences[0].name
    written = np.loadtxt(tmp_path / f"{name}.txt", delimiter=",")
    np.testing.assert_allclose(written, runs[name].boxes, atol=1e-3)


def test_bad_sequence_is_skipped_or_named(bench, tmp_path):
    import dataclasses

    sequences, _ = bench
    broken = dataclasses.replace(sequences[1], frames={m: list(p) for m, p in sequences[1].frames.items()})
    broken.frames[VISIBLE][2] = tmp_path / "missing.jpg"
    batch = [sequences[0], broken, sequences[2]]
    with pytest.raises(RuntimeError, match=broken.name):
        run_sequences(batch, tmp_path / "strict", "txt", tracker=DriftTracker(), progress=False)
    runs, failed = run_sequences(batch, tmp_path / "lenient", "txt", tracker=DriftTracker(), skip_bad=True,
                                 progress=False)
    assert list(failed) == [broken.name] and "missing.jpg" in failed[broken.name]
    assert list(runs) == [sequences[0].name, sequences[2].name]


def test_summarize_fps_pools_frames_and_skips_initialisation():
    times_a = {"e2e": np.array([9.0, 0.1, 0.1]), "model": np.array([np.nan, 0.05, 0.05]),
               "decode": np.array([0.01, 0.01, 0.01])}
    times_b = {"e2e": np.array([9.0, 0.2]), "model": np.array([np.nan, 0.1]),
               "decode": np.array([0.02, 0.02])}
    runs = [SequenceRun("a", np.zeros((3, 4)), times_a), SequenceRun("b", np.zeros((2, 4)), times_b)]
    fps = summarize_fps(runs)
    assert fps["e2e"] == pytest.approx(3 / 0.4)
    assert fps["model"] == pytest.approx(3 / 0.2)
    assert fps["decode"] == pytest.approx(5 / 0.07)
    assert summarize_fps([SequenceRun("c", np.zeros((2, 4)))]) == {"e2e": None, "model": None, "decode": None}


def test_write_results_is_atomic(tmp_path, monkeypatch):
    import os

    boxes = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])
    write_results(tmp_path, "seq", boxes, {}, "txt")

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_results(tmp_path, "seq", boxes + 100, {}, "txt")
    # the finished file is untouched by the failed rewrite
    np.testing.assert_allclose(read_box_file(tmp_path / "seq.txt"), boxes)


def test_full_disk_stops_the_run_even_when_skipping_bad_sequences(bench, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    sequences, _ = bench
    real_write_text = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        if self.name.endswith(".tmp"):
            real_write_text(self, "")  # the file is created, then the write fails
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    message = f"cannot write the results of {sequences[0].name} into .*No space left"
    with pytest.raises(OSError, match=message):
        run_sequences(sequences, tmp_path / "results", "txt", tracker=DriftTracker(), skip_bad=True,
                      progress=False)
    monkeypatch.undo()
    assert not list((tmp_path / "results").rglob("*.tmp"))  # no empty temporary files left
