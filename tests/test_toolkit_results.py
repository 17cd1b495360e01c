"""Raw results in the official toolkits' layouts (src/report/toolkit.py) and 8-value polygon
rows in score-only mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from src.evaluate import run
from src.report.toolkit import write_toolkit_results
from src.tracking.runner import read_box_file
from tests.helpers.configs import compose_config
from tests.helpers.tracking import read_sequences, write_benchmark

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def test_polygon_rows_become_their_bounding_box(tmp_path):
    path = tmp_path / "poly.txt"
    # an axis-aligned rectangle as 4 corners, a rotated quadrilateral, then an ordinary x y w h row
    path.write_text("10,20,40,20,40,80,10,80\n"
                    "50\t10\t70\t30\t50\t50\t30\t30\n"
                    "1 2 3 4\n")
    np.testing.assert_allclose(read_box_file(path), [[10, 20, 30, 60], [30, 10, 40, 40], [1, 2, 3, 4]])
    # the 8-value rows do not depend on results.format; 4-value rows do
    np.testing.assert_allclose(read_box_file(path, "corner"),
                               [[10, 20, 30, 60], [30, 10, 40, 40], [1, 2, 2, 2]])


def test_toolkit_layouts(tmp_path):
    boxes = np.array([[10.0, 20.0, 30.0, 40.0], [11.5, 21.0, 30.0, 40.0]])
    written = write_toolkit_results({"afterrain": boxes}, tmp_path / "rgbt234", "rgbt234", "Ours")
    assert written == [tmp_path / "rgbt234" / "Ours" / "Ours_afterrain.txt"]
    np.testing.assert_allclose(np.loadtxt(written[0], delimiter=","), boxes)
    (lasher,) = write_toolkit_results({"10runone": boxes}, tmp_path / "lasher", "lasher", "Ours")
    assert lasher == tmp_path / "lasher" / "Ours" / "10runone.txt"
    (gtot,) = write_toolkit_results({"BlackCar": boxes}, tmp_path / "gtot", "gtot", "Ours")
    assert gtot == tmp_path / "gtot" / "Ours" / "Ours_BlackCar.txt"
    np.testing.assert_allclose(np.loadtxt(gtot, delimiter=","), [[10, 20, 40, 60], [11.5, 21, 41.5, 61]])
    assert write_toolkit_results({"seq": boxes}, tmp_path / "otb", "otb", "Ours") == []


def test_a_tracker_name_too_long_for_a_file_name_skips_the_toolkit_layout(tmp_path, caplog):
    boxes = {"seq0": np.ones((3, 4))}
    with caplog.at_level("WARNING", logger="src.report.toolkit"):
        assert write_toolkit_results(boxes, tmp_path, "rgbt234", "t" * 250) == []
    assert "toolkit layout not written" in caplog.text and not any(tmp_path.iterdir())
    assert len(write_toolkit_results(boxes, tmp_path, "lasher", "t" * 250)) == 1  # <seq>.txt: fits


@pytest.mark.parametrize("sep", [",", " "])
def test_score_only_reads_polygons_and_writes_the_toolkit_layout(tmp_path, sep):
    root = write_benchmark(tmp_path / "bench", num_sequences=2, num_frames=8, frames=False)
    sequences, _ = read_sequences(root)
    results = tmp_path / "MDNet+RGBT"
    results.mkdir()
    for seq in sequences:
        gt = np.loadtxt(root / "test" / seq.name / "visible.txt", delimiter=",")
        x1, y1, x2, y2 = gt[:, 0], gt[:, 1], gt[:, 0] + gt[:, 2], gt[:, 1] + gt[:, 3]
        polygon = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], 1)  # clockwise corners
        np.savetxt(results / f"MDNet+RGBT_{seq.name}.txt", polygon, fmt="%.2f", delimiter=sep)
    out = tmp_path / "out"
    cfg = compose_config("evaluate", overrides=["data=synthetic", f"data.root={root}", "~data.generate",
                                         f"paths.output_dir={out}", f"results_dir={results}",
                                         "results.prefix=MDNet+RGBT_"])
    run(cfg)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["MPR"] == pytest.approx(1.0) and saved["metrics"]["SR@0.5"] == pytest.approx(1.0)
    for seq in sequences:  # the RGBT234 toolkit's naming: <tracker>/<tracker>_<seq>.txt, x,y,w,h
        written = np.loadtxt(out / "toolkit" / "MDNet+RGBT" / f"MDNet+RGBT_{seq.name}.txt", delimiter=",")
        gt = np.loadtxt(root / "test" / seq.name / "visible.txt", delimiter=",")
        np.testing.assert_allclose(written, gt, atol=0.006)
