"""Writing the benchmark in the RGBT234 layout: one sequence per job (worker processes), the split
lists and attribute files, the ``synthetic.json`` marker last (its presence marks a complete
benchmark), and :func:`ensure`, which generates under a lock when several processes ask at once."""

from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig

from src.data.synthetic.scene import ATTRIBUTES, EXTREME, draw_scene, resolve_config

log = logging.getLogger(__name__)

MARKER = "synthetic.json"
FORMAT_VERSION = 2


def default_root() -> Path:
    return (
        Path(os.environ.get("PROJECT_ROOT", Path(__file__).resolve().parents[3])) / "data" / "synthetic_rgbt"
    )


def sequence_name(split: str, index: int) -> str:
    return f"{split}_{index:03d}"


def write_boxes(path: Path, boxes: np.ndarray) -> None:
    path.write_text("".join(f"{int(b[0])},{int(b[1])},{int(b[2])},{int(b[3])}\n" for b in boxes))


def render_sequence(job: dict) -> dict:
    """Draw and write one sequence; returns its name, split, attributes and misregistration."""
    cfg, split, index, folder = job["cfg"], job["split"], job["index"], Path(job["folder"])
    split_id = {"train": 0, "val": 1, "test": 2}.get(split, 3 + sum(map(ord, split)))
    rng = np.random.default_rng([int(cfg["seed"]), split_id, index])
    T = int(job["frames"])
    scene = draw_scene(cfg, rng, split, index, T, job["sequences"])
    attrs = scene.attrs
    (folder / "visible").mkdir(parents=True, exist_ok=True)
    (folder / "infrared").mkdir(parents=True, exist_ok=True)
    boxes = np.zeros((T, 4), np.int64)
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(cfg["jpeg_quality"])]
    for t in range(T):
        frame_v, frame_t, boxes[t] = scene.frame(t, rng)
        cv2.imwrite(
            str(folder / "visible" / f"{t + 1:05d}v.jpg"), cv2.cvtColor(frame_v, cv2.COLOR_RGB2BGR), quality
        )
        cv2.imwrite(str(folder / "infrared" / f"{t + 1:05d}i.jpg"), frame_t, quality)

    shift = scene.shift
    boxes_i = boxes + np.array([shift[0], shift[1], 0, 0])
    write_boxes(folder / "visible.txt", boxes)
    write_boxes(folder / "infrared.txt", boxes_i)
    write_boxes(folder / "init.txt", boxes)
    return {
        "name": folder.name,
        "split": split,
        "attributes": sorted(attrs),
        "shift": [int(shift[0]), int(shift[1])],
        "facts": scene.facts(),
    }


def write_split_lists(folder: Path, results: list[dict]) -> None:
    """SequencesName.txt, attr_txt/<CODE>.txt (RGBT234's format) and subsets/{normal,extreme}.txt."""
    names = [r["name"] for r in results]
    listing = "".join(f"{n}\n" for n in names)
    (folder / "SequencesName.txt").write_text(listing)
    (folder / "attr_txt").mkdir(exist_ok=True)
    (folder / "attr_txt" / "SequencesName.txt").write_text(listing)
    for code in ATTRIBUTES:
        (folder / "attr_txt" / f"{code}.txt").write_text(
            "".join(f"{int(code in r['attributes'])}\n" for r in results)
        )
    (folder / "subsets").mkdir(exist_ok=True)
    extreme = [r["name"] for r in results if set(r["attributes"]) & set(EXTREME)]
    normal = [r["name"] for r in results if not set(r["attributes"]) & set(EXTREME)]
    (folder / "subsets" / "normal.txt").write_text("".join(f"{n}\n" for n in normal))
    (folder / "subsets" / "extreme.txt").write_text("".join(f"{n}\n" for n in extreme))


def generate(
    root: str | Path,
    cfg: Mapping | DictConfig | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Write the benchmark to ``root`` (replacing an incomplete one). Returns ``root``.

    Generation goes to a temporary sibling folder that is renamed into place at the end, so an
    interrupted run never leaves a half-written benchmark that looks complete.
    """
    params = resolve_config(cfg)
    root = Path(root).expanduser().resolve()
    workers = int(params["workers"] if workers is None else workers)
    started = time.perf_counter()
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    jobs = []
    for split, spec in params["splits"].items():
        for index in range(int(spec["sequences"])):
            jobs.append(
                {
                    "cfg": params,
                    "split": split,
                    "index": index,
                    "frames": int(spec["frames"]),
                    "sequences": int(spec["sequences"]),
                    "folder": str(tmp / split / sequence_name(split, index)),
                }
            )
    for split in params["splits"]:
        (tmp / split).mkdir(parents=True, exist_ok=True)
    results = []
    bar = _progress(len(jobs), progress)
    try:
        if workers > 1 and len(jobs) > 1:
            # spawn, not fork: a forked child can hang in OpenCV when the parent (a training run,
            # a test session) has used OpenCV's thread pool; the imports here are light
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(workers, len(jobs)), initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                for result in pool.imap_unordered(render_sequence, jobs):
                    results.append(result)
                    bar.update(1)
        else:
            for job in jobs:
                results.append(render_sequence(job))
                bar.update(1)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    by_split: dict[str, list[dict]] = {}
    for result in sorted(results, key=lambda r: r["name"]):
        by_split.setdefault(result["split"], []).append(result)
    for split in params["splits"]:
        write_split_lists(tmp / split, by_split.get(split, []))
    elapsed = time.perf_counter() - started
    meta = {
        "format": FORMAT_VERSION,
        "generator": "src.data.synthetic",
        "config": params,
        "sequences": {s: [r["name"] for r in rs] for s, rs in by_split.items()},
        # the calibrated world's per-sequence facts that the files do not show (src.data.synthetic.calibrate)
        "facts": {r["name"]: r["facts"] for rs in by_split.values() for r in rs if r["facts"] is not None},
        "seconds": round(elapsed, 2),
    }
    (tmp / MARKER).write_text(json.dumps(meta, indent=1))
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def is_complete(root: str | Path) -> bool:
    return (Path(root) / MARKER).is_file()


def recorded_config(root: str | Path) -> dict | None:
    """The parameters a complete benchmark at ``root`` was generated with (None if unknown)."""
    try:
        meta = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta.get("config") if meta.get("format") == FORMAT_VERSION else None


def ensure(root: str | Path, cfg: Mapping | DictConfig | None = None, progress: bool = True) -> Path:
    """Generate the benchmark at ``root`` unless a complete one is there. Safe when several
    processes (parallel tests, a multirun) ask at once: one generates, the others wait on a lock.

    A complete benchmark made with other parameters is kept (tests point ``data.root`` at small
    fixtures, and deleting data behind a user's back is worse) but a warning says how to redo it.
    """
    root = Path(root).expanduser().resolve()
    wanted = resolve_config(cfg)
    if not is_complete(root):
        root.parent.mkdir(parents=True, exist_ok=True)
        lock_path = root.with_name(f".{root.name}.lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not is_complete(root):
                    if root.exists() and any(root.iterdir()):
                        raise FileExistsError(
                            f"{root}: exists but is not a complete synthetic benchmark "
                            f"(no {MARKER}); remove it or point data.root elsewhere"
                        )
                    print(f"Generating the synthetic RGB-T benchmark in {root} ...", file=sys.stderr)
                    generate(root, wanted, progress=progress)
                    return root
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    if not _same(recorded_config(root), wanted):
        log.warning(
            "%s was generated with other parameters than the config's `generate` section "
            "(or an older generator); using it as it is. To regenerate: remove it, or run "
            "python -m src.data.synthetic root=%s",
            root,
            root,
        )
    return root


def _same(recorded: dict | None, wanted: dict) -> bool:
    """Equal generation parameters; ``workers`` only changes speed, not content."""
    if recorded is None:
        return False
    strip = lambda c: {k: v for k, v in c.items() if k != "workers"}  # noqa: E731
    return strip(recorded) == strip(wanted)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="synthetic RGB-T", unit="seq", dynamic_ncols=True, disable=not enabled)
