"""The synthetic benchmark: layout, read-back through the RGBT234 reader, content, determinism."""

from __future__ import annotations

import filecmp
import json

import cv2
import numpy as np
import pytest

from src.data import open_benchmark, synthetic
from src.data.readers import get_reader
from src.data.sequence import INFRARED, VISIBLE
from src.data.transforms import jpeg_round_trip, read_image
from tests.helpers.configs import TINY


@pytest.fixture(scope="module")
def test_split(tiny_synthetic_root):
    reader = get_reader("rgbt234", tiny_synthetic_root, split="test")
    return reader, reader.sequences()


def test_layout_and_splits(tiny_synthetic_root):
    meta = json.loads((tiny_synthetic_root / synthetic.MARKER).read_text())
    for split, spec in TINY["splits"].items():
        sequences = get_reader("rgbt234", tiny_synthetic_root, split=split).sequences()
        assert len(sequences) == spec["sequences"] == len(meta["sequences"][split])
        for seq in sequences:
            assert len(seq) == spec["frames"]
            assert seq.modalities == (VISIBLE, INFRARED)
            assert all(p.is_file() for m in seq.modalities for p in seq.frames[m])
            assert seq.valid.all()
            assert set(seq.attributes) == set(synthetic.ATTRIBUTES)
            # the files RGBT234 has: both ground truths and init.txt
            folder = tiny_synthetic_root / split / seq.name
            assert {"visible.txt", "infrared.txt", "init.txt"} <= {p.name for p in folder.iterdir()}


def test_boxes_read_back_exactly(tiny_synthetic_root, test_split):
    _, sequences = test_split
    for seq in sequences:
        folder = tiny_synthetic_root / "test" / seq.name
        drawn = np.loadtxt(folder / "visible.txt", delimiter=",")
        np.testing.assert_array_equal(seq.boxes[VISIBLE], drawn)
        image = read_image(seq.frames[VISIBLE][0])
        h, w = image.shape[:2]
        assert (w, h) == (TINY["width"], TINY["height"])
        boxes = seq.boxes[VISIBLE]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= w).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= h).all()


def test_misregistration_is_a_small_constant_shift(test_split):
    _, sequences = test_split
    limit = synthetic.config_defaults()["misregistration"]
    for seq in sequences:
        delta = seq.boxes[INFRARED] - seq.boxes[VISIBLE]
        assert (delta == delta[0]).all(), "one shift per sequence"
        assert (delta[0, 2:] == 0).all()
        assert 0 < np.abs(delta[0, :2]).max() <= limit


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = (int(v) for v in box)
    return image[y : y + h, x : x + w]


def _ring_mean(image: np.ndarray, box: np.ndarray, margin: int) -> float:
    """Mean of the band of ``margin`` px around ``box`` (inside the frame)."""
    x, y, w, h = (int(v) for v in box)
    H, W = image.shape[:2]
    mask = np.zeros((H, W), bool)
    mask[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin] = True
    mask[y : y + h, x : x + w] = False
    return float(image[mask].mean())


def test_target_is_warm_in_thermal_at_the_infrared_box(tiny_synthetic_root):
    """Cropping the infrared frames at the infrared ground truth finds the warm target: the box's
    core is clearly hotter than the band around it (outside thermal crossover)."""
    contrasts = []
    for split in ("train", "val", "test"):
        for seq in get_reader("rgbt234", tiny_synthetic_root, split=split).sequences():
            if seq.attributes["TC"] or seq.attributes["HO"]:
                continue
            for t in range(0, len(seq), 3):
                thermal = read_image(seq.frames[INFRARED][t])[..., 0].astype(np.float32)
                box = seq.boxes[INFRARED][t]
                x, y, w, h = box
                core = np.array([x + 0.3 * w, y + 0.3 * h, 0.4 * w, 0.4 * h]).round()
                core[2:] = np.maximum(core[2:], 1)
                contrasts.append(_crop(thermal, core).mean() - _ring_mean(thermal, box, 6))
    assert len(contrasts) >= 10
    assert np.median(contrasts) > 30, contrasts
    assert np.mean(np.array(contrasts) > 10) > 0.85


def test_visible_crop_matches_the_target_texture(tiny_synthetic_root):
    """The visible crop at the ground truth looks like the first frame's target (normalised
    cross-correlation) and clearly more so than a crop one box-width beside it."""
    margins = []
    for split in ("train", "val", "test"):
        for seq in get_reader("rgbt234", tiny_synthetic_root, split=split).sequences():
            if seq.attributes["LI"] or seq.attributes["HO"]:
                continue
            first = read_image(seq.frames[VISIBLE][0]).astype(np.float32)
            reference = cv2.resize(_crop(first, seq.boxes[VISIBLE][0]), (24, 24))
            for t in range(1, len(seq), 3):
                frame = read_image(seq.frames[VISIBLE][t]).astype(np.float32)
                box = seq.boxes[VISIBLE][t]
                at_box = cv2.resize(_crop(frame, box), (24, 24))
                H, W = frame.shape[:2]
                side = box.copy()
                side[0] = box[0] + box[2] if box[0] + 2 * box[2] <= W else box[0] - box[2]
                if side[0] < 0:
                    continue
                beside = cv2.resize(_crop(frame, side), (24, 24))
                margins.append(_ncc(reference, at_box) - _ncc(reference, beside))
    assert len(margins) >= 10
    assert np.median(margins) > 0.3, margins
    assert np.mean(np.array(margins) > 0) > 0.8


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def test_low_illumination_darkens_visible_only(tmp_path):
    cfg = {**TINY, "splits": {"test": {"sequences": 6, "frames": 4}}}
    root = synthetic.generate(tmp_path / "li", cfg, progress=False)
    sequences = {s.name: s for s in get_reader("rgbt234", root, split="test").sequences()}
    dark = [s for s in sequences.values() if s.attributes["LI"]]
    bright = [s for s in sequences.values() if not s.attributes["LI"]]
    assert dark and bright
    mean = lambda s, m: np.mean([read_image(p).mean() for p in s.frames[m]])  # noqa: E731
    assert max(mean(s, VISIBLE) for s in dark) < 0.5 * min(mean(s, VISIBLE) for s in bright)
    assert min(mean(s, INFRARED) for s in dark) > 30  # thermal is not affected


def test_subsets_partition_the_test_split(test_split):
    reader, sequences = test_split
    subsets = reader.subsets()
    assert set(subsets) == {"normal", "extreme"}
    assert sorted(subsets["normal"] + subsets["extreme"]) == sorted(s.name for s in sequences)
    by_name = {s.name: s for s in sequences}
    for name in subsets["extreme"]:
        assert any(by_name[name].attributes[c] for c in synthetic.EXTREME)
    for name in subsets["normal"]:
        assert not any(by_name[name].attributes[c] for c in synthetic.EXTREME)
    assert subsets["normal"] and subsets["extreme"]


def test_test_split_attributes_cover_every_code():
    """Over a default-sized test split every RGBT234 challenge code occurs (attribute tables are
    never empty)."""
    seen = set()
    for index in range(synthetic.config_defaults()["splits"]["test"]["sequences"]):
        seen |= synthetic.choose_attributes(np.random.default_rng([0, 2, index]), "test", index, 0.25)
    assert seen == set(synthetic.ATTRIBUTES)


def test_deterministic_and_worker_independent(tmp_path):
    cfg = {
        **TINY,
        "splits": {"train": {"sequences": 2, "frames": 6}, "test": {"sequences": 2, "frames": 6}},
    }
    a = synthetic.generate(tmp_path / "a", cfg, progress=False, workers=1)
    b = synthetic.generate(tmp_path / "b", cfg, progress=False, workers=2)
    c = synthetic.generate(tmp_path / "c", {**cfg, "seed": 1}, progress=False, workers=1)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != synthetic.MARKER)
    assert files
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors
    assert (a / "test/test_000/visible.txt").read_text() != (c / "test/test_000/visible.txt").read_text()


def test_unknown_generate_key_is_an_error(tmp_path):
    with pytest.raises(Exception, match="frame_rate"):
        synthetic.generate(tmp_path / "x", {**TINY, "frame_rate": 30}, progress=False)


def test_open_benchmark_generates_when_missing(tmp_path):
    cfg = {
        "name": "rgbt234",
        "root": str(tmp_path / "bench"),
        "splits": {"train": "train", "test": "test"},
        "generate": {
            **TINY,
            "splits": {"train": {"sequences": 1, "frames": 4}, "test": {"sequences": 2, "frames": 4}},
        },
    }
    reader = open_benchmark(cfg, "test")
    assert synthetic.is_complete(tmp_path / "bench")
    assert [s.name for s in reader.sequences()] == ["test_000", "test_001"]
    stamp = (tmp_path / "bench" / synthetic.MARKER).stat().st_mtime_ns
    open_benchmark(cfg, "train")  # present: not regenerated
    assert (tmp_path / "bench" / synthetic.MARKER).stat().st_mtime_ns == stamp


def test_open_benchmark_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "something.txt").write_text("not a benchmark")
    cfg = {"name": "rgbt234", "root": str(tmp_path / "bench"), "generate": TINY}
    with pytest.raises(FileExistsError, match="not a complete synthetic benchmark"):
        open_benchmark(cfg, "test")


def test_command_line(tmp_path, capsys):
    root = tmp_path / "cli"
    synthetic.main(
        [
            f"root={root}",
            "splits.train.sequences=1",
            "splits.train.frames=3",
            "splits.val.sequences=0",
            "splits.test.sequences=1",
            "splits.test.frames=3",
            "width=96",
            "height=80",
            "target_size=[16,20]",
            "workers=1",
        ]
    )
    assert synthetic.is_complete(root)
    assert len(get_reader("rgbt234", root, split="train").sequences()) == 1
    assert "wrote" in capsys.readouterr().out


def test_ensure_keeps_a_complete_benchmark_and_warns_on_other_parameters(tmp_path, caplog):
    small = {**TINY, "splits": {"test": {"sequences": 1, "frames": 3}}}
    root = synthetic.ensure(tmp_path / "b", small, progress=False)
    assert len(get_reader("rgbt234", root, split="test").sequences()) == 1
    with caplog.at_level("WARNING"):
        synthetic.ensure(root, {**small, "workers": 2}, progress=False)  # same content
    assert "other parameters" not in caplog.text
    bigger = {**small, "splits": {"test": {"sequences": 2, "frames": 3}}}
    with caplog.at_level("WARNING"):
        synthetic.ensure(root, bigger, progress=False)
    assert "other parameters" in caplog.text
    assert len(get_reader("rgbt234", root, split="test").sequences()) == 1  # never deleted behind one's back


def test_a_target_larger_than_the_frame_does_not_crash_the_scene():
    # the on-the-fly training scenes draw sides up to 56 px and w/h down to 0.3, and SC / DEF stretch that
    # by up to 1.5 x 1.3: a first box taller than the 192-px frame once stopped a 150-epoch run at epoch 43
    # (numpy's uniform(0, negative)). Such a box now starts at the border and stays clamped there.
    from src.data.synthetic.motion import trajectory
    from src.data.synthetic.scene import Scene, resolve_config

    sizes = np.tile([[300.0, 40.0]], (6, 1))  # wider than a 256-px frame
    pos = trajectory(np.random.default_rng(0), 6, 256, 192, sizes, 3.0, None)
    assert np.all(pos[:, 0] == 0) and np.all((pos[:, 1] >= 0) & (pos[:, 1] <= 152))
    cfg = resolve_config({"target_size": [150, 150], "aspect_log_range": [-1.2, -1.2]})
    scene = Scene(cfg, np.random.default_rng(0), {"SC", "DEF", "NO"}, frames=4)
    assert scene.target.sizes[0, 1] > cfg["height"]  # the case that crashed
    visible, thermal, box = scene.frame(0, np.random.default_rng(1))
    assert visible.shape == (cfg["height"], cfg["width"], 3) and box[2] > 0 and box[3] > 0



def test_the_jpeg_round_trip_reads_as_a_written_frame(tmp_path):
    rng = np.random.default_rng(0)
    colour = np.zeros((32, 48, 3), np.uint8)
    colour[..., 0] = 200  # red in RGB
    colour[8:24, 8:24] = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    path = tmp_path / "frame.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(colour, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    np.testing.assert_array_equal(jpeg_round_trip(colour, 80), read_image(path))  # what the writer stores
    assert jpeg_round_trip(colour, 80)[0, 0].argmax() == 0  # still red: the channel order is kept
    grey = rng.integers(0, 255, (32, 48, 1), dtype=np.uint8)
    out = jpeg_round_trip(grey, 92)
    assert out.shape == (32, 48, 3) and (out[..., 0] == out[..., 2]).all()  # one channel as three equal
