"""Can a tracker find a region of a real photograph again? The simplest matching task there is.

    python scripts/probe_photo_matching.py TRACKER [TRACKER ...] --photos DIR [--per-photo 16]

TRACKER: a checkpoint or exported weights file (the learned tracker, tracked as `src.evaluate` tracks it,
mirrored views off, the box size read as predicted) or a `conf/tracker` name (`kcf_rgbt`, `csrt`, ...).
For every photo, random boxes (side 24-70 px, w/h 0.35-2.5) are the targets; the search frame is the
photo after the camera moved (a shift of up to half the box, a zoom of up to 10 %). Each tracker starts
on the box and tracks the moved frame once; the figure is the mean IoU with the moved box and the share
of cases above 0.5. The thermal slot gets the visible frame (as `src.evaluate` does for visible-only
footage).

The photos: colour photographs that no training recipe here has seen. OpenCV's sample data (Debian
`opencv-doc`, `examples/data/`, BSD-3-Clause) holds some beyond the asset pack's (`--names`' default):
`apt-get download opencv-doc && dpkg -x opencv-doc_*.deb /tmp/ocv`, then
`--photos /tmp/ocv/usr/share/doc/opencv-doc/examples/data`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.metrics.functional import iou  # noqa: E402

# OpenCV sample photographs outside the asset pack (scripts/make_world_assets.py's PHOTOS), and not a
# stereo partner or an edited copy of one inside it
HELD_OUT = ("chicky_512.png", "sudoku.png", "box.png", "left01.jpg", "left07.jpg", "left13.jpg",
            "text_defocus.jpg", "cards.png")


def cases(photos: list[np.ndarray], per_photo: int, seed: int = 0):
    """``(frame, box, moved frame, moved box)`` for each drawn case (boxes ``ltwh``)."""
    rng = np.random.default_rng(seed)
    out = []
    for image in photos:
        H, W = image.shape[:2]
        drawn = 0
        while drawn < per_photo:
            side = rng.uniform(24, 70)
            aspect = np.exp(rng.uniform(np.log(0.35), np.log(2.5)))
            w, h = side * np.sqrt(aspect), side / np.sqrt(aspect)
            if 3 * w > W or 3 * h > H:
                continue
            x, y = rng.uniform(w, W - 2 * w), rng.uniform(h, H - 2 * h)
            dx, dy = rng.uniform(-0.5, 0.5, 2) * [w, h]
            scale = np.exp(rng.uniform(-0.1, 0.1))
            cx, cy = x + w / 2, y + h / 2
            matrix = np.array([[scale, 0, cx + dx - scale * cx], [0, scale, cy + dy - scale * cy]])
            moved = cv2.warpAffine(image, matrix, (W, H), borderMode=cv2.BORDER_REFLECT)
            out.append((image, np.array([x, y, w, h]), moved,
                        np.array([cx + dx - scale * w / 2, cy + dy - scale * h / 2, scale * w, scale * h])))
            drawn += 1
    return out


def build(name: str):
    if name.endswith((".ckpt", ".pt")):
        from src.tracking.tracker import OSTrackTracker

        return OSTrackTracker.from_checkpoint(name, size_lr=1.0, hflip=False)
    from src.tracking.runner import benchmark_tracker

    return benchmark_tracker(name)


def probe(tracker, drawn) -> np.ndarray:
    ious = []
    for frame, box, moved, moved_box in drawn:
        tracker.initialize({"visible": frame, "infrared": frame}, box)
        ious.append(float(iou(tracker.track({"visible": moved, "infrared": moved}), moved_box, "continuous")))
    return np.array(ious)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trackers", nargs="+")
    parser.add_argument("--photos", required=True, type=Path, help="folder that holds the photos")
    parser.add_argument("--names", nargs="+", default=list(HELD_OUT), help="photo file names in --photos")
    parser.add_argument("--per-photo", type=int, default=16)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    photos = []
    for name in args.names:
        image = cv2.imread(str(args.photos / name), cv2.IMREAD_COLOR)
        if image is None:
            parser.error(f"{args.photos / name}: not an image (see --photos)")
        photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    drawn = cases(photos, args.per_photo)
    print(f"{len(drawn)} cases from {len(photos)} photos")
    print("| tracker | mean IoU | share IoU > 0.5 |\n|---|---:|---:|")
    for name in args.trackers:
        ious = probe(build(name), drawn)
        print(f"| {name} | {ious.mean():.3f} | {(ious > 0.5).mean():.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
