"""LasHeR (Li et al., "LasHeR: a large-scale high-diversity benchmark for RGBT tracking", 2021).

Layout::

    ROOT/trainingset/<seq>/...  ROOT/testingset/<seq>/...   (or ROOT/train, ROOT/test, or flat ROOT)
    ROOT/trainingsetList.txt    ROOT/testingsetList.txt     optional sequence lists
    <seq>/visible/*.jpg, <seq>/infrared/*.jpg   naming varies between releases (v000.jpg,
                                                000001.jpg, ...): sorted by frame number
    <seq>/visible.txt, <seq>/infrared.txt       comma-separated ltwh; all-zero = target absent
    <seq>/init.txt                              (= visible.txt in the release)
    ROOT/AttriSeqsTxt/<seq>.txt                 optional: 19 comma-separated 0/1 attribute flags

``split``: ``train`` / ``test`` (the folders above), or None for a flat root. The test split is
the toolkit's 245-sequence list (``lists/lasher_test.txt``, from the rgbt toolkit); a flat root
read with ``split=test`` keeps only those sequences.
"""

from __future__ import annotations

from pathlib import Path

from src.data.readers.base import (
    AnnotationError,
    Reader,
    check_modality_lengths,
    modality_frames,
    read_boxes,
    read_flags,
    read_name_list,
    rgbt_sequence,
)
from src.data.sequence import Sequence

# LasHeR's 19 challenge attributes, in the order of its AttriSeqsTxt rows (rgbt toolkit).
LASHER_ATTRIBUTES = (
    "NO",
    "PO",
    "TO",
    "HO",
    "MB",
    "LI",
    "HI",
    "AIV",
    "LR",
    "DEF",
    "BC",
    "SA",
    "CM",
    "TC",
    "FL",
    "OV",
    "FM",
    "SV",
    "ARC",
)
TEST_LIST = Path(__file__).with_name("lists") / "lasher_test.txt"
SPLIT_FOLDERS = {
    "train": ("trainingset", "train", "TrainingSet"),
    "test": ("testingset", "test", "TestingSet"),
}
SPLIT_LISTS = {"train": "trainingsetList.txt", "test": "testingsetList.txt"}


def lasher_test_names() -> list[str]:
    """The 245 sequences of LasHeR's test split."""
    return read_name_list(TEST_LIST)


class LasHeRReader(Reader):
    name = "lasher"

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        self.base = self.root
        self.flat = True
        if split is not None:
            if split not in SPLIT_FOLDERS:
                raise ValueError(f"lasher split {split!r}: expected train, test or None")
            for folder in SPLIT_FOLDERS[split]:
                if (self.root / folder).is_dir():
                    self.base, self.flat = self.root / folder, False
                    break

    def sequence_names(self) -> list[str]:
        if self.split is not None:
            listing = self.root / SPLIT_LISTS[self.split]
            if listing.is_file():
                return read_name_list(listing)
        names = sorted(p.name for p in self.base.iterdir() if (p / "visible.txt").is_file())
        if self.flat and self.split is not None:  # one folder holding both splits
            test = set(lasher_test_names())
            names = [n for n in names if (n in test) == (self.split == "test")]
        if not names:
            raise FileNotFoundError(
                f"{self.base}: no LasHeR sequences (<seq>/visible.txt) for split {self.split!r}"
            )
        return names

    def attributes(self, name: str) -> dict[str, bool]:
        for folder in (self.root / "AttriSeqsTxt", self.base / "AttriSeqsTxt"):
            path = folder / f"{name}.txt"
            if path.is_file():
                flags = read_flags(path, expected=len(LASHER_ATTRIBUTES))
                return {code: bool(f) for code, f in zip(LASHER_ATTRIBUTES, flags)}
        return {}

    def read_sequence(self, name: str) -> Sequence:
        folder = self.base / name
        if not folder.is_dir():
            raise AnnotationError(folder, None, "sequence folder not found")
        path_v, path_i = folder / "visible.txt", folder / "infrared.txt"
        if not path_i.is_file():
            path_i = path_v
        boxes_v = read_boxes(path_v)
        boxes_i = boxes_v.copy() if path_i == path_v else read_boxes(path_i)
        check_modality_lengths(path_v, boxes_v, path_i, boxes_i)
        layout = {m: (m, m[0] + "{:06d}.jpg") for m in ("visible", "infrared")}
        annotations = {"visible": path_v, "infrared": path_i}
        frames, present = modality_frames(folder, layout, len(boxes_v), annotations)
        # an all-zero box (no width) marks the target absent: rgbt_sequence's validity rule
        return rgbt_sequence(
            name,
            frames["visible"],
            frames["infrared"],
            boxes_v,
            boxes_i,
            attributes=self.attributes(name),
            meta={"frames_present": present, "dataset": "lasher"},
        )
