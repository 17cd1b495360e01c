"""What every benchmark reader shares: annotation parsing with file/line errors, frame listing,
count checks, and the skip-bad-sequences loop.

A reader knows one layout; everything here is layout-free. Errors are
:class:`AnnotationError` (a ``ValueError``) whose message starts ``<file>:<line>:`` (1-based line),
as compilers write it, so a user can jump straight to the bad line.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np

from src.data.sequence import INFRARED, VISIBLE, Sequence

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

# One pattern per accepted separator style; "any" splits on commas, tabs and spaces alike
# (OTB mixes them between sequences, a few RGBT234 files have ", " with a space).
SEPARATORS = {
    ",": re.compile(r"\s*,\s*"),
    "tab": re.compile(r"\t"),
    "space": re.compile(r" +"),
    "whitespace": re.compile(r"\s+"),
    "any": re.compile(r"[,\s]+"),
}


class AnnotationError(ValueError):
    """Bad benchmark input. ``path`` and ``line`` (1-based, None when the whole file is meant)."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable, as a worker process's error must be
        return type(self), (self.path, self.line, self.reason)


def read_lines(path: Path) -> list[str]:
    """Lines of a text file without line ends; a trailing empty line (final newline) is not a
    line. A missing file is an AnnotationError naming it."""
    if not path.is_file():
        raise AnnotationError(path, None, "annotation file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # some Windows-made lists carry a BOM
    except UnicodeDecodeError as error:
        raise AnnotationError(path, None, f"not a text file ({error})") from None
    # read_text has made every \r\n and \r a \n: lines end there only, as an editor numbers them
    # (str.splitlines would also end one at a form feed, \x1c-\x1e, \x85 or \u2028, shifting the numbers)
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_rows(
    path: Path,
    lines: list[str],
    columns: Collection[int],
    separator: str = "any",
    *,
    allow_nan: bool = False,
    skip_empty: bool = False,
    first_line: int = 1,
    expected: str | None = None,
    not_a_number: str = "field {col} is not a number: {field!r}",
) -> tuple[list[list[float]], list[int]]:
    """The numbers of a text table, a row a line, and each row's 1-based line number: how annotation
    files (:func:`parse_numbers`) and raw result files (``src.tracking.runner.read_box_file``) are read.

    A line holds one of ``columns`` field counts, split by ``separator``. Every malformed line raises
    :class:`AnnotationError` with its line number: an empty line (unless ``skip_empty``: then it is
    passed over), a wrong field count (``expected`` says what a line holds; default ``N fields``), a
    field that is not a number (``not_a_number``, formatted with the field's 1-based ``col``, the
    ``field`` and the line's ``text``), NaN/inf (unless ``allow_nan``).
    """
    pattern = SEPARATORS[separator]
    if expected is None:
        expected = " or ".join(str(c) for c in columns) + " fields"
    rows, numbers = [], []
    for index, raw in enumerate(lines):
        number = index + first_line
        text = raw.strip()
        if not text:
            if skip_empty:
                continue
            raise AnnotationError(path, number, "empty line inside the annotation")
        fields = [f for f in pattern.split(text) if f != ""]
        if len(fields) not in columns:
            raise AnnotationError(path, number, f"expected {expected}, found {len(fields)}: {text!r}")
        row = []
        for col, field_text in enumerate(fields, start=1):
            try:
                value = float(field_text)
            except ValueError:
                raise AnnotationError(
                    path, number, not_a_number.format(col=col, field=field_text, text=text)
                ) from None
            if not allow_nan and not math.isfinite(value):
                raise AnnotationError(path, number, f"field {col} is {field_text!r} (not a finite number)")
            row.append(value)
        rows.append(row)
        numbers.append(number)
    return rows, numbers


def parse_numbers(
    path: Path,
    columns: int = 4,
    separator: str = "any",
    allow_nan: bool = False,
    first_line: int = 1,
    lines: list[str] | None = None,
) -> np.ndarray:
    """Parse a numeric table (one row per line, ``columns`` fields) into ``[N, columns]`` float64.

    Every malformed line raises :class:`AnnotationError` with its 1-based line number: wrong
    field count, a non-numeric field, NaN/inf (unless ``allow_nan``), an empty line in the middle
    (:func:`parse_rows`). ``lines`` may be given when the caller already read the file.
    """
    lines = read_lines(path) if lines is None else lines
    rows, _ = parse_rows(path, lines, (columns,), separator, allow_nan=allow_nan, first_line=first_line)
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def check_boxes(path: Path, boxes: np.ndarray, first_line: int = 1) -> None:
    """Negative width or height is an error (zero is a legal 'target absent' marker)."""
    bad = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(bad):
        row = int(bad[0])
        raise AnnotationError(
            path, row + first_line, f"negative box size (w={boxes[row, 2]:g}, h={boxes[row, 3]:g})"
        )


def read_boxes(path: Path, separator: str = "any", allow_nan: bool = False) -> np.ndarray:
    """``[T, 4]`` ltwh boxes from a one-box-per-line file, validated."""
    boxes = parse_numbers(path, 4, separator, allow_nan)
    if len(boxes) == 0:
        raise AnnotationError(path, 1, "annotation file is empty")
    check_boxes(path, boxes)
    return boxes


def read_flags(path: Path, expected: int | None = None, separator: str = "any") -> np.ndarray:
    """A 0/1 (or integer-valued) label file: one value per line, or all on one line
    (LaSOT's ``full_occlusion.txt`` is comma-separated on a single line)."""
    lines = read_lines(path)
    values: list[float] = []
    for index, raw in enumerate(lines):
        text = raw.strip()
        if not text:
            raise AnnotationError(path, index + 1, "empty line")
        for field_text in SEPARATORS[separator].split(text):
            if field_text == "":
                continue
            try:
                value = float(field_text)
            except ValueError:
                raise AnnotationError(path, index + 1, f"not a number: {field_text!r}") from None
            if not math.isfinite(value):
                raise AnnotationError(path, index + 1, f"{field_text!r} is not a finite number")
            values.append(value)
    flags = np.asarray(values, dtype=np.float64)
    if expected is not None and len(flags) != expected:
        line = min(len(lines), expected) + 1 if len(lines) > 1 else 1
        raise AnnotationError(path, line, f"holds {len(flags)} values, expected {expected} (one per frame)")
    return flags


def read_name_list(path: Path) -> list[str]:
    """A list file: one sequence name per line, blank lines and surrounding spaces ignored."""
    names = [line.strip() for line in read_lines(path)]
    return [n for n in names if n]


def frame_number(path: Path) -> tuple[int, str]:
    """Sort key: the last run of digits in the stem (``v000012.jpg``, ``00012i.bmp``, ``12.png``)."""
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


def list_frames(folder: Path) -> list[Path] | None:
    """Image files of a frame folder sorted by frame number, or None when the folder is absent
    (annotation-only toolkits). Numeric sort, not lexicographic: LasHeR mixes ``v000.jpg`` with
    ``000001.jpg`` naming across releases and ``v10.jpg`` must follow ``v9.jpg``. The numbers must
    run without gaps and every image must carry one (AnnotationError naming the file otherwise)."""
    if not folder.is_dir():
        return None
    frames = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    frames.sort(key=frame_number)
    stray = next((p for p in frames if frame_number(p)[0] < 0), None)
    if stray is not None:  # e.g. a thumb.jpg, which would otherwise pass for the first frame
        raise AnnotationError(stray, None, "not a numbered frame (no digits in its name): move it out "
                                           "of the frame folder")
    numbers = [frame_number(p)[0] for p in frames]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise AnnotationError(folder, None, f"two frames carry the number {dup}: cannot order the frames")
    for before, after, a, b in zip(frames, frames[1:], numbers, numbers[1:]):
        if b != a + 1:  # a missing frame would shift every later frame against its annotation
            missing = f"frame {a + 1} is" if b == a + 2 else f"frames {a + 1}-{b - 1} are"
            raise AnnotationError(after, None, f"frame numbers jump from {a} ({before.name}) to {b}: "
                                               f"{missing} missing")
    return frames


def check_frame_count(frames: list[Path] | None, count: int, annotation: Path, folder: Path) -> None:
    """Frames and annotation lines must pair up one to one (never a silent truncation)."""
    if frames is None or len(frames) == count:
        return
    if len(frames) < count:
        raise AnnotationError(
            annotation,
            len(frames) + 1,
            f"{count} annotated frames but only {len(frames)} images in {folder} (this line has no frame)",
        )
    raise AnnotationError(
        annotation,
        None,
        f"{count} annotated frames but {len(frames)} images in {folder} "
        f"(frame {count + 1}, {frames[count].name}, has no annotation)",
    )


def check_images(frames: Iterable[Path]) -> None:
    """Decode every image as training and tracking will (``read_image``: truncated JPEGs included); an
    unreadable one is an AnnotationError."""
    from src.data.transforms import ImageReadError, read_image

    for path in frames:
        try:
            read_image(path)
        except ImageReadError as error:
            reason = str(error).removeprefix(f"{path}: ")
            raise AnnotationError(path, None, f"unreadable image ({reason})") from None


def check_modality_lengths(path_v: Path, boxes_v: np.ndarray, path_i: Path, boxes_i: np.ndarray) -> None:
    """Visible and infrared ground truths must have one box per frame each; the error names the
    longer file and its first line without a partner."""
    if len(boxes_v) == len(boxes_i):
        return
    shorter, longer = (path_v, path_i) if len(boxes_v) < len(boxes_i) else (path_i, path_v)
    raise AnnotationError(
        longer,
        min(len(boxes_v), len(boxes_i)) + 1,
        f"{len(boxes_v)} lines in {path_v.name} but {len(boxes_i)} in {path_i.name}: the modalities "
        f"must have one box per frame each (this line has no partner in {shorter.name})",
    )


def modality_frames(
    folder: Path, layout: dict[str, tuple[str, str]], count: int, annotations: dict[str, Path]
) -> tuple[dict[str, list[Path]], bool]:
    """Frame paths of each modality of an RGB-T sequence and whether the frame folders exist.

    ``layout``: modality -> (sub-folder, file-name pattern used to name the frames when the folder
    is absent, e.g. ``"v{:06d}.jpg"``). A folder whose frame count differs from ``count`` is an
    error naming ``annotations[modality]``.
    """
    frames, present = {}, True
    for modality, (sub, pattern) in layout.items():
        listed = list_frames(folder / sub)
        check_frame_count(listed, count, annotations[modality], folder / sub)
        present &= listed is not None
        frames[modality] = listed if listed is not None else expected_frames(folder / sub, count, pattern)
    return frames, present


def box_valid(boxes: np.ndarray) -> np.ndarray:
    """``[T]`` bool: finite box with positive width and height."""
    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def expected_frames(folder: Path, count: int, pattern: str) -> list[Path]:
    """Frame paths following the benchmark's naming, for annotation-only copies (not on disk)."""
    return [folder / pattern.format(i) for i in range(1, count + 1)]


def split_root(root: Path, split: str | None) -> Path:
    """ROOT for ``split=None``, else ROOT/<split> (which must exist)."""
    if split is None:
        return root
    folder = root / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: split folder not found (this benchmark's splits are the "
            f"folders under {root}; use split=None/null to read {root} itself)"
        )
    return folder


def listed_or_found(base: Path, listings: Iterable[Path], markers: Iterable[str]) -> list[str]:
    """Sequence names from the first listing file that exists, else the sorted sub-folders of ``base``
    holding one of the ``markers`` files. FileNotFoundError (naming ``base``) when there are none."""
    for listing in listings:
        if listing.is_file():
            return read_name_list(listing)
    markers = tuple(markers)
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and any((p / m).is_file() for m in markers))
    if not names:
        raise FileNotFoundError(f"{base}: no sequence folders with {' or '.join(markers)}")
    return names


class Reader:
    """Base of every benchmark reader.

    Args:
        root: the benchmark root (the folder holding the sequences or the split folders).
        split: which part to read; what it means is the layout's (see each reader).
        skip_bad: skip sequences whose files are bad instead of raising; they are listed in
            ``self.skipped`` (``[(name, message)]``) and in a warning after ``sequences()``.
        check_images: open every frame once (slow; catches unreadable images up front).
        sequence_names: read only these sequences (all when None).
    """

    name = "base"

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        skip_bad: bool = False,
        check_images: bool = False,
        sequence_names: list[str] | None = None,
    ):
        self.root = Path(root).expanduser()
        self.split = split
        self.skip_bad = skip_bad
        self.check_images = check_images
        self.only = list(sequence_names) if sequence_names is not None else None
        self.skipped: list[tuple[str, str]] = []
        if not self.root.exists():
            raise FileNotFoundError(f"{self.root}: dataset root not found (set data.root=...)")

    # -- what a layout implements -------------------------------------------------------
    def sequence_names(self) -> list[str]:
        raise NotImplementedError

    def read_sequence(self, name: str) -> Sequence:
        raise NotImplementedError

    def subsets(self) -> dict[str, list[str]]:
        """Named lists of sequence names (``normal``, ``extreme``...); empty when none."""
        return {}

    # -- shared ----------------------------------------------------------------------------
    def sequences(self) -> list[Sequence]:
        names = self.sequence_names()
        if self.only is not None:
            missing = sorted(set(self.only) - set(names))
            if missing:
                raise KeyError(f"{self.root}: no sequence named {missing[:5]} in split {self.split!r}")
            names = [n for n in names if n in set(self.only)]
        out: list[Sequence] = []
        self.skipped = []
        for name in names:
            try:
                sequence = self.read_sequence(name)
                if self.check_images:
                    for frames in sequence.frames.values():
                        check_images(frames)
            except AnnotationError as error:
                if not self.skip_bad:
                    raise
                self.skipped.append((name, str(error)))
                continue
            out.append(sequence)
        if self.skipped:
            listing = "\n".join(f"  {name}: {message}" for name, message in self.skipped)
            log.warning("%s: skipped %d bad sequence(s):\n%s", self.root, len(self.skipped), listing)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r})"


def rgbt_sequence(
    name: str,
    frames_v: list[Path],
    frames_i: list[Path],
    boxes_v: np.ndarray,
    boxes_i: np.ndarray,
    attributes: dict | None = None,
    meta: dict | None = None,
    valid: np.ndarray | None = None,
) -> Sequence:
    """Assemble a two-modality Sequence; valid = annotated with a positive box in either
    modality (MPR/MSR take the better modality per frame)."""
    if valid is None:
        valid = box_valid(boxes_v) | box_valid(boxes_i)
    return Sequence(
        name=name,
        frames={VISIBLE: frames_v, INFRARED: frames_i},
        boxes={VISIBLE: boxes_v, INFRARED: boxes_i},
        valid=valid,
        attributes=attributes or {},
        meta=meta or {},
    )
