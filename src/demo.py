"""``python -m src.demo``: track one video and watch it: an MP4 (and a GIF preview) with the predicted
box (green) and the ground truth (white) where there is one, a per-frame CSV, and the FPS.

    python -m src.demo video=clip.mp4 init_box=120,80,40,60 ckpt_path=<run>/checkpoints/best.ckpt
    python -m src.demo video=frames/ thermal=thermal.mp4 init_box=120,80,40,60 tracker=csrt
    python -m src.demo sequence=test_000 ckpt_path=checkpoints/single_synthetic_cpu.pt

The tracker is built as ``src.evaluate`` builds it (``conf/tracker/<name>.yaml``: ``ours`` with a
training checkpoint or an exported weights file, or a baseline). ``init_box`` is ``x,y,w,h`` in pixels.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.conf import register_resolvers
from src.utils.cli import UserError, check_data_root, check_override_types, check_tracker_checkpoint, run_cli

if TYPE_CHECKING:
    from collections.abc import Iterator

# ${uid:} (run directories) and ${tags_with:} (W&B tags): before Hydra composes this command's config
register_resolvers()
log = logging.getLogger(__name__)

CONFIG = Path(__file__).resolve().parents[1] / "conf" / "demo.yaml"


def parse_box(value: Any) -> np.ndarray:
    """``x,y,w,h`` (a string or a list of 4 numbers) -> float64 ``[4]``; UserError unless valid."""
    parts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    try:
        box = np.array([float(v) for v in parts], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise UserError(f"init_box={value}: expected x,y,w,h numbers") from error
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise UserError(f"init_box={value}: expected x,y,w,h with a positive width and height")
    return box


def check_inputs(cfg: DictConfig) -> None:
    """User errors found before torch is imported (one line on the command line)."""
    check_override_types(cfg, CONFIG)
    if bool(cfg.get("video")) == bool(cfg.get("sequence")):
        raise UserError("pass either video=FILE_OR_FOLDER (with init_box=x,y,w,h) or sequence=NAME")
    for key in ("video", "thermal"):
        if cfg.get(key) and not Path(str(cfg[key])).exists():
            raise UserError(f"{key}={cfg[key]}: no such file or folder")
    if cfg.get("video") and cfg.get("init_box") is None:
        raise UserError("video=... needs init_box=x,y,w,h (the target in the first frame)")
    if cfg.get("init_box") is not None:
        parse_box(cfg.init_box)
    if cfg.get("sequence"):
        check_data_root(cfg.data, cfg.paths.get("data_dir"))
    check_tracker_checkpoint(cfg.tracker, "or a baseline, e.g. tracker=csrt")


def _frames(cfg: DictConfig) -> tuple[str, Iterator[dict[str, np.ndarray]], np.ndarray | None,
                                      np.ndarray | None, float]:
    """``(name, frames, init box, ground truth [T, 4] or None, frame rate)`` of the input."""
    from src.utils.video import read_frames, video_fps

    if cfg.get("video"):
        video = Path(str(cfg.video))
        streams = {"visible": read_frames(video)}
        if cfg.get("thermal"):
            streams["infrared"] = read_frames(Path(str(cfg.thermal)))
        return video.stem, _together(streams), parse_box(cfg.init_box), None, video_fps(video)

    from src.data import open_benchmark

    try:
        reader = open_benchmark(cfg.data, cfg.split, sequence_names=[str(cfg.sequence)])
        seq = next(iter(reader.sequences()))
    except (KeyError, ValueError, FileNotFoundError, StopIteration) as error:
        raise UserError(f"sequence={cfg.sequence}: not in {cfg.data.root} ({cfg.split}): {error}") from error
    streams = {m: read_frames(paths) for m, paths in seq.frames.items()}
    gt = np.asarray(seq.gt, dtype=np.float64)
    init = np.asarray(seq.init_box, np.float64) if cfg.get("init_box") is None else parse_box(cfg.init_box)
    return seq.name, _together(streams), init, gt, 25.0


def _together(streams: dict[str, Iterator[np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """Frames of aligned streams as ``{modality: image}``, until the shortest ends."""
    for images in zip(*streams.values()):
        yield dict(zip(streams, images))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    from src.metrics.functional import iou

    if not np.all(np.isfinite(b)):
        return float("nan")
    return float(iou(a[None], b[None])[0])


def run(cfg: DictConfig) -> dict[str, Any]:
    """Track the input and write ``<name>.mp4``, ``<name>.gif`` and ``<name>.csv``; returns a summary
    (``frames``, ``fps``, ``cpu_threads``, ``mean_iou`` where there is ground truth, the paths)."""
    from src.data.sequence import MissingModalityError, modalities_to_read, with_stand_ins
    from src.tracking.runner import build_tracker
    from src.utils.cli import set_cpu_threads
    from src.utils.video import VideoWriter, render, write_gif

    threads = set_cpu_threads(cfg.get("cpu_threads"))
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name, frames, init_box, gt, fps_in = _frames(cfg)
    name = cfg.get("name") or name
    tracker = build_tracker(OmegaConf.to_container(cfg.tracker.factory, resolve=True))
    wanted = tuple(getattr(tracker, "modalities", ("visible",)))
    tracker_name = cfg.tracker.name

    rows: list[dict[str, Any]] = []
    gif_frames: list[np.ndarray] = []
    gif = cfg.gif
    e2e = model = 0.0
    limit = int(cfg.max_frames) if cfg.get("max_frames") else None
    video_path, gif_path, csv_path = (out_dir / f"{name}{s}" for s in (".mp4", ".gif", ".csv"))
    with VideoWriter(video_path, fps=float(cfg.get("video_fps") or fps_in)) as writer:
        for t, images in enumerate(frames):
            if limit is not None and t >= limit:
                break
            if t == 0:  # a tracker that reads none of the streams given: one line saying so
                try:
                    modalities_to_read(images, wanted)
                except MissingModalityError as error:
                    raise UserError(f"tracker={tracker_name} {error}") from None
            inputs = with_stand_ins(images, wanted)  # a missing stream: the other one stands in
            start = time.perf_counter()
            if t == 0:
                tracker.initialize(inputs, init_box.copy())
                box = init_box.copy()
            else:
                box = np.asarray(tracker.track(inputs), dtype=np.float64)
            seconds = time.perf_counter() - start
            truth = gt[t] if gt is not None and t < len(gt) else None
            if t > 0:
                e2e += seconds
                model += float(getattr(tracker, "last_model_time", 0.0) or 0.0)
            row = {"frame": t + 1, "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                   "seconds": seconds if t > 0 else None}
            if gt is not None:
                row.update({"gt_x": None, "gt_y": None, "gt_w": None, "gt_h": None, "iou": None})
                if truth is not None and np.all(np.isfinite(truth)):
                    row.update(dict(zip(("gt_x", "gt_y", "gt_w", "gt_h"), truth.tolist())))
                    row["iou"] = _iou(box, truth)
            rows.append(row)
            image = render(images, box, truth, label=f"{tracker_name}  #{t + 1}")
            writer.write(image)
            if gif.enabled and t % int(gif.every) == 0 and len(gif_frames) < int(gif.max_frames):
                gif_frames.append(image)
    if not rows:
        raise UserError(f"{cfg.get('video') or cfg.get('sequence')}: no frames could be read")

    with open(csv_path, "w", newline="") as handle:
        writer_csv = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer_csv.writeheader()
        for row in rows:
            writer_csv.writerow({k: ("" if v is None else round(v, 6) if isinstance(v, float) else v)
                                 for k, v in row.items()})
    if gif.enabled:
        write_gif(gif_path, gif_frames, fps=float(gif.fps), max_width=int(gif.max_width))
    tracked = len(rows) - 1
    ious = [r["iou"] for r in rows[1:] if r.get("iou") is not None and np.isfinite(r["iou"])]
    summary = {
        "name": name, "tracker": tracker_name, "frames": len(rows),
        "fps": {"e2e": tracked / e2e if tracked and e2e > 0 else None,
                "model": tracked / model if tracked and model > 0 else None},
        "cpu_threads": threads,
        "mean_iou": float(np.mean(ious)) if ious else None,
        "video": str(video_path), "gif": str(gif_path) if gif.enabled else None, "csv": str(csv_path),
    }
    (out_dir / "demo.json").write_text(json.dumps(summary, indent=2))
    fps = summary["fps"]
    print(f"{tracker_name} on {name}: {len(rows)} frames, {_fmt(fps['e2e'])} FPS (tracker call; network "
          f"forward {_fmt(fps['model'])} FPS), cpu_threads={threads}"
          + (f", mean IoU {summary['mean_iou']:.3f}" if summary["mean_iou"] is not None else ""))
    written = [video_path.name, csv_path.name] + ([gif_path.name] if gif.enabled else [])
    print(f"written to {out_dir}: {', '.join(written)}")
    return summary


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    check_inputs(cfg)
    run(cfg)


def _box_argument(arg: str) -> str:
    """``init_box=x,y,w,h`` as Hydra reads a list (a bare comma list would be a sweep)."""
    match = re.fullmatch(r"(\+?init_box)=([^\[\]'\"]+,[^\[\]'\"]+)", arg)
    return f"{match.group(1)}=[{match.group(2)}]" if match else arg


if __name__ == "__main__":
    sys.argv = [sys.argv[0]] + [_box_argument(a) for a in sys.argv[1:]]
    run_cli(main)
