"""python -m src.demo: a tiny generated clip tracked by a baseline and by a tiny checkpoint."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from src.demo import _box_argument, parse_box, run
from src.utils.cli import UserError
from tests.helpers.configs import compose_config
from tests.helpers.tracking import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
NUM_FRAMES, SIZE, BOX = 12, (128, 96), (30.0, 30.0, 20.0, 20.0)  # first-frame box; moves 2 px right a frame


def truth(t: int) -> np.ndarray:
    return np.array([BOX[0] + 2 * t, BOX[1] + t, BOX[2], BOX[3]])


def write_clip(path: Path, thermal: bool = False) -> Path:
    """A textured square moving over a noisy background, as an mp4 (what a user brings)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, SIZE)
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    background = rng.integers(0, 70, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    pattern = rng.integers(120, 255, (20, 20, 3), dtype=np.uint8)
    for t in range(NUM_FRAMES):
        frame = background.copy()
        x, y, w, h = truth(t).astype(int)
        frame[y:y + h, x:x + w] = 230 if thermal else pattern
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return write_clip(folder / "clip.mp4"), write_clip(folder / "thermal.mp4", thermal=True)


def compose_demo(overrides: list[str]):
    return compose_config("demo", overrides=overrides)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def count_video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def check_outputs(summary: dict, out: Path, frames: int = NUM_FRAMES) -> list[dict[str, str]]:
    video, gif, table = Path(summary["video"]), Path(summary["gif"]), Path(summary["csv"])
    assert video.parent == out and video.suffix == ".mp4" and count_video_frames(video) == frames
    assert gif.is_file() and gif.read_bytes()[:6] == b"GIF89a" and gif.stat().st_size < 2_000_000
    rows = read_csv(table)
    assert [int(r["frame"]) for r in rows] == list(range(1, frames + 1))
    assert summary["fps"]["e2e"] > 0 and summary["cpu_threads"] >= 1
    assert json.loads((out / "demo.json").read_text())["frames"] == frames
    return rows


def test_baseline_tracks_a_user_mp4(clips, tmp_path, capsys):
    out = tmp_path / "out"
    summary = run(compose_demo([f"video={clips[0]}", "init_box=[30,30,20,20]", "tracker=csrt",
                                f"paths.output_dir={out}"]))
    rows = check_outputs(summary, out)
    printed = capsys.readouterr().out
    assert "FPS" in printed and "csrt on clip" in printed
    assert [float(rows[0][k]) for k in "xywh"] == list(BOX)
    last = np.array([float(rows[-1][k]) for k in "xywh"])
    centre_error = np.linalg.norm((last[:2] + last[2:] / 2) - (truth(NUM_FRAMES - 1)[:2] + 10))
    assert centre_error < 8, (last, truth(NUM_FRAMES - 1))  # CSRT follows the textured square
    assert "iou" not in rows[0]  # no ground truth for a user's video


@pytest.mark.parametrize("weights", ["checkpoint", "exported"])
def test_checkpoint_tracks_visible_and_thermal_clips(clips, tmp_path, weights):
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    if weights == "exported":
        from src.learning.checkpoints import export_weights

        ckpt = Path(export_weights(ckpt, tmp_path / "cmc_weights.pt")["path"])
    out = tmp_path / "out"
    summary = run(compose_demo([f"video={clips[0]}", f"thermal={clips[1]}", "init_box=[30,30,20,20]",
                                f"ckpt_path={ckpt}", f"paths.output_dir={out}", "gif.every=3"]))
    rows = check_outputs(summary, out)
    assert summary["fps"]["model"] >= summary["fps"]["e2e"]
    boxes = np.array([[float(r[k]) for k in "xywh"] for r in rows])
    assert np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] > 0)
    capture = cv2.VideoCapture(summary["video"])
    width = capture.get(cv2.CAP_PROP_FRAME_WIDTH)
    capture.release()
    assert width == 2 * SIZE[0]  # visible | thermal side by side


def test_sequence_mode_draws_and_scores_the_ground_truth(tiny_synthetic_root, tmp_path):
    from src.data.readers import get_reader

    seq = next(iter(get_reader("rgbt234", tiny_synthetic_root, split="test").sequences()))
    ckpt = save_checkpoint(tmp_path / "single.ckpt", "single")
    out = tmp_path / "out"
    summary = run(compose_demo([f"sequence={seq.name}", f"data.root={tiny_synthetic_root}", "~data.generate",
                                f"ckpt_path={ckpt}", f"paths.output_dir={out}", "max_frames=6"]))
    rows = check_outputs(summary, out, frames=6)
    np.testing.assert_allclose([float(rows[0][k]) for k in ("gt_x", "gt_y", "gt_w", "gt_h")],
                               seq.boxes["visible"][0], atol=1e-4)
    assert float(rows[0]["iou"]) == pytest.approx(1.0)
    assert summary["mean_iou"] is not None and 0.0 <= summary["mean_iou"] <= 1.0


def test_init_box_forms():
    np.testing.assert_array_equal(parse_box("1,2,3,4"), [1, 2, 3, 4])
    np.testing.assert_array_equal(parse_box([1, 2, 3, 4]), [1, 2, 3, 4])
    for bad in ("1,2,3", "1,2,0,4", "a,b,c,d"):
        with pytest.raises(UserError, match="init_box"):
            parse_box(bad)
    assert _box_argument("init_box=1,2,3.5,4") == "init_box=[1,2,3.5,4]"
    assert _box_argument("init_box=[1,2,3,4]") == "init_box=[1,2,3,4]"
    assert _box_argument("video=a,b.mp4") == "video=a,b.mp4"


def test_demo_command_line(clips, tmp_path):
    """The real command: `init_box=x,y,w,h` as typed, a baseline, the FPS printed."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run([sys.executable, "-m", "src.demo", f"video={clips[0]}", "init_box=30,30,20,20",
                           "tracker=kcf", f"hydra.run.dir={tmp_path}", "gif.enabled=false"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FPS" in proc.stdout
    assert (tmp_path / "clip.mp4").is_file() and len(read_csv(tmp_path / "clip.csv")) == NUM_FRAMES
    assert not (tmp_path / "clip.gif").exists()
    proc = subprocess.run([sys.executable, "-m", "src.demo", f"video={clips[0]}", "tracker=kcf",
                           f"hydra.run.dir={tmp_path / 'bad'}"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "init_box=x,y,w,h" in proc.stderr and "Traceback" not in proc.stderr
