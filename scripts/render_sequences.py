"""Render a few sequences as PNG: visible | thermal side by side, ground-truth boxes drawn.

    python scripts/render_sequences.py [--root DIR] [--reader rgbt234] [--split test]
        [--sequences 4] [--frames 4] [--out docs/images/synthetic.png]

Each row is one sequence (its name and attributes in the margin), each column a frame spread over
the sequence; inside a cell the visible frame is left and the thermal frame right. Green: the
visible ground truth; magenta: the infrared ground truth (drawn on each modality's frame).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from src.data.readers import get_reader  # noqa: E402
from src.data.sequence import VISIBLE, Sequence  # noqa: E402
from src.data.transforms import read_image  # noqa: E402

GREEN, MAGENTA = (40, 220, 40), (230, 40, 230)


def draw_box(image: np.ndarray, box: np.ndarray, color) -> None:
    if not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        return
    x, y, w, h = (int(round(v)) for v in box)
    # a dark outline under the coloured box keeps it visible on busy backgrounds
    cv2.rectangle(image, (x - 1, y - 1), (x + w, y + h), (0, 0, 0), 3)
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), color, 1)


def render_cell(sequence: Sequence, index: int) -> np.ndarray:
    """``[H, W * modalities, 3]`` RGB: each modality's frame with its box."""
    parts = []
    for modality in sequence.modalities:
        image = read_image(sequence.frames[modality][index]).copy()
        draw_box(image, sequence.boxes[modality][index], GREEN if modality == VISIBLE else MAGENTA)
        parts.append(image)
    gap = np.full((parts[0].shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([parts[0], gap, *parts[1:]], axis=1) if len(parts) > 1 else parts[0]


def render(sequences: list[Sequence], frames: int) -> np.ndarray:
    rows = []
    for sequence in sequences:
        picks = np.linspace(0, len(sequence) - 1, frames).round().astype(int)
        cells = [render_cell(sequence, int(i)) for i in picks]
        height = max(c.shape[0] for c in cells)
        cells = [
            cv2.copyMakeBorder(c, 0, height - c.shape[0], 0, 6, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            for c in cells
        ]
        row = np.concatenate(cells, axis=1)
        attrs = [k for k, v in sequence.attributes.items() if np.any(v)]
        label = np.full((18, row.shape[1], 3), 255, np.uint8)
        cv2.putText(
            label,
            f"{sequence.name}  [{' '.join(attrs)}]  frames {', '.join(str(i + 1) for i in picks)}",
            (4, 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        rows.append(np.concatenate([label, row], axis=0))
    width = max(r.shape[1] for r in rows)
    rows = [
        cv2.copyMakeBorder(r, 0, 6, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
        for r in rows
    ]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", default=None, help="benchmark root (default: the synthetic one, generated if missing)"
    )
    parser.add_argument("--reader", default="rgbt234")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--names", nargs="*", default=None, help="sequence names (default: spread over the split)"
    )
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--out", default="docs/images/synthetic.png")
    args = parser.parse_args(argv)
    if args.root is None:
        from src.data import synthetic

        args.root = str(synthetic.ensure(synthetic.default_root(), synthetic.config_defaults()))
    split = None if args.split in ("", "none", "null") else args.split
    reader = get_reader(args.reader, args.root, split=split, sequence_names=args.names)
    sequences = reader.sequences()
    if args.names is None and len(sequences) > args.sequences:
        picks = np.linspace(0, len(sequences) - 1, args.sequences).round().astype(int)
        sequences = [sequences[i] for i in picks]
    image = render(sequences, args.frames)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]})")
    return out


if __name__ == "__main__":
    main()
