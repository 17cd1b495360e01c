"""scripts/split_by_size_change.py: sequences split by whether the target's size changes, and each run's
mean MSR per group."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers.scripts import load_script
from tests.helpers.tracking import write_benchmark


@pytest.fixture(scope="module")
def script():
    return load_script("split_by_size_change")


def test_size_changes_reads_side_and_aspect(script):
    valid = np.ones(3, dtype=bool)
    constant = np.array([[0, 0, 20, 10], [5, 3, 20, 10], [9, 9, 20, 10]], dtype=float)
    grows = constant.copy()
    grows[:, 2:] *= [[1.0], [1.1], [1.2]]  # the same aspect, 20 % larger
    stretches = np.array([[0, 0, 20, 10], [0, 0, 25, 8], [0, 0, 20, 10]], dtype=float)  # same area, w/h moves
    assert not script.size_changes(constant, valid, 0.01)
    assert script.size_changes(grows, valid, 0.01)
    assert script.size_changes(stretches, valid, 0.01)
    assert not script.size_changes(grows, np.array([True, False, False]), 0.01)  # only valid frames count


def test_groups_and_means(script, tmp_path):
    root = write_benchmark(tmp_path / "bench", num_sequences=3, frames=False)  # constant-size targets
    gt = root / "test" / "seq2" / "visible.txt"
    boxes = np.loadtxt(gt, delimiter=",")
    boxes[:, 2:] *= np.linspace(1.0, 2.0, len(boxes))[:, None]  # seq2's target doubles its size
    np.savetxt(gt, boxes, fmt="%.1f", delimiter=",")
    run = tmp_path / "run"
    run.mkdir()
    scores = {"seq0": 0.9, "seq1": 0.7, "seq2": 0.2}
    (run / "metrics.json").write_text(json.dumps({"tracker": "kcf", "metrics": {"MSR": 0.6}, "sequences": [
        {"name": name, "MSR": msr, "SR@0.9": msr / 2} for name, msr in scores.items()]}))
    out = tmp_path / "split.md"
    text = script.main([str(run), "--root", str(root), "--out", str(out)])
    assert out.read_text() == text
    assert "| seq2 | changes | 0.200 / 0.10 |" in text and "| seq0 | constant | 0.900 / 0.45 |" in text
    assert "| constant size | 2 | 0.800 |" in text
    assert "| size or aspect changes | 1 | 0.200 |" in text
    assert "| all | 3 | 0.600 |" in text
    assert "IoU > 0.9" not in text  # no raw results: no tightness table

    # raw results: seq0 exact, seq1 one pixel to the right (IoU 0.895 on its 18 x 14 box)
    (run / "results").mkdir()
    for name, shift in (("seq0", 0.0), ("seq1", 1.0), ("seq2", 0.0)):
        gt = np.loadtxt(root / "test" / name / "visible.txt", delimiter=",")
        np.savetxt(run / "results" / f"{name}.txt", gt + [shift, 0, 0, 0], fmt="%.1f", delimiter=",")
    text = script.main([str(run), "--root", str(root)])
    assert "| kcf (run) | 10 | 0.50 | 0.0% | 50% |" in text  # 5 frames after the first, per sequence
    (run / "metrics.json").write_text(json.dumps({"tracker": "kcf", "metrics": {"MSR": 0.6},
                                                  "sequences": []}))
    with pytest.raises(SystemExit, match="no scores for 3 sequences"):
        script.main([str(run), "--root", str(root)])
