"""Footage as real benchmarks ship it: thermal-only sequences (VOT-TIR, PTB-TIR, LSOTB-TIR) read and tracked
by every tracker that reads thermal, a one-line refusal from the others, and ``src.realcheck`` on a generated
folder of sequences in the folder, OTB and VTUAV layouts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from src.data.readers.folder import FolderReader
from src.data.sequence import INFRARED, VISIBLE, MissingModalityError, modalities_to_read, stand_in
from src.evaluate import run as evaluate_run
from src.tracking.baselines.kcf import KCFTracker
from src.tracking.runner import track_sequence
from src.utils.cli import UserError
from tests.helpers.configs import compose_config
from tests.helpers.tracking import save_checkpoint

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def moving_square(
    frames: int, size=(96, 128), start=(30.0, 20.0), step=(2.0, 1.0), side=(20.0, 28.0), seed=0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Grey frames of a bright rectangle moving over noise, and its ltwh boxes."""
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for t in range(frames):
        image = rng.integers(0, 60, size, dtype=np.uint8)
        x, y = start[0] + step[0] * t, start[1] + step[1] * t
        image[int(y) : int(y + side[1]), int(x) : int(x + side[0])] = 220
        images.append(image)
        boxes.append([x, y, side[0], side[1]])
    return images, np.array(boxes)


def write_frames(folder: Path, images: list[np.ndarray], pattern: str) -> None:
    folder.mkdir(parents=True)
    for t, image in enumerate(images):
        cv2.imwrite(str(folder / pattern.format(t)), image)


def thermal_only(root: Path, name: str = "tir", frames: int = 12, seed: int = 0) -> np.ndarray:
    """A folder-layout sequence with only ``infrared/`` (VOT-TIR as ../shared/realdata lays it out)."""
    images, boxes = moving_square(frames, seed=seed)
    write_frames(root / name / "infrared", images, "{:08d}.png")
    np.savetxt(root / name / "groundtruth.txt", boxes, fmt="%.2f", delimiter=",")
    return boxes


def compose_evaluate(overrides: list[str]):
    return compose_config("evaluate", overrides=overrides)


def test_thermal_only_folder_reads_its_thermal_stream(tmp_path):
    boxes = thermal_only(tmp_path)
    seq = FolderReader(tmp_path).read_sequence("tir")
    assert seq.modalities == (INFRARED,) and seq.reference == INFRARED
    assert all(p.parent.name == "infrared" and p.is_file() for p in seq.frames[INFRARED])
    np.testing.assert_allclose(seq.init_box, boxes[0], atol=0.006)
    np.testing.assert_allclose(seq.gt, boxes, atol=0.006)


def test_the_other_stream_stands_in_and_visible_trackers_are_refused():
    assert modalities_to_read([INFRARED], [VISIBLE, INFRARED]) == [INFRARED]
    assert modalities_to_read([VISIBLE], [VISIBLE, INFRARED]) == [VISIBLE]
    assert modalities_to_read([VISIBLE], [INFRARED]) == [VISIBLE]  # RGB-T trackers run on OTB as before
    assert stand_in({INFRARED: "t"}, VISIBLE) == "t" and stand_in({VISIBLE: "v"}, INFRARED) == "v"
    with pytest.raises(
        MissingModalityError, match="reads visible frames only, and the sequence has infrared"
    ):
        modalities_to_read([INFRARED], [VISIBLE])


def test_kcf_rgbt_on_thermal_only_footage_is_kcf_on_thermal_features_alone(tmp_path):
    thermal_only(tmp_path, frames=15)
    seq = FolderReader(tmp_path).read_sequence("tir")
    settings = dict(
        padding=1.5,
        cells=32,
        cell_size=4,
        kernel_sigma=0.5,
        lambda_=1e-4,
        output_sigma_factor=0.1,
        interp_factor=0.02,
        scales=[0.95, 1.0, 1.05],
        scale_penalty=0.99,
    )
    both, _ = track_sequence(KCFTracker(modalities=[VISIBLE, INFRARED], **settings), seq)
    thermal, _ = track_sequence(KCFTracker(modalities=[INFRARED], **settings), seq)
    # the thermal frame in both slots: the kernel's distance is normalised by the feature count, so the
    # doubled channels give the one-stream filter's response (to float32 rounding, which the model update
    # carries from frame to frame: 0.005 px after 15 frames)
    np.testing.assert_allclose(both, thermal, atol=0.02)
    error = np.abs(both[-1] - seq.gt[-1]).max()
    assert error < 4.0, f"KCF lost the thermal square: {both[-1]} vs {seq.gt[-1]}"


@pytest.mark.parametrize("tracker", ["kcf_rgbt", "csrt_tir", "ours"])
def test_thermal_only_footage_is_tracked_by_every_tracker_that_reads_thermal(tracker, tmp_path):
    data = tmp_path / "data"
    thermal_only(data, "a", seed=1)
    thermal_only(data, "b", seed=2)
    overrides = [
        f"tracker={tracker}",
        "data=folder",
        f"data.root={data}",
        "split=null",
        f"paths.output_dir={tmp_path / 'out'}",
    ]
    if tracker == "ours":
        overrides.append(f"ckpt_path={save_checkpoint(tmp_path / 'cmc.ckpt', 'cmc')}")
    report = evaluate_run(compose_evaluate(overrides))
    rows = (tmp_path / "out" / "sequences.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["a", "b"]
    result = np.loadtxt(tmp_path / "out" / "results" / "a.txt", delimiter=",")
    assert result.shape == (12, 4) and np.all(np.isfinite(result))
    if tracker != "ours":  # the classical trackers follow the bright square (the tiny net is untrained)
        assert report["metrics"]["AOR"] > 0.5


@pytest.mark.parametrize("tracker", ["csrt", "kcf"])
def test_a_visible_only_tracker_on_thermal_only_footage_is_one_line_error(tracker, tmp_path):
    thermal_only(tmp_path / "data")
    cfg = compose_evaluate(
        [
            f"tracker={tracker}",
            "data=folder",
            f"data.root={tmp_path / 'data'}",
            "split=null",
            f"paths.output_dir={tmp_path / 'out'}",
        ]
    )
    with pytest.raises(
        UserError,
        match=rf"sequence tir: tracker={tracker} reads visible frames only, and the "
        r"sequence has infrared only: track thermal-only footage with",
    ):
        evaluate_run(cfg)


def write_real_folder(root: Path) -> None:
    """Three sequences in three layouts: OTB (visible), VTUAV (RGB-T, a box every 5th frame), thermal-only."""
    images, boxes = moving_square(11, seed=3)
    write_frames(root / "otbseq" / "img", images, "{:04d}.jpg")
    np.savetxt(root / "otbseq" / "groundtruth_rect.txt", boxes, fmt="%d", delimiter="\t")
    images, boxes = moving_square(11, seed=4)
    write_frames(root / "uavseq" / "rgb", [cv2.cvtColor(i, cv2.COLOR_GRAY2BGR) for i in images], "{:06d}.jpg")
    write_frames(root / "uavseq" / "ir_gray", images, "{:06d}.jpg")
    np.savetxt(root / "uavseq" / "rgb.txt", boxes[::5], fmt="%.1f")
    thermal_only(root, "tirseq", frames=11, seed=5)
    (root / "notes").mkdir()  # not a sequence: left out with a warning


def test_realcheck_tracks_every_layout_with_a_checkpoint_and_the_baselines(tmp_path, capsys):
    from src.realcheck import run

    real = tmp_path / "real"
    write_real_folder(real)
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    cfg = compose_config(
        "realcheck",
        overrides=[f"real={real}", f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path / 'out'}"],
    )
    summary = run(cfg)
    assert summary["layouts"] == {
        "otbseq": "otb",
        "tirseq": "folder",
        "uavseq": "vtuav (a box every 5 frames)",
    }
    iou = summary["iou"]
    assert set(iou) == {"ours", "kcf_rgbt", "csrt", "csrt_tir"}
    assert set(iou["ours"]) == set(iou["kcf_rgbt"]) == set(iou["csrt_tir"]) == {"otbseq", "tirseq", "uavseq"}
    assert set(iou["csrt"]) == {"otbseq", "uavseq"}  # visible only: not the thermal-only sequence
    assert iou["kcf_rgbt"]["tirseq"] > 0.5 and iou["csrt_tir"]["uavseq"] > 0.5
    for tracker, values in iou.items():
        assert summary["mean_iou"][tracker] == pytest.approx(np.mean(list(values.values())))
    sparse = (tmp_path / "out" / "sequences" / "uavseq" / "groundtruth_sparse.txt").read_text().split("\n")
    assert sparse[:3] == ["1 30 20 20 28", "6 40 25 20 28", "11 50 30 20 28"]
    printed = capsys.readouterr().out
    assert "| tirseq | folder | T | " in printed and "| mean IoU (sequences) |" in printed
    assert "| Method |" in printed or "MSR" in printed  # the src.compare methods table
    assert json.loads((tmp_path / "out" / "realcheck.json").read_text())["iou"] == iou


def test_realcheck_passes_its_overrides_to_the_checkpoints_tracker(tmp_path):
    from src.realcheck import run

    real = tmp_path / "real"
    write_real_folder(real)
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    cfg = compose_config(
        "realcheck",
        overrides=[f"real={real}", f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path / 'out'}", "trackers=[]",
                   "ours_overrides=['+tracker.factory.aspect_lr=2.0']"],
    )
    with pytest.raises(UserError, match=r"tracker=ours on .*aspect_lr must be in \[0, 1\], got 2.0"):
        run(cfg)


def test_realcheck_names_a_missing_folder(tmp_path):
    from src.realcheck import run

    cfg = compose_config(
        "realcheck",
        overrides=[f"real={tmp_path / 'nope'}", f"paths.output_dir={tmp_path / 'o'}", "checkpoint=false"],
    )
    with pytest.raises(UserError, match=r"real=.*nope: no such directory"):
        run(cfg)


def test_demo_on_thermal_only_footage_tracks_with_thermal_and_refuses_visible_trackers(tmp_path):
    from src.demo import run as demo_run

    thermal_only(tmp_path / "data")

    def compose_demo(tracker: str, out: str):
        return compose_config(
            "demo",
            overrides=[
                f"tracker={tracker}",
                "data=folder",
                f"data.root={tmp_path / 'data'}",
                "split=null",
                "sequence=tir",
                f"paths.output_dir={tmp_path / out}",
                "gif.enabled=false",
            ],
        )

    summary = demo_run(compose_demo("csrt_tir", "tir"))
    assert summary["frames"] == 12 and summary["mean_iou"] > 0.5
    with pytest.raises(
        UserError, match="tracker=csrt reads visible frames only, and the sequence has infrared"
    ):
        demo_run(compose_demo("csrt", "vis"))
