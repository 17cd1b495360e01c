"""A check on real footage: track every sequence under a folder with a checkpoint and the classical
baselines, print each sequence's mean IoU, the means and the ``src.compare`` table.

    python -m src.realcheck real=DIR [ckpt_path=CKPT] [trackers=[kcf_rgbt,csrt,csrt_tir]]
    make realcheck REAL=DIR [CKPT=CKPT]

Each sub-folder of ``real`` is one sequence, in one of the layouts real sequences come in:

- the ``folder`` reader's (``visible/`` and/or ``infrared/``, ``groundtruth.txt`` or
  ``groundtruth_sparse.txt``; thermal-only footage has ``infrared/`` alone), read as it is;
- OTB's (``img/`` + ``groundtruth_rect.txt``);
- VTUAV's (``rgb/`` + ``ir/`` or ``ir_gray/``, boxes in ``rgb.txt``): dense, or one box every
  ``len(frames) // (len(boxes) - 1)`` frames from frame 0 (its sparse annotation).

They are laid out as ``folder`` sequences (links to the frames, the boxes rewritten) under
``<output_dir>/sequences``, and ``python -m src.evaluate data=folder`` tracks them once per tracker (a
run folder each, under ``<output_dir>``). A tracker that reads none of a sequence's streams (a
visible-only one on thermal-only footage) skips it: its cell says ``-``, and its mean is over the
sequences it tracked (the count is printed beside it). The runs are scored with RGBT234's protocol (its
MPR and MSR, what ``src.compare`` tabulates; on a sequence with one ground truth they are OTB's PR and
SR); mean IoU is each sequence's AOR (average overlap over its annotated frames), then their mean over
sequences.

Real footage is for reading a figure, never for training or tuning on it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.conf import register_resolvers
from src.utils.cli import UserError, newest_checkpoint, run_cli

log = logging.getLogger(__name__)
register_resolvers()

ROOT = Path(__file__).resolve().parents[1]
VTUAV_THERMAL = ("ir", "ir_gray")


# -- layouts ---------------------------------------------------------------------------------------
def _link(link: Path, target: Path) -> None:
    link.symlink_to(target.resolve(), target_is_directory=target.is_dir())


def stage_sequence(folder: Path, out: Path) -> str | None:
    """Lay out one real sequence as a ``folder`` sequence at ``out``; returns the layout's name, or None
    for a folder in no layout this command knows (it is left out, with a warning)."""
    from src.data.readers.base import list_frames, read_boxes

    if (folder / "groundtruth.txt").is_file() or (folder / "groundtruth_sparse.txt").is_file():
        _link(out, folder)
        return "folder"
    if (folder / "groundtruth_rect.txt").is_file() and (folder / "img").is_dir():
        out.mkdir(parents=True)
        _link(out / "visible", folder / "img")
        _link(out / "groundtruth.txt", folder / "groundtruth_rect.txt")
        return "otb"
    thermal = next((folder / d for d in VTUAV_THERMAL if (folder / d).is_dir()), None)
    if (folder / "rgb").is_dir() and (folder / "rgb.txt").is_file():
        frames = list_frames(folder / "rgb") or []
        boxes = read_boxes(folder / "rgb.txt")
        out.mkdir(parents=True)
        _link(out / "visible", folder / "rgb")
        if thermal is not None:
            _link(out / "infrared", thermal)
        if len(boxes) == len(frames):
            _link(out / "groundtruth.txt", folder / "rgb.txt")
            return "vtuav"
        step = len(frames) // max(len(boxes) - 1, 1)
        if step < 1 or (len(boxes) - 1) * step >= len(frames):
            raise UserError(
                f"{folder / 'rgb.txt'}: {len(boxes)} boxes for {len(frames)} frames: neither one "
                f"per frame nor one every N frames from the first"
            )
        lines = [f"{k * step + 1} " + " ".join(f"{v:g}" for v in box) for k, box in enumerate(boxes)]
        (out / "groundtruth_sparse.txt").write_text("\n".join(lines) + "\n")
        return f"vtuav (a box every {step} frames)"
    return None


def stage(real: Path, out: Path) -> dict[str, str]:
    """Every sequence under ``real`` laid out under ``out``: ``{name: layout}``."""
    if not real.is_dir():
        raise UserError(f"real={real}: no such directory")
    out.mkdir(parents=True, exist_ok=True)
    layouts = {}
    for folder in sorted(p for p in real.iterdir() if p.is_dir()):
        target = out / folder.name
        if target.is_symlink() or target.exists():
            raise UserError(f"{target} exists: run realcheck into a new output directory")
        layout = stage_sequence(folder, target)
        if layout is None:
            log.warning(
                "%s: not a sequence in a layout realcheck reads (folder, OTB, VTUAV); left out", folder
            )
            continue
        layouts[folder.name] = layout
    if not layouts:
        raise UserError(f"real={real}: no sequence folder in a layout realcheck reads (folder, OTB, VTUAV)")
    return layouts


# -- trackers --------------------------------------------------------------------------------------
def tracker_modalities(tracker: str, ckpt: Path | None) -> list[str]:
    """The streams a tracker reads: its config's, or the checkpoint's network's."""
    if tracker == "ours":
        from src.learning.checkpoints import checkpoint_info

        return checkpoint_info(ckpt)["modalities"] or ["visible", "infrared"]
    return list(
        OmegaConf.load(ROOT / "conf" / "tracker" / f"{tracker}.yaml").get("modalities") or ["visible"]
    )


def readable(sequences: dict[str, Any], wanted: list[str]) -> list[str]:
    """The sequences a tracker reading ``wanted`` can track."""
    from src.data.sequence import unreadable

    skipped = unreadable(sequences.values(), wanted)
    return [name for name in sequences if name not in skipped]


def evaluate(
    tracker: str,
    data_root: Path,
    names: list[str],
    run_dir: Path,
    ckpt: Path | None,
    threads: int | None,
    overrides: list[str] = (),
) -> None:
    """``python -m src.evaluate`` on ``names`` (a process of its own, as from the command line), with
    ``overrides`` appended to its command line."""
    args = [
        sys.executable,
        "-m",
        "src.evaluate",
        f"tracker={tracker}",
        "data=folder",
        f"data.root={data_root}",
        "split=null",
        "data.protocol=rgbt234",
        f"+data.reader.sequence_names=[{','.join(names)}]",
        f"hydra.run.dir={run_dir}",
    ]
    if ckpt is not None:
        args.append(f"ckpt_path={ckpt}")
    if threads:
        args.append(f"cpu_threads={threads}")
    args.extend(overrides)
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        # the error's own line (a traceback's last, or src.evaluate's "error: ..."), not a progress bar's
        error_line = re.compile(r"^(\w+\.)*\w*(Error|Exception)\b|^error:")
        errors = [line for line in lines if error_line.match(line.strip())]
        raise UserError(f"tracker={tracker} on {data_root}: {(errors or lines)[-1].strip()}")


def sequence_ious(run_dir: Path) -> dict[str, float]:
    """Per-sequence mean IoU (AOR) from an evaluate run's sequences.csv."""
    with open(run_dir / "sequences.csv", newline="") as f:
        return {row["name"]: float(row["AOR"]) for row in csv.DictReader(f)}


# -- the table -------------------------------------------------------------------------------------
def table(
    ious: dict[str, dict[str, float]], sequences: list[str], layouts: dict[str, str], streams: dict[str, str]
) -> str:
    """Markdown: a row per sequence, a column per tracker, then the means (over the sequences tracked)."""
    trackers = list(ious)
    lines = [
        "| sequence | layout | streams | " + " | ".join(trackers) + " |",
        "|---|---|---|" + "---:|" * len(trackers),
    ]
    for name in sequences:
        cells = [f"{ious[t][name]:.3f}" if name in ious[t] else "-" for t in trackers]
        lines.append(f"| {name} | {layouts[name]} | {streams[name]} | " + " | ".join(cells) + " |")
    means = []
    for t in trackers:
        values = list(ious[t].values())
        means.append(f"**{np.mean(values):.3f}** ({len(values)})" if values else "-")
    lines.append("| mean IoU (sequences) | | | " + " | ".join(means) + " |")
    return "\n".join(lines)


def run(cfg: DictConfig) -> dict[str, Any]:
    from src.data.readers.folder import FolderReader

    out = Path(cfg.paths.output_dir)
    real = Path(str(cfg.real)).expanduser()
    ckpt = None
    if cfg.checkpoint:
        ckpt = (
            Path(str(cfg.ckpt_path)) if cfg.get("ckpt_path") else newest_checkpoint(Path(cfg.paths.log_dir))
        )
        if not ckpt.is_file():
            raise UserError(f"ckpt_path={ckpt}: no such file")
    layouts = stage(real, out / "sequences")
    sequences = {s.name: s for s in FolderReader(out / "sequences").sequences()}
    streams = {
        n: "+".join("RGB" if m == "visible" else "T" for m in s.modalities) for n, s in sequences.items()
    }
    trackers = (["ours"] if cfg.checkpoint else []) + list(cfg.trackers)
    ious: dict[str, dict[str, float]] = {}
    run_dirs = []
    for tracker in trackers:
        names = readable(sequences, tracker_modalities(tracker, ckpt if tracker == "ours" else None))
        if not names:
            log.warning("tracker=%s reads none of these sequences' streams; left out", tracker)
            continue
        run_dir = out / tracker
        log.info("tracking %d sequences with %s", len(names), tracker)
        evaluate(
            tracker,
            out / "sequences",
            names,
            run_dir,
            ckpt if tracker == "ours" else None,
            cfg.get("cpu_threads"),
            list(cfg.ours_overrides) if tracker == "ours" else [],
        )
        ious[tracker] = sequence_ious(run_dir)
        run_dirs.append(run_dir)
    text = table(ious, list(sequences), layouts, streams)
    from src.compare.cli import write_outputs
    from src.compare.collect import collect

    records = collect([str(d) for d in run_dirs], None, None, False, "", None)
    tables, _ = write_outputs(records, out / "compare")
    summary = {
        "real": str(real),
        "ckpt_path": None if ckpt is None else str(ckpt),
        "layouts": layouts,
        "iou": ious,
        "mean_iou": {t: float(np.mean(list(v.values()))) for t, v in ious.items()},
    }
    (out / "realcheck.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "realcheck.md").write_text(f"Checkpoint: `{ckpt}`\n\n{text}\n")
    print(f"checkpoint: {ckpt}\n\n{text}\n")
    print("\n".join(t.to_markdown() for t in tables if t.name == "methods"))
    print(f"written to {out}")
    return summary


@hydra.main(version_base="1.3", config_path="../conf", config_name="realcheck")
def main(cfg: DictConfig) -> None:
    if not cfg.get("real"):
        raise UserError("pass real=DIR: a folder with one sub-folder per real sequence")
    os.environ.setdefault("WANDB_MODE", "offline")
    run(cfg)


if __name__ == "__main__":
    run_cli(main)
