"""Frames in and out for the demo: read a video file or a frame folder, draw boxes, write an MP4 and a
small GIF preview. Frames are ``[H, W, 3]`` uint8 RGB everywhere (as :func:`src.data.transforms.read_image`
returns them); OpenCV's BGR stays inside this module."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from src.data.transforms import read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

# RGB colours: the prediction green, the ground truth white (the legend in docs/evaluation.md)
PREDICTION = (40, 230, 40)
GROUND_TRUTH = (255, 255, 255)


def frame_paths(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, in name order."""
    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return paths


def read_frames(source: str | Path | Sequence[Path]) -> Iterator[np.ndarray]:
    """RGB frames of a video file, a frame folder or a list of image paths, one at a time."""
    if not isinstance(source, (str, Path)):
        for path in source:
            yield read_image(path)
        return
    source = Path(source)
    if source.is_dir():
        yield from read_frames(frame_paths(source))
        return
    if source.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{source}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a frame folder")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise OSError(f"{source}: cannot open the video")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def video_fps(source: str | Path, default: float = 25.0) -> float:
    """The frame rate a video file declares (``default`` for frame folders and unknown rates)."""
    source = Path(source)
    if source.is_dir():
        return default
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    capture.release()
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else default


def draw_box(image: np.ndarray, box_ltwh, color: tuple[int, int, int], thickness: int = 2) -> None:
    """Draw an ``ltwh`` box into ``image`` in place (nothing for a NaN box)."""
    box = np.asarray(box_ltwh, dtype=np.float64)
    if not np.all(np.isfinite(box)):
        return
    x, y, w, h = box
    cv2.rectangle(image, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), color,
                  thickness)


def render(frames: dict[str, np.ndarray], prediction, ground_truth=None, label: str = "") -> np.ndarray:
    """One output frame: the modalities side by side (visible first), each with the predicted box
    (green) and the ground truth (white) where there is one, ``label`` in the top-left corner."""
    panels = []
    for name in sorted(frames, key=lambda m: m != "visible"):
        panel = np.ascontiguousarray(frames[name]).copy()
        if ground_truth is not None:
            draw_box(panel, ground_truth, GROUND_TRUTH, 1)
        draw_box(panel, prediction, PREDICTION, 2)
        panels.append(panel)
    height = max(p.shape[0] for p in panels)
    panels = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in panels]
    image = np.concatenate(panels, axis=1)
    if label:
        cv2.putText(image, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
    return image


class VideoWriter:
    """MP4 writer (``mp4v``) for RGB frames; the size is taken from the first frame."""

    def __init__(self, path: str | Path, fps: float = 25.0):
        self.path, self.fps = Path(path), float(fps)
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (width, height))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write an mp4v video here")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_gif(path: str | Path, frames: Sequence[np.ndarray], fps: float = 12.0, max_width: int = 480,
              colors: int = 64) -> Path:
    """A small looping GIF preview (Pillow): frames scaled to at most ``max_width`` pixels wide and
    reduced to ``colors`` colours, so a few seconds of video stay well under a megabyte."""
    from PIL import Image

    if not frames:
        raise ValueError("write_gif: no frames")
    images = []
    for frame in frames:
        image = Image.fromarray(frame)
        if image.width > max_width:
            image = image.resize((max_width, round(image.height * max_width / image.width)),
                                 Image.Resampling.BILINEAR)
        images.append(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=colors))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0,
                   optimize=True)
    return path
