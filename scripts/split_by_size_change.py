"""Where does a tracker win: on sequences whose target keeps its size, or on those where it changes?

    .venv/bin/python scripts/split_by_size_change.py RUN [RUN ...] [--reader rgbt234]
        [--root data/synthetic_rgbt] [--split test] [--tolerance 0.01] [--out FILE.md]

A tracker that never changes its box size (KCF, MOSSE, CSK) fits a target of constant size exactly, so
on such sequences it wins at high overlap thresholds (SR@0.9) whatever its localisation; where the size
or the aspect ratio changes it falls behind. This script splits a benchmark split's sequences by their
ground truth (visible): *constant* when the box's side sqrt(w h) and aspect w / h each vary by at most
``--tolerance`` (relative) over the valid frames, *changing* otherwise; then prints each run's per-sequence
MSR and SR@0.9 and the mean MSR of each group. RUN: a ``metrics.json`` or the run folder that holds it
(``python -m src.train`` or ``python -m src.evaluate`` output).

Where a run folder also holds its raw result files (``results/``, or ``test/results/`` for a training
run), a last table says how tight each run's boxes are on the constant-size sequences, over the frames
after the first where it holds the target (IoU > 0.5): the median centre error, the median size error
(``|sqrt(w h) / sqrt(w_gt h_gt) - 1|``) and the share of those frames with IoU > 0.9.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.compare.collect import find_metrics_files, load_record  # noqa: E402
from src.data.readers import get_reader  # noqa: E402
from src.data.sequence import VISIBLE, Sequence  # noqa: E402
from src.metrics.functional import center_error, iou  # noqa: E402
from src.tracking.runner import load_results  # noqa: E402


def size_changes(boxes: np.ndarray, valid: np.ndarray, tolerance: float) -> bool:
    """True when the box's side sqrt(w h) or its aspect w / h varies by more than ``tolerance``."""
    w, h = boxes[valid, 2], boxes[valid, 3]
    side, aspect = np.sqrt(w * h), w / h
    return bool(side.max() / side.min() > 1 + tolerance or aspect.max() / aspect.min() > 1 + tolerance)


def read_run(path: Path) -> tuple[Path, str, dict[str, dict]]:
    """(its metrics.json, a label, sequence name -> its scores) from a metrics.json or its run folder."""
    found = find_metrics_files([path])  # a training run's test/metrics.json (the same scores) is skipped
    if len(found) != 1:
        raise SystemExit(f"{path}: {len(found)} metrics.json files (give one run's folder or file)")
    record = load_record(found[0])
    if record is None:
        raise SystemExit(f"{found[0]}: no scores")
    label = f"{record.get('tracker', '?')} ({found[0].parent.name})"
    return found[0], label, {s["name"]: s for s in record.get("sequences", [])}


def tightness(metrics_file: Path, sequences: list[Sequence]) -> tuple[int, float, float, float] | None:
    """Over the frames after the first where the run holds the target (IoU > 0.5): (frames, median centre
    error in px, median size error, share with IoU > 0.9). None when the run kept no raw results."""
    folder = metrics_file.parent
    results_dir = next((d for d in (folder / "results", folder / "test" / "results") if d.is_dir()), None)
    if results_dir is None:
        return None
    results = load_results(results_dir, sequences)
    errors, sizes, ious = [], [], []
    for seq in sequences:
        keep = seq.valid[1:]
        pred, gt = results[seq.name][1:][keep], seq.boxes[VISIBLE][1:][keep]
        overlap = iou(pred, gt)
        held = overlap > 0.5
        pred, gt = pred[held], gt[held]
        errors.append(center_error(pred, gt))
        sizes.append(np.abs(np.sqrt(np.prod(pred[:, 2:], 1) / np.prod(gt[:, 2:], 1)) - 1))
        ious.append(overlap[held])
    errors, sizes, ious = (np.concatenate(x) for x in (errors, sizes, ious))
    if not len(ious):
        return 0, float("nan"), float("nan"), float("nan")
    return len(ious), float(np.median(errors)), float(np.median(sizes)), float(np.mean(ious > 0.9))


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="metrics.json files or run folders")
    parser.add_argument("--reader", default="rgbt234", help="the benchmark's layout (src/data/readers)")
    parser.add_argument("--root", type=Path, default=ROOT / "data" / "synthetic_rgbt")
    parser.add_argument("--split", default="test")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)

    sequences = get_reader(args.reader, args.root, split=args.split).sequences()
    changing = {s.name: size_changes(s.boxes[VISIBLE], s.valid, args.tolerance) for s in sequences}
    runs = [read_run(path) for path in args.runs]
    for _, label, scores in runs:
        missing = sorted(set(changing) - set(scores))
        if missing:
            raise SystemExit(f"{label}: no scores for {len(missing)} sequences of {args.root}/{args.split}, "
                             f"e.g. {missing[0]}")

    head = "| sequence | target size | " + " | ".join(f"{label} MSR / SR@0.9" for _, label, _ in runs) + " |"
    lines = [f"Sequences of `{args.root}` split `{args.split}` by their visible ground truth "
             f"(constant: side and aspect within {args.tolerance:.0%}).", "", head,
             "|---|---|" + "---|" * len(runs)]
    for name, change in sorted(changing.items()):
        cells = " | ".join(f"{scores[name]['MSR']:.3f} / {scores[name]['SR@0.9']:.2f}"
                           for _, _, scores in runs)
        lines.append(f"| {name} | {'changes' if change else 'constant'} | {cells} |")
    lines += ["", "| group | sequences | " + " | ".join(f"{label} MSR" for _, label, _ in runs) + " |",
              "|---|---|" + "---|" * len(runs)]
    for group, members in (("constant size", [n for n, c in changing.items() if not c]),
                           ("size or aspect changes", [n for n, c in changing.items() if c]),
                           ("all", list(changing))):
        means = " | ".join(f"{np.mean([scores[n]['MSR'] for n in members]):.3f}" if members else "-"
                           for _, _, scores in runs)
        lines.append(f"| {group} | {len(members)} | {means} |")
    constant = [s for s in sequences if not changing[s.name]]
    tight = [(label, tightness(metrics_file, constant)) for metrics_file, label, _ in runs]
    if constant and any(t is not None for _, t in tight):
        lines += ["", "On the constant-size sequences, frames after the first with IoU > 0.5:", "",
                  "| run | frames | median centre error (px) | median size error | IoU > 0.9 |",
                  "|---|---|---|---|---|"]
        lines += [f"| {label} | {t[0]} | {t[1]:.2f} | {t[2]:.1%} | {t[3]:.0%} |" for label, t in tight
                  if t is not None]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
