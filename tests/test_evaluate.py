"""The evaluate command: score-only mode on hand-written result files, tracking mode, resume, metrics.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from src.evaluate import run
from src.tracking.evaluation import evaluate_tracker
from src.tracking.runner import read_box_file
from src.tracking.tracker import OSTrackTracker
from src.utils.cli import UserError
from tests.helpers.configs import compose_evaluate, data_overrides
from tests.helpers.tracking import read_sequences, save_checkpoint, tiny_net, write_benchmark

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SEED_METRICS = {"SR@0.5", "SR@0.75", "SR@0.9", "AOR", "APE", "track_success", "max_ratio", "miss_count"}


@pytest.fixture(scope="module")
def annotations_only(tmp_path_factory):
    """Ground truth without frames: score-only mode must not need them."""
    root = tmp_path_factory.mktemp("annotations")
    return write_benchmark(root, num_sequences=3, num_frames=8, frames=False)


@pytest.fixture(scope="module")
def bench(tiny_synthetic_root):
    """The tiny generated synthetic benchmark (test split: 2 sequences, normal and extreme subsets)."""
    return tiny_synthetic_root


def _visible_gt(root: Path, name: str) -> np.ndarray:
    return np.loadtxt(root / "test" / name / "visible.txt", delimiter=",")


# -- result files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [",", " ", "\t", ", "])
def test_read_box_file_separators(tmp_path, sep):
    path = tmp_path / "r.txt"
    path.write_text(f"1{sep}2{sep}3{sep}4\n\n5{sep}6{sep}7{sep}8\n")
    np.testing.assert_array_equal(read_box_file(path), [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_read_box_file_corner_format(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("10 20 30 60\n")
    np.testing.assert_array_equal(read_box_file(path, "corner"), [[10, 20, 20, 40]])


def test_read_box_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: expected 4 values"):
        read_box_file(path)
    path.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: non-numeric"):
        read_box_file(path)
    with pytest.raises(ValueError, match="corner"):
        read_box_file(path, "xywh")


def test_read_box_file_bom_and_non_finite_boxes(tmp_path, caplog):
    path = tmp_path / "r.txt"
    path.write_bytes("\ufeff1,2,3,4\n5,6,7,8\n".encode("utf-8"))  # a byte-order mark, as Windows tools write
    np.testing.assert_array_equal(read_box_file(path), [[1, 2, 3, 4], [5, 6, 7, 8]])
    path.write_text("1,2,3,4\nnan,2,3,4\n1,2,-3,4\n")
    with caplog.at_level("WARNING"):
        boxes = read_box_file(path)
    assert boxes.shape == (3, 4)  # scored (as misses), but said
    assert "r.txt:2: 2 box(es) with NaN, inf or a negative size" in caplog.text


def test_options_evaluate_would_ignore(annotations_only, tmp_path, caplog):
    base = data_overrides(annotations_only, tmp_path / "out")
    with pytest.raises(UserError, match="data.foo: unknown key"):
        run(compose_evaluate(base + ["+data.foo=1"]))
    with pytest.raises(UserError, match="limit_sequences=0: must be at least 1"):
        run(compose_evaluate(base + ["limit_sequences=0", "tracker=kcf"]))
    # a random file as checkpoint: one line naming it, not torch's mmap message
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    from src.learning.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match=r"junk.ckpt: not a PyTorch checkpoint \(230 bytes"):
        run(compose_evaluate(base + [f"ckpt_path={junk}"]))
    # a checkpoint the tracker does not read: a warning
    results = tmp_path / "published"
    results.mkdir()
    for name in ("seq0", "seq1", "seq2"):
        (results / f"{name}.txt").write_text("1,2,3,4\n" * 8)
    with caplog.at_level("WARNING"):
        run(compose_evaluate(base + [f"results_dir={results}", f"ckpt_path={junk}"]))
    assert "is not used: results_dir scores existing files" in caplog.text


# -- score-only mode -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "prefix", "sep"), [("ltwh", "", ","), ("ltwh", "MDNet_", " "),
                                                    ("corner", "", "\t")])
def test_score_only_mode(annotations_only, tmp_path, fmt, prefix, sep):
    results = tmp_path / "published"
    results.mkdir()
    sequences, _ = read_sequences(annotations_only)
    assert not any(p.exists() for s in sequences for p in s.frames["visible"])  # frames absent
    for seq in sequences:
        boxes = _visible_gt(annotations_only, seq.name)
        if fmt == "corner":
            boxes = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)
        np.savetxt(results / f"{prefix}{seq.name}.txt", boxes, fmt="%.2f", delimiter=sep)
    out = tmp_path / "out"
    options = [f"results_dir={results}", f"results.format={fmt}", f"results.prefix='{prefix}'"]
    cfg = compose_evaluate(data_overrides(annotations_only, out) + options)
    report = run(cfg)
    saved = json.loads((out / "metrics.json").read_text())
    assert (saved["tracker"], saved["dataset"], saved["protocol"]) == ("published", "synthetic", "rgbt234")
    # the results are the visible ground truth: every frame within 20 px and overlapping fully
    assert saved["metrics"]["MPR"] == pytest.approx(1.0)
    assert saved["metrics"]["SR@0.5"] == pytest.approx(1.0)
    assert saved["metrics"]["miss_count"] == 0
    assert set(saved["subsets"]) == {"normal", "extreme"}
    assert [s["name"] for s in saved["sequences"]] == [s.name for s in sequences]
    assert saved["fps"] == {"model": None, "e2e": None, "decode": None}
    assert report["metrics"] == saved["metrics"]
    with open(out / "sequences.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == [s.name for s in sequences] and "MPR" in rows[0]


def test_score_only_missing_file_is_named(annotations_only, tmp_path):
    results = tmp_path / "partial"
    results.mkdir()
    (results / "seq0.txt").write_text("1,2,3,4\n" * 8)
    cfg = compose_evaluate(data_overrides(annotations_only, tmp_path / "out") + [f"results_dir={results}"])
    with pytest.raises(FileNotFoundError, match="seq1"):
        run(cfg)


def test_score_only_row_count_checked(annotations_only, tmp_path):
    results = tmp_path / "short"
    results.mkdir()
    for name in ("seq0", "seq1", "seq2"):
        (results / f"{name}.txt").write_text("1,2,3,4\n" * 5)
    cfg = compose_evaluate(data_overrides(annotations_only, tmp_path / "out") + [f"results_dir={results}"])
    with pytest.raises(ValueError, match=r"seq0\.txt: 5 boxes, but sequence seq0 has 8 frames"):
        run(cfg)


def test_tracking_mode_needs_a_checkpoint(annotations_only, tmp_path):
    cfg = compose_evaluate(data_overrides(annotations_only, tmp_path / "out"))
    with pytest.raises(ValueError, match="ckpt_path"):
        run(cfg)


# -- tracking mode -------------------------------------------------------------------------------------
def test_evaluate_tracker_writes_every_metric(bench, tmp_path):
    sequences, subsets = read_sequences(bench)
    tracker = OSTrackTracker(tiny_net("cmc"))
    report = evaluate_tracker(tracker, sequences, "rgbt234", tmp_path, subsets=subsets, tracker_name="cmc",
                              dataset="synthetic", extra={"variant": "cmc"}, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert {"MPR", "MSR"} | SEED_METRICS <= set(saved["metrics"])
    assert set(saved["subsets"]) == {"normal", "extreme"}
    for subset in saved["subsets"].values():
        assert {"MPR", "MSR", "track_success", "max_ratio", "miss_count"} <= set(subset)
    assert saved["fps"]["model"] > 0 and saved["fps"]["e2e"] > 0 and saved["fps"]["decode"] > 0
    assert saved["fps"]["model"] >= saved["fps"]["e2e"]
    assert saved["variant"] == "cmc" and saved["wall_time_s"] > 0
    assert len(saved["sequences"]) == len(sequences)
    for seq in sequences:
        boxes = read_box_file(tmp_path / "results" / f"{seq.name}.txt")
        assert boxes.shape == (len(seq), 4)
    assert (tmp_path / "sequences.csv").is_file()
    assert (tmp_path / "precision.png").is_file() and (tmp_path / "success.png").is_file()


def test_evaluate_command_tracks_scores_and_resumes(bench, tmp_path):
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc", seed=7)
    out = tmp_path / "run"
    cfg = compose_evaluate(data_overrides(bench, out) + [f"ckpt_path={ckpt}"])
    first = run(cfg)
    assert first["tracker"] == "cmc" and first["variant"] == "cmc" and first["tsf"] is True
    assert first["seed"] == 7 and first["ckpt_path"] == str(ckpt)
    assert first["fps"]["e2e"] > 0
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    # rerun into the same directory: every sequence is loaded, none tracked again
    second = run(cfg)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps
    assert second["metrics"] == first["metrics"]
    assert second["fps"]["e2e"] == pytest.approx(first["fps"]["e2e"], rel=1e-6)  # timing kept on resume


def test_evaluate_resume_refuses_another_trackers_results(bench, tmp_path):
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc", seed=7)
    out = tmp_path / "run"
    run(compose_evaluate(data_overrides(bench, out) + [f"ckpt_path={ckpt}", "limit_sequences=1"]))
    # a baseline pointed at the same run directory must not take the network's results as its own
    with pytest.raises(ValueError, match="holds another tracker's results .tracker 'cmc' there, 'kcf' now"):
        run(compose_evaluate(data_overrides(bench, out) + ["tracker=kcf", "limit_sequences=1"]))
    # nor another checkpoint of the same variant (other weights)
    other = save_checkpoint(tmp_path / "other.ckpt", "cmc", seed=8)
    with pytest.raises(ValueError, match="'cmc' there, 'cmc' now; ckpt_sha256: '"):
        run(compose_evaluate(data_overrides(bench, out) + [f"ckpt_path={other}", "limit_sequences=1"]))
    # the same checkpoint, copied elsewhere: the same tracker, resumed
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(ckpt.read_bytes())
    run(compose_evaluate(data_overrides(bench, out) + [f"ckpt_path={copy}", "limit_sequences=1"]))


def test_single_modal_checkpoint_reads_visible_only(bench, tmp_path):
    ckpt = save_checkpoint(tmp_path / "single.ckpt", "single")
    tracker = OSTrackTracker.from_checkpoint(ckpt)
    assert tracker.modalities == ("visible",)
    out = tmp_path / "run"
    report = run(compose_evaluate(data_overrides(bench, out) + [f"ckpt_path={ckpt}", "limit_sequences=1"]))
    assert report["variant"] == "single" and report["num_sequences"] == 1


def test_checkpoint_info_reads_the_training_run(tmp_path):
    from src.learning.checkpoints import checkpoint_info

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text("seed: 3\n")
    ckpt = save_checkpoint(run_dir / "checkpoints" / "last.ckpt", "single", seed=None)
    info = checkpoint_info(ckpt)
    # align: None for a single-modal network (nothing is fused)
    assert info == {"variant": "single", "modalities": ["visible"], "tsf": True, "align": None, "seed": 3,
                    "ckpt_path": str(ckpt)}


def test_an_exported_weights_file_is_evaluated_like_its_checkpoint(bench, tmp_path):
    """`export_weights`' file ({"net", "config"}: the shipped checkpoint's form) tracks and is described as
    the training checkpoint it came from; a file that is neither keeps the checkpoint error."""
    from src.learning.checkpoints import checkpoint_info, export_weights
    from src.models.pretrained import CheckpointError

    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc", seed=None)
    weights = Path(export_weights(ckpt, tmp_path / "cmc_weights.pt")["path"])
    info = checkpoint_info(weights)
    assert info["variant"] == "cmc" and info["modalities"] == ["visible", "infrared"]
    report = run(compose_evaluate(data_overrides(bench, tmp_path / "out") + [f"ckpt_path={weights}",
                                                                             "limit_sequences=1"]))
    plain = run(compose_evaluate(data_overrides(bench, tmp_path / "out2") + [f"ckpt_path={ckpt}",
                                                                            "limit_sequences=1"]))
    assert report["tracker"] == "cmc" and report["metrics"] == plain["metrics"]
    other = tmp_path / "other.pt"
    import torch

    torch.save({"weights": {}}, other)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        checkpoint_info(other)


def test_a_data_root_without_sequences_is_a_user_error(tmp_path):
    from src.utils.cli import UserError

    empty = tmp_path / "empty"
    empty.mkdir()
    overrides = ["tracker=kcf", "data=rgbt234", f"data.root={empty}", "split=null",
                 f"paths.output_dir={tmp_path / 'out'}"]
    with pytest.raises(UserError, match=r"empty: no sequence folders with visible.txt"):
        run(compose_evaluate(overrides))
