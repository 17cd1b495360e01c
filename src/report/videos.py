"""Videos of the sequences a tracker did worst on: ``python -m src.evaluate ... videos.worst=N``.

Each video shows the modalities side by side (visible first), the prediction in green and the ground truth
in white (:func:`src.utils.video.render`), one output frame per sequence frame, as an MP4 and, optionally, a
short GIF preview. The sequences are ranked by one per-sequence figure of the report (``videos.metric``):
for a score (MSR, MPR, AOR, SR@t) the lowest is the worst, for an error (APE, miss_count, max_ratio) the
highest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src.utils.cli import UserError

log = logging.getLogger(__name__)

# per-sequence figures where a larger value is worse
ERRORS = ("APE", "miss_count", "max_ratio")
VIDEOS_DIR = "videos"


def worst_sequences(report: Mapping[str, Any], n: int, metric: str = "MSR") -> list[str]:
    """The names of the ``n`` worst sequences of ``report`` by ``metric`` (ties: report order)."""
    rows = [r for r in report.get("sequences") or [] if r.get(metric) is not None]
    if report.get("sequences") and not any(metric in r for r in report["sequences"]):
        known = sorted(k for k, v in report["sequences"][0].items() if isinstance(v, (int, float)))
        raise UserError(f"videos.metric={metric}: not a per-sequence figure (known: {', '.join(known)})")
    sign = -1.0 if metric in ERRORS else 1.0
    ranked = sorted(rows, key=lambda r: sign * float(r[metric]))
    return [r["name"] for r in ranked[:max(0, int(n))]]


def write_sequence_video(seq: Any, boxes: np.ndarray, out_dir: Path, label: str, fps: float = 25.0,
                         gif: bool = True, gif_every: int = 2, gif_frames: int = 60) -> dict[str, Path]:
    """``<out_dir>/<sequence>.mp4`` (every frame) and ``.gif`` (every ``gif_every``-th, at most
    ``gif_frames``) of ``boxes`` ([T, 4] ltwh) over ``seq``'s frames with its ground truth."""
    from src.data.transforms import read_image
    from src.utils.video import VideoWriter, render, write_gif

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"mp4": out_dir / f"{seq.name}.mp4"}
    preview = []
    gt = seq.gt
    with VideoWriter(paths["mp4"], fps=fps) as writer:
        for t in range(len(seq)):
            frames = {m: read_image(seq.frames[m][t]) for m in seq.modalities}
            image = render(frames, boxes[t], gt[t] if t < len(gt) else None, label=f"{label}  #{t + 1}")
            writer.write(image)
            if gif and t % gif_every == 0 and len(preview) < gif_frames:
                preview.append(image)
    if gif:
        paths["gif"] = write_gif(out_dir / f"{seq.name}.gif", preview, fps=fps / gif_every)
    return paths


def write_worst_videos(report: Mapping[str, Any], sequences: Sequence[Any], results: Mapping[str, np.ndarray],
                       out_dir: str | Path, n: int, metric: str = "MSR", gif: bool = True) -> list[Path]:
    """Videos of the ``n`` worst sequences of ``report`` into ``out_dir/videos/``; returns the MP4 paths."""
    by_name = {s.name: s for s in sequences}
    written = []
    for name in worst_sequences(report, n, metric):
        seq = by_name.get(name)
        if seq is None or name not in results:
            continue
        if not all(seq.frames.get(m) for m in seq.modalities):  # score-only mode on annotations alone
            log.warning("videos: %s has no frames here, no video", name)
            continue
        row = next(r for r in report["sequences"] if r["name"] == name)
        label = f"{report.get('tracker')} {name} {metric} {float(row[metric]):.3f}"
        paths = write_sequence_video(seq, np.asarray(results[name]), Path(out_dir) / VIDEOS_DIR, label,
                                     gif=gif)
        written.append(paths["mp4"])
    return written
