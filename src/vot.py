"""The VOT toolkit's RGB-T protocol (VOT-RGBTIR2020) with the suite's trackers.

    python -m src.vot workspace DIR [data=<reader>] [split=test] [ckpt_path=CKPT] [trackers=[kcf_rgbt]]
    python -m src.vot summary DIR          # EAO, accuracy, robustness from DIR's newest toolkit analysis
    make vot                               # the toolkit (own environment) on the synthetic test split

``workspace`` writes a folder the VOT toolkit (``vot evaluate|analysis|report --workspace DIR``) reads as it
is, downloading nothing:

- ``sequences/<name>/``: the ``color`` and ``ir`` channels (links to the benchmark's frames, numbered from 1),
  a ``sequence`` file naming them, ``groundtruth.txt`` (the visible boxes, ``x,y,w,h``; ``0``, the toolkit's
  "unknown", where the target is absent or unannotated) and ``anchor.value`` (the multistart experiment's
  start frames: 1 forward, -1 backward, 0 neither); ``sequences/list.txt`` lists them;
- ``stack.yaml``: VOT-RGBTIR2020's stack (the multistart experiment, its accuracy/robustness and EAO
  analyses) with an EAO interval suited to these sequences' lengths (:func:`eao_interval`) and without the
  real-time constraint (the trackers run on a CPU here), and no dataset to download;
- ``trackers.ini``: our tracker (from a checkpoint) and the classical baselines as TraX Python trackers
  (``protocol = traxpython``), each run by this interpreter as ``python -m src.vot_tracker`` with its
  conf/ overrides in ``RGBT_VOT_OVERRIDES`` (:mod:`src.tracking.trax_server`);
- ``config.yaml``: the workspace's settings (stack, registry, sequences).

``summary`` reads the JSON ``vot analysis --format json`` writes under ``DIR/analysis/`` and prints, per
tracker, EAO, accuracy and robustness (:func:`summary`).
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from src.compare.collect import BASELINE_LABELS, VARIANT_LABELS
from src.conf import CONF_DIR, baseline_names, register_resolvers
from src.tracking.trax_server import ORACLE, OVERRIDES_ENV
from src.utils.cli import (
    UserError,
    check_checkpoint,
    check_data_root,
    check_override_types,
    newest_checkpoint,
    run_cli,
)

register_resolvers()
log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
# the toolkit's channel names for the suite's modalities
CHANNELS = {"visible": "color", "infrared": "ir"}
STACK = "stack.yaml"


# -- sequences ------------------------------------------------------------------------------------------
def anchors(valid: np.ndarray, spacing: int) -> np.ndarray:
    """``anchor.value``: every ``spacing`` frames, 1 (forward) in the sequence's first half, -1 (backward)
    in its second, counted from the last frame, so every run covers at least half the sequence; an anchor
    whose frame has no visible target moves to the nearest one that has, within the spacing. The first
    frame is always a forward anchor when its target is visible (every tracker starts there too)."""
    if spacing < 1:
        raise UserError(f"anchor_spacing={spacing}: must be at least 1")
    n = len(valid)
    values = np.zeros(n)
    half = n / 2

    def place(frame: int, direction: int) -> None:
        # the nearest visible frame within the spacing, on the side that keeps the run long
        for offset in range(spacing):
            k = frame + direction * offset
            if 0 <= k < n and valid[k] and (k < half) == (direction > 0) and values[k] == 0:
                values[k] = direction
                return

    for frame in range(0, int(np.ceil(half)), spacing):
        place(frame, 1)
    for frame in range(n - 1, int(np.floor(half)) - 1, -spacing):
        place(frame, -1)
    return values


def run_lengths(values: np.ndarray) -> list[int]:
    """The length of each multistart run of a sequence: an anchor to its end, forward or backward."""
    n = len(values)
    return [n - k if v > 0 else k + 1 for k, v in enumerate(values) if v != 0]


def eao_interval(lengths: Iterable[int]) -> tuple[int, int]:
    """The EAO interval of a workspace's runs, as the stack's ``low`` and ``high``: the EAO curve's point
    ``j`` is the expected overlap over a run's first ``j`` frames after the start, so a run of ``L`` frames
    reaches ``j = L - 1``; the score averages the points from the shortest run's (``low``) to the longest
    run's, and ``high`` (the curve's length) is the longest run. VOT-RGBTIR2020's fixed 115-755 brackets
    its own run lengths: on sequences of a few hundred frames it averages the curve where no run reaches."""
    lengths = list(lengths)
    return min(lengths) - 1, max(lengths)


def _box_line(box: np.ndarray, valid: bool) -> str:
    return ",".join(f"{v:.4f}".rstrip("0").rstrip(".") for v in box) if valid else "0"


def write_sequence(seq: Any, out: Path, spacing: int, max_frames: int | None = None) -> list[int]:
    """One suite :class:`~src.data.sequence.Sequence` as a toolkit sequence folder at ``out``; returns its
    multistart run lengths. Both channels are needed: a single-modal sequence is a :class:`UserError`."""
    missing = [m for m in CHANNELS if m not in seq.frames]
    if missing:
        raise UserError(f"sequence {seq.name}: no {' or '.join(missing)} frames (the VOT-RGBT protocol reads "
                        "both streams)")
    n = len(seq) if max_frames is None else min(len(seq), int(max_frames))
    out.mkdir(parents=True)
    lines = ["format=default", "fps=30", f"length={n}"]
    for modality, channel in CHANNELS.items():
        frames = seq.frames[modality]
        if len(frames) < n:
            raise UserError(f"sequence {seq.name}: {len(frames)} {modality} frames for {len(seq)} "
                            "annotations")
        suffix = Path(frames[0]).suffix.lower()
        (out / channel).mkdir()
        for k, frame in enumerate(frames[:n], start=1):
            (out / channel / f"{k:08d}{suffix}").symlink_to(Path(frame).resolve())
        lines.append(f"channels.{channel}={channel}/%08d{suffix}")
    boxes = np.asarray(seq.gt[:n], dtype=np.float64)
    valid = np.asarray(seq.valid[:n], dtype=bool) & np.isfinite(boxes).all(axis=1)
    (out / "sequence").write_text("\n".join(lines) + "\n")
    (out / "groundtruth.txt").write_text("".join(_box_line(b, v) + "\n" for b, v in zip(boxes, valid)))
    values = anchors(valid, spacing)
    if not values.any():
        raise UserError(f"sequence {seq.name}: no frame with a visible target to start a run from")
    (out / "anchor.value").write_text("".join(f"{int(v)}\n" for v in values))
    return run_lengths(values)


# -- the stack and the trackers ---------------------------------------------------------------------------
def stack(low: int, high: int) -> dict[str, Any]:
    """VOT-RGBTIR2020's stack (the toolkit's ``vot2020/rgbtir``): its multistart experiment and analyses,
    with the EAO interval ``[low, high]``, without its real-time constraint and without a dataset URL
    (the sequences are local)."""
    return {
        "title": "VOT-RGBTIR2020 protocol on local sequences",
        "experiments": {
            "baseline": {
                "type": "multistart",
                "analyses": [
                    {"type": "multistart_average_ar"},
                    {"type": "multistart_eao_score", "low": int(low), "high": int(high)},
                    {"type": "multistart_eao_curve", "high": int(high)},
                ],
            }
        },
    }


def tracker_entry(label: str, overrides: list[str], paths: list[Path], timeout: int,
                  python: str = sys.executable) -> dict[str, str]:
    """A ``trackers.ini`` section: a TraX Python tracker run as ``python -m src.vot_tracker``."""
    return {
        "label": label,
        "protocol": "traxpython",
        "command": "src.vot_tracker",
        "python": python,
        "paths": os.pathsep.join(str(p) for p in paths),
        "timeout": str(int(timeout)),
        f"env_{OVERRIDES_ENV}": shlex.join(overrides),  # a path with spaces stays one override
    }


def tracker_entries(cfg: Mapping, ckpt: Path | None) -> dict[str, dict[str, str]]:
    """``trackers.ini``'s sections: ``ours`` (with ``ckpt``), the baselines ``cfg.trackers``, the oracle."""
    known = baseline_names()
    for name in cfg["trackers"]:
        if name not in known:
            raise UserError(f"trackers: {name!r} is not a baseline in conf/tracker/ "
                            f"(known: {', '.join(known)})")
    paths = [ROOT, Path(str(cfg["trax_path"]))]
    threads = cfg.get("cpu_threads")
    common = [f"cpu_threads={threads if threads else 'null'}"]
    entries = {}
    if ckpt is not None:
        from src.learning.checkpoints import checkpoint_info

        variant = checkpoint_info(ckpt).get("variant")
        entries["ours"] = tracker_entry(
            f"{VARIANT_LABELS.get(variant, variant or 'ours')} (ours)",
            ["tracker=ours", f"ckpt_path={ckpt}", f"device={cfg['device']}", *common], paths, cfg["timeout"])
    for name in cfg["trackers"]:
        entries[name] = tracker_entry(BASELINE_LABELS.get(name, name), [f"tracker={name}", *common], paths,
                                      cfg["timeout"])
    if cfg.get("oracle"):
        entries[ORACLE] = tracker_entry("Oracle (ground truth)", [f"tracker={ORACLE}"], paths, cfg["timeout"])
    return entries


def write_trackers(path: Path, entries: Mapping[str, Mapping[str, str]]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep the keys' case (env_RGBT_VOT_OVERRIDES)
    for name, entry in entries.items():
        parser[name] = dict(entry)
    with open(path, "w") as handle:
        parser.write(handle)


# -- the workspace ----------------------------------------------------------------------------------------
def write_workspace(out: Path, sequences: list[Any], cfg: Mapping, ckpt: Path | None) -> dict[str, Any]:
    """Write the workspace (see the module's docstring) into ``out``, a new or empty folder; returns what
    it wrote: the sequences, the EAO interval, the trackers."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"workspace={out}: exists and is not an empty folder")
    if not sequences:
        raise UserError("no sequences to write (data, split, limit_sequences)")
    if cfg.get("max_frames") is not None and int(cfg["max_frames"]) < 2:
        raise UserError(f"max_frames={cfg['max_frames']}: a run needs at least 2 frames (null: every frame)")
    entries = tracker_entries(cfg, ckpt)  # checked before anything is written
    out.mkdir(parents=True, exist_ok=True)
    seq_dir = out / "sequences"
    seq_dir.mkdir()
    lengths: list[int] = []
    for seq in sequences:
        lengths += write_sequence(seq, seq_dir / seq.name, int(cfg["anchor_spacing"]), cfg.get("max_frames"))
    (seq_dir / "list.txt").write_text("".join(f"{s.name}\n" for s in sequences))
    low, high = eao_interval(lengths)
    low = int(cfg["eao_low"]) if cfg.get("eao_low") is not None else low
    high = int(cfg["eao_high"]) if cfg.get("eao_high") is not None else high
    if not 0 <= low < high:
        raise UserError(f"eao_low={low}, eao_high={high}: need 0 <= eao_low < eao_high")
    (out / STACK).write_text(yaml.safe_dump(stack(low, high), sort_keys=False))
    write_trackers(out / "trackers.ini", entries)
    (out / "config.yaml").write_text(yaml.safe_dump({"registry": ["."], "stack": STACK,
                                                     "sequences": "sequences"}, sort_keys=False))
    (out / "results").mkdir()
    trax = Path(str(cfg["trax_path"])) / "trax"
    if not trax.is_dir():
        log.warning("%s: no vot-trax package there (make vot links it): the toolkit cannot run the trackers "
                    "until it exists", trax)
    return {"workspace": str(out), "sequences": [s.name for s in sequences], "eao": [low, high],
            "trackers": list(entries), "ckpt_path": None if ckpt is None else str(ckpt)}


def newest_analysis(workspace: Path) -> Path:
    """The newest JSON file ``vot analysis --format json`` wrote under ``workspace/analysis``."""
    found = sorted((workspace / "analysis").glob("**/*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise UserError(f"{workspace}/analysis: no analysis (run `vot analysis --workspace {workspace} "
                        "--format json`)")
    return found[-1]


def summary(path: Path) -> dict[str, dict[str, float]]:
    """``{tracker: {"EAO", "accuracy", "robustness"}}`` from a ``vot analysis`` JSON file: the ``baseline``
    (multistart) experiment's average accuracy-robustness and EAO score analyses. The toolkit counts each
    run's initialisation frame as overlap 0 in the accuracy: a perfect tracker scores ``(L - 1) / L`` on runs
    of ``L`` frames, robustness 1 and EAO 1."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable JSON analysis ({error})") from None
    try:
        trackers = list(data["trackers"])
        experiment = data["results"]["baseline"]
        analyses = [a["type"].rpartition(".")[2] for a in experiment["parameters"]["analyses"]]
        out: dict[str, dict[str, float]] = {t: {} for t in trackers}
        for kind, rows in zip(analyses, experiment["results"]):
            for tracker, row in zip(trackers, rows):
                if kind == "AverageAccuracyRobustness":
                    out[tracker]["accuracy"] = float(row[0])
                    out[tracker]["robustness"] = float(row[1])
                elif kind == "EAOScore":
                    out[tracker]["EAO"] = float(row[0])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise UserError(f"{path}: not an analysis of the multistart stack src.vot writes ({error!r})") \
            from None
    return out


def summary_table(scores: Mapping[str, Mapping[str, float]], labels: Mapping[str, str] | None = None) -> str:
    """Markdown: a row per tracker, EAO, accuracy, robustness."""
    labels = dict(labels or {})
    lines = ["| tracker | EAO | accuracy | robustness |", "|---|---:|---:|---:|"]
    for tracker, s in scores.items():
        cells = [f"{s[k]:.3f}" if k in s else "-" for k in ("EAO", "accuracy", "robustness")]
        lines.append(f"| {labels.get(tracker, tracker)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tracker_labels(workspace: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(workspace / "trackers.ini")
    return {name: parser[name].get("label", name) for name in parser.sections()}


# -- the command ------------------------------------------------------------------------------------------
def run(cfg: DictConfig) -> dict[str, Any]:
    """``python -m src.vot workspace DIR``: the workspace from ``cfg``'s data split."""
    from src.data import open_benchmark
    from src.data.readers.base import AnnotationError

    out = Path(str(cfg.workspace)).expanduser()
    ckpt = None
    if cfg.checkpoint:
        ckpt = Path(str(cfg.ckpt_path)) if cfg.get("ckpt_path") else newest_checkpoint(cfg.paths.log_dir)
        check_checkpoint(ckpt)
        ckpt = ckpt.resolve()
    try:
        sequences = list(open_benchmark(cfg.data, cfg.split).sequences())
    except (FileNotFoundError, AnnotationError) as error:
        raise UserError(str(error)) from error
    if cfg.get("limit_sequences") is not None:
        if int(cfg.limit_sequences) < 1:
            raise UserError(f"limit_sequences={cfg.limit_sequences}: must be at least 1 "
                            "(null: every sequence)")
        sequences = sequences[: int(cfg.limit_sequences)]
    written = write_workspace(out, sequences, OmegaConf.to_container(cfg, resolve=True), ckpt)
    print(f"VOT workspace: {out}\n  {len(written['sequences'])} sequences, EAO interval {written['eao']}, "
          f"trackers: {', '.join(written['trackers'])}\n  vot evaluate --workspace {out} "
          f"{' '.join(written['trackers'])}")
    return written


@hydra.main(version_base="1.3", config_path="../conf", config_name="vot")
def _main(cfg: DictConfig) -> None:
    if not cfg.get("workspace"):
        raise UserError("usage: python -m src.vot workspace DIR [key=value ...]")
    check_override_types(cfg, CONF_DIR / "vot.yaml")
    check_data_root(cfg.data, cfg.paths.get("data_dir"))
    run(cfg)


def print_summary(workspace: Path) -> dict[str, dict[str, float]]:
    """``python -m src.vot summary DIR``: the table of DIR's newest analysis."""
    path = newest_analysis(workspace)
    scores = summary(path)
    print(f"{path}\n\n{summary_table(scores, tracker_labels(workspace))}")
    return scores


USAGE = "usage: python -m src.vot workspace DIR [key=value ...] | python -m src.vot summary DIR"


def main(argv: list[str] | None = None) -> None:
    """``workspace DIR [overrides]`` (a Hydra command: DIR becomes ``workspace=DIR``) or ``summary DIR``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "summary" and len(argv) == 2:
        run_cli(lambda: print_summary(Path(argv[1])))
        return
    if argv and argv[0] == "workspace" and len(argv) >= 2 and "=" not in argv[1]:
        sys.argv = [sys.argv[0], f"workspace={argv[1]}", *argv[2:]]
        run_cli(_main)
        return
    if argv and argv[0] in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info"):
        run_cli(_main)
        return
    print(USAGE, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
