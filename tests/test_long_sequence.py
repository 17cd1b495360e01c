"""At the scale of the real benchmarks: LasHeR test's longest sequence (12,862 frames).

A ``data=folder`` sequence that long is generated (small frames: seconds), read by the folder reader and
tracked through ``src.evaluate``'s path with resident memory sampled every 1,000 frames: it must stay flat
(at most 50 MB of growth from frame 1,000 to the end). The fast tests read it and track its first 3,000
frames with KCF+RGBT; the slow ones track all of it with KCF+RGBT (about 2 minutes) and with ours (CMC* at
the CPU size, random weights; about 6 minutes). ``scripts/bench_long_sequence.py`` reports both.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from src.data.synthetic.long_sequence import LASHER_LONGEST, long_sequence_boxes, write_long_sequence
from src.tracking.runner import read_box_file
from src.utils.processes import MemoryProbe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
GROWTH_MB = 50.0


@pytest.fixture(scope="module")
def long_sequence(tmp_path_factory):
    from src.data.readers import get_reader

    root = tmp_path_factory.mktemp("long")
    write_long_sequence(root, LASHER_LONGEST, width=64, height=48)
    return next(iter(get_reader("folder", root).sequences()))


def test_the_folder_reader_reads_a_12862_frame_sequence(long_sequence):
    assert len(long_sequence) == LASHER_LONGEST
    assert {len(p) for p in long_sequence.frames.values()} == {LASHER_LONGEST}
    np.testing.assert_array_equal(long_sequence.gt, long_sequence_boxes(LASHER_LONGEST, 64, 48))


def _evaluate(tracker, sequence, out):
    from src.tracking.evaluation import evaluate_tracker

    probe = MemoryProbe(tracker, every=1000)
    report = evaluate_tracker(probe, [sequence], "otb", out, tracker_name="long", plots=False, progress=False)
    return probe, report


def _check(probe, report, out, frames: int = LASHER_LONGEST):
    assert [frame for frame, _ in probe.samples] == list(range(0, frames, 1000))
    assert probe.growth_mb(1000) <= GROWTH_MB, probe.samples
    assert read_box_file(out / "results" / "long.txt").shape == (frames, 4)
    saved = (out / "metrics.json").read_text()
    assert len(saved) < 20_000  # per-sequence rows and fixed-length curves: no per-frame table
    assert json.loads(saved)["num_sequences"] == 1 and report["nonfinite_frames"] == 0


def test_kcf_rgbt_memory_is_flat_over_the_first_3000_frames(long_sequence, tmp_path):
    from src.learning.validation import truncate
    from src.tracking.runner import benchmark_tracker

    probe, report = _evaluate(benchmark_tracker("kcf_rgbt"), truncate(long_sequence, 3001), tmp_path)
    _check(probe, report, tmp_path, frames=3001)


@pytest.mark.slow  # KCF+RGBT over 12,862 frames: about 2 minutes
def test_kcf_rgbt_memory_is_flat_over_12862_frames(long_sequence, tmp_path):
    from src.tracking.runner import benchmark_tracker

    probe, report = _evaluate(benchmark_tracker("kcf_rgbt"), long_sequence, tmp_path)
    _check(probe, report, tmp_path)


@pytest.mark.slow  # ours over 12,862 frames: about 6 minutes at one thread
def test_ours_memory_is_flat_over_12862_frames(long_sequence, tmp_path):
    import torch

    from src.tracking.runner import benchmark_tracker

    torch.set_num_threads(1)
    probe, report = _evaluate(benchmark_tracker("ours"), long_sequence, tmp_path)
    _check(probe, report, tmp_path)
