"""LaSOT (Fan et al., "LaSOT: a high-quality benchmark for large-scale single object tracking",
2019), visible only.

Layout::

    ROOT/<class>/<class>-<N>/img/00000001.jpg ...
    ROOT/<class>/<class>-<N>/groundtruth.txt      comma-separated ltwh, one line per frame
    ROOT/<class>/<class>-<N>/full_occlusion.txt   comma-separated 0/1 on one line
    ROOT/<class>/<class>-<N>/out_of_view.txt
    ROOT/testing_set.txt, ROOT/training_set.txt   optional: the protocol-II split lists

``split``: ``test`` / ``train`` read the names in the matching list file; None (or no list file)
reads every sequence. Frames under full occlusion or out of view are not valid.
"""

from __future__ import annotations

from pathlib import Path

from src.data.readers.base import (
    AnnotationError,
    Reader,
    box_valid,
    check_frame_count,
    expected_frames,
    list_frames,
    read_boxes,
    read_flags,
    read_name_list,
)
from src.data.sequence import VISIBLE, Sequence

SPLIT_LISTS = {"test": "testing_set.txt", "train": "training_set.txt"}


def class_of(name: str) -> str:
    return name.rsplit("-", 1)[0]


class LaSOTReader(Reader):
    name = "lasot"

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        if split is not None and split not in SPLIT_LISTS:
            raise ValueError(f"lasot split {split!r}: expected train, test or None")

    def sequence_names(self) -> list[str]:
        if self.split is not None and (self.root / SPLIT_LISTS[self.split]).is_file():
            return read_name_list(self.root / SPLIT_LISTS[self.split])
        names = sorted(p.parent.name for p in self.root.glob("*/*/groundtruth.txt"))
        if not names:
            raise FileNotFoundError(f"{self.root}: no LaSOT sequences (<class>/<class>-N/groundtruth.txt)")
        return names

    def folder(self, name: str) -> Path:
        return self.root / class_of(name) / name

    def read_sequence(self, name: str) -> Sequence:
        folder = self.folder(name)
        if not folder.is_dir():
            raise AnnotationError(folder, None, "sequence folder not found")
        annotation = folder / "groundtruth.txt"
        boxes = read_boxes(annotation)
        frames = list_frames(folder / "img")
        check_frame_count(frames, len(boxes), annotation, folder / "img")
        valid = box_valid(boxes)
        attributes = {}
        for label in ("full_occlusion", "out_of_view"):
            path = folder / f"{label}.txt"
            if path.is_file():
                attributes[label] = read_flags(path, expected=len(boxes), separator="any") > 0
                valid &= ~attributes[label]
        return Sequence(
            name=name,
            frames={
                VISIBLE: frames
                if frames is not None
                else expected_frames(folder / "img", len(boxes), "{:08d}.jpg")
            },
            boxes={VISIBLE: boxes},
            valid=valid,
            attributes=attributes,
            meta={"frames_present": frames is not None, "dataset": "lasot", "class": class_of(name)},
        )
