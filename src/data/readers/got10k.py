"""GOT-10k (Huang et al., "GOT-10k: a large high-diversity benchmark for generic object tracking
in the wild", 2019), visible only.

Layout (as the got10k toolkit reads it)::

    ROOT/{train,val,test}/list.txt              sequence names, one per line
    ROOT/<split>/<seq>/00000001.jpg ...
    ROOT/<split>/<seq>/groundtruth.txt          comma-separated ltwh; the test split has the first box only
    ROOT/<split>/<seq>/absence.label            1 = target absent in that frame (train/val)
    ROOT/<split>/<seq>/cover.label              0..8 visible fraction class (train/val)
    ROOT/<split>/<seq>/cut_by_image.label
    ROOT/<split>/<seq>/meta_info.ini            "key: value" lines (resolution, object class, ...)

Unannotated frames (test split after frame 1) are NaN rows, not valid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data.readers.base import (
    AnnotationError,
    Reader,
    box_valid,
    check_frame_count,
    expected_frames,
    list_frames,
    listed_or_found,
    read_boxes,
    read_flags,
    read_lines,
    split_root,
)
from src.data.sequence import VISIBLE, Sequence


def read_meta_info(path: Path) -> dict[str, str]:
    """``meta_info.ini``: a ``[METAINFO]`` header, then ``key: value`` lines."""
    meta = {}
    for number, line in enumerate(read_lines(path), start=1):
        text = line.strip()
        if not text or text.startswith("["):
            continue
        if ":" not in text:
            raise AnnotationError(path, number, f"expected 'key: value', got {text!r}")
        key, value = text.split(":", 1)
        meta[key.strip()] = value.strip()
    return meta


class GOT10kReader(Reader):
    name = "got10k"

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        self.base = split_root(self.root, split)

    def sequence_names(self) -> list[str]:
        return listed_or_found(self.base, [self.base / "list.txt"], ["groundtruth.txt"])

    def read_sequence(self, name: str) -> Sequence:
        folder = self.base / name
        annotation = folder / "groundtruth.txt"
        boxes = read_boxes(annotation)
        frames = list_frames(folder)
        first_only = self.split == "test" or (len(boxes) == 1 and frames is not None and len(frames) > 1)
        if first_only:
            # the test split publishes the first box only: the rest are unannotated, not absent
            count = len(frames) if frames is not None else 1
            full = np.full((count, 4), np.nan)
            full[: len(boxes)] = boxes[:count]
            if len(boxes) > count:
                raise AnnotationError(annotation, count + 1, f"{len(boxes)} boxes but {count} frames")
            boxes = full
        else:
            check_frame_count(frames, len(boxes), annotation, folder)
        count = len(boxes)
        valid = box_valid(boxes)
        attributes: dict = {}
        for label in ("absence", "cover", "cut_by_image"):
            path = folder / f"{label}.label"
            if path.is_file() and not first_only:
                attributes[label] = read_flags(path, expected=count)
        if "absence" in attributes:
            valid &= attributes["absence"] == 0
        if "cover" in attributes:
            valid &= attributes["cover"] > 0  # cover 0: fully occluded
        meta = {"frames_present": frames is not None, "dataset": "got10k", "first_box_only": first_only}
        if (folder / "meta_info.ini").is_file():
            meta.update(read_meta_info(folder / "meta_info.ini"))
        return Sequence(
            name=name,
            frames={VISIBLE: frames if frames is not None else expected_frames(folder, count, "{:08d}.jpg")},
            boxes={VISIBLE: boxes},
            valid=valid,
            attributes=attributes,
            meta=meta,
        )
