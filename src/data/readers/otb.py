"""OTB-100 (Wu et al., "Object tracking benchmark", TPAMI 2015), visible only.

Layout::

    ROOT/<Seq>/img/0001.jpg ...
    ROOT/<Seq>/groundtruth_rect.txt      ltwh; comma, tab or space separated (varies by sequence)
    ROOT/<Seq>/groundtruth_rect.1.txt    two-target sequences (Jogging, Skating2): .1 and .2,
    ROOT/<Seq>/groundtruth_rect.2.txt    read as sequences "Jogging-1", "Jogging-2" (OTB's names)

Frame-range exceptions (the benchmark's own table, also in the got10k toolkit): David uses
frames 300-770, Football1 1-74, Freeman3 1-460, Freeman4 1-283, Diving 1-215; the other images in
their folders are not annotated. An empty ground-truth file next to a non-empty one (Human4's
``.1``) is ignored, as the toolkits do.
"""

from __future__ import annotations

from pathlib import Path

from src.data.readers.base import (
    AnnotationError,
    Reader,
    box_valid,
    check_frame_count,
    frame_number,
    list_frames,
    read_boxes,
    read_lines,
    split_root,
)
from src.data.sequence import VISIBLE, Sequence

# sequence -> (first, last) 1-based frame numbers that the ground truth covers
FRAME_RANGES = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
}


class OTBReader(Reader):
    name = "otb100"

    def __init__(self, root, split=None, **options):
        super().__init__(root, split, **options)
        self.base = split_root(self.root, split)
        self._targets: dict[str, tuple[Path, Path]] | None = None

    def targets(self) -> dict[str, tuple[Path, Path]]:
        """sequence name -> (sequence folder, ground-truth file)."""
        if self._targets is not None:
            return self._targets
        targets = {}
        for folder in sorted(p for p in self.base.iterdir() if p.is_dir()):
            files = sorted(folder.glob("groundtruth_rect*.txt"))
            files = [f for f in files if read_lines(f)] or files  # drop empty ones beside real ones
            if len(files) == 1:
                targets[folder.name] = (folder, files[0])
            else:
                for index, path in enumerate(files, start=1):
                    targets[f"{folder.name}-{index}"] = (folder, path)
        self._targets = targets
        return targets

    def sequence_names(self) -> list[str]:
        names = list(self.targets())
        if not names:
            raise FileNotFoundError(f"{self.base}: no OTB sequences (<Seq>/groundtruth_rect.txt)")
        return names

    def read_sequence(self, name: str) -> Sequence:
        if name not in self.targets():
            raise AnnotationError(self.base / name, None, "sequence not found")
        folder, annotation = self.targets()[name]
        boxes = read_boxes(annotation)  # comma, tab or space
        first, last = FRAME_RANGES.get(folder.name, (1, None))
        frames = list_frames(folder / "img")
        if frames is not None and folder.name in FRAME_RANGES:
            frames = [f for f in frames if first <= frame_number(f)[0] <= last]
        check_frame_count(frames, len(boxes), annotation, folder / "img")
        if frames is None:
            frames = [folder / "img" / f"{first + i:04d}.jpg" for i in range(len(boxes))]
        return Sequence(
            name=name,
            frames={VISIBLE: frames},
            boxes={VISIBLE: boxes},
            valid=box_valid(boxes),
            meta={"frames_present": (folder / "img").is_dir(), "dataset": "otb100", "first_frame": first},
        )
