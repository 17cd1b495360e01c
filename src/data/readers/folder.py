"""Your own footage (the seed's "self" set): one folder per sequence.

Layout::

    ROOT/[SPLIT/]<seq>/visible/*.jpg|png|bmp   frames, sorted by the number in the file name
                                               (``img/`` or images directly in <seq>/ work too)
    ROOT/[SPLIT/]<seq>/infrared/*.jpg          optional: thermal frames, same count; alone (no
                                               visible frames) for thermal-only footage, whose
                                               boxes are then the thermal ones
    ROOT/[SPLIT/]<seq>/groundtruth.txt         dense: one ltwh box per frame (comma/tab/space)
    ROOT/[SPLIT/]<seq>/groundtruth_sparse.txt  or sparse: "frame x y w h" lines, frame = 1-based
                                               index; frames without a line are unannotated
    ROOT/[SPLIT/]<seq>/groundtruth_infrared.txt  optional dense thermal boxes (else the visible ones)

A box with zero width or height marks the target absent. ``split``: None reads ROOT, a name reads
ROOT/<name>.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data.readers.base import (
    IMAGE_SUFFIXES,
    AnnotationError,
    Reader,
    box_valid,
    check_boxes,
    check_frame_count,
    expected_frames,
    list_frames,
    listed_or_found,
    parse_numbers,
    read_boxes,
    read_lines,
    split_root,
)
from src.data.sequence import INFRARED, VISIBLE, Sequence

GT_FILES = ("groundtruth.txt", "groundtruth_sparse.txt")
# Without a frame folder a sparse annotation's largest frame number is the sequence length: this bound
# (over 9 hours at 30 fps) stops a typo (1e12) from allocating a box for every frame up to it.
MAX_SPARSE_FRAMES = 1_000_000


def read_sparse(path: Path, count: int | None) -> np.ndarray:
    """``[T, 4]`` with NaN rows for unannotated frames, from "frame x y w h" lines."""
    lines = read_lines(path)
    rows = parse_numbers(path, 5, "any", lines=lines)
    if len(rows) == 0:
        raise AnnotationError(path, 1, "annotation file is empty")
    index = rows[:, 0]
    bad = np.flatnonzero((index < 1) | (index != np.round(index)))
    if len(bad):
        raise AnnotationError(
            path, int(bad[0]) + 1, f"frame number {index[bad[0]]:g} is not a 1-based integer"
        )
    over = np.flatnonzero(index > (count if count is not None else MAX_SPARSE_FRAMES))
    if len(over):
        frame, line = index[over[0]], int(over[0]) + 1
        if count is not None:
            raise AnnotationError(path, line, f"frame {int(frame)} but the sequence has {count} frames")
        raise AnnotationError(path, line, f"frame {frame:g} is beyond {MAX_SPARSE_FRAMES} frames (no frame "
                                          "folder to count the frames: a typo?)")
    seen: dict[int, int] = {}
    for line, frame in enumerate(index.astype(int), start=1):
        if frame in seen:
            raise AnnotationError(path, line, f"frame {frame} annotated twice (first on line {seen[frame]})")
        seen[frame] = line
    check_boxes(path, rows[:, 1:])
    total = count if count is not None else int(index.max())
    boxes = np.full((total, 4), np.nan)
    boxes[index.astype(int) - 1] = rows[:, 1:]
    return boxes


class FolderReader(Reader):
    name = "folder"

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        self.base = split_root(self.root, split)

    def sequence_names(self) -> list[str]:
        return listed_or_found(self.base, [], GT_FILES)

    @staticmethod
    def visible_folder(folder: Path) -> Path | None:
        for sub in ("visible", "img"):
            if (folder / sub).is_dir():
                return folder / sub
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            return folder
        return None

    def read_sequence(self, name: str) -> Sequence:
        folder = self.base / name
        vis_dir = self.visible_folder(folder)
        frames_v = list_frames(vis_dir) if vis_dir is not None else None
        infrared = list_frames(folder / "infrared")
        thermal_only = frames_v is None and infrared is not None
        # the stream the annotation is counted against: visible, or the thermal one of thermal-only footage
        counted, counted_dir = (infrared, folder / "infrared") if thermal_only else (frames_v, vis_dir)
        dense, sparse = folder / GT_FILES[0], folder / GT_FILES[1]
        if dense.is_file():
            annotation = dense
            boxes = read_boxes(dense)
            check_frame_count(counted, len(boxes), dense, counted_dir or folder)
        elif sparse.is_file():
            annotation = sparse
            boxes = read_sparse(sparse, len(counted) if counted is not None else None)
        else:
            raise AnnotationError(folder, None, f"no {' or '.join(GT_FILES)}")
        count = len(boxes)
        if thermal_only:
            frames, all_boxes = {INFRARED: infrared}, {INFRARED: boxes}
        else:
            if frames_v is None:
                frames_v = expected_frames(folder / "visible", count, "{:06d}.jpg")
            frames, all_boxes = {VISIBLE: frames_v}, {VISIBLE: boxes}
        if infrared is not None and not thermal_only:
            check_frame_count(infrared, count, annotation, folder / "infrared")
            frames[INFRARED] = infrared
            path_i = folder / "groundtruth_infrared.txt"
            if path_i.is_file():
                boxes_i = read_boxes(path_i)
                if len(boxes_i) != count:
                    raise AnnotationError(
                        path_i,
                        min(len(boxes_i), count) + 1,
                        f"{len(boxes_i)} thermal boxes for {count} frames",
                    )
                all_boxes[INFRARED] = boxes_i
            else:
                all_boxes[INFRARED] = boxes.copy()
        valid = np.zeros(count, bool)
        for b in all_boxes.values():
            valid |= box_valid(b)
        return Sequence(
            name=name,
            frames=frames,
            boxes=all_boxes,
            valid=valid,
            meta={"frames_present": counted is not None, "dataset": "folder", "sparse": annotation == sparse},
        )
