"""Why does a trained tracker lose the target? Per-pair accuracy vs tracking, for one checkpoint.

    .venv/bin/python scripts/diagnose_drift.py CKPT [--split val] [--jitter 0.3] [--sequences 6]
        [--frames 40] [--out FILE.md] [-- data=rgbt234 data.root=/data/RGBT234 ...]

Three views of the same network, on the validation split unless told otherwise:

1. pairs: the training pipeline's validation pairs with the search crop jittered by ``--jitter``
   target sizes (0.3: about as far as the target moves between two frames, i.e. what tracking sees):
   mean IoU, share above 0.5, centre error (fraction of the search crop) and the geometric mean of
   predicted / true box width and height. A size ratio away from 1 compounds frame after frame when
   tracking (1.3 per frame is a box 14x too large after 10 frames).
2. teacher-forced: the tracker on real frames, but every search crop is cut around the previous
   frame's ground truth (``OSTrackTracker.set_state``): the network's accuracy when its own errors do
   not feed back.
3. free-running: the ordinary tracker (``track`` after ``initialize``), on the same frames.
4. another template: teacher-forced as in 2, but the template is cut from the next sequence's first
   frame (another target). A network that matches its template loses the target here; one that scores
   as in 2 finds "an object" without reading the template (a saliency detector, not a tracker).
5. free-running with one half of the box told: its own centre with the true size each frame, then the
   true centre with its own size. Which of the two recovers 2 says what drifts: the centre (the target
   lost to a look-alike, an occluder, a fast move) or the size.

If 2 is good and 3 is poor, the network localises but its errors compound (drift); if 2 is poor too,
the network itself is not accurate yet; if 4 is as good as 2, it does not use the template. Hydra
overrides after ``--`` pick the data (as for
``python -m src.train``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from rich.console import Console
from rich.table import Table
from torchvision.ops import box_iou
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.conf import register_resolvers  # noqa: E402
from src.data.datamodule import build_datamodule  # noqa: E402
from src.data.transforms import read_image  # noqa: E402
from src.learning.module import TrackerLitModule  # noqa: E402
from src.metrics.functional import iou as ltwh_iou  # noqa: E402
from src.models.layers.head import CenterPredictor  # noqa: E402
from src.tracking.tracker import OSTrackTracker  # noqa: E402
from src.utils.boxes import cxcywh_to_ltwh, cxcywh_to_xyxy, ltwh_to_cxcywh  # noqa: E402

register_resolvers()  # before composing conf/ (src/conf.py)


def pair_statistics(module: TrackerLitModule, datamodule, max_pairs: int) -> dict[str, float]:
    """On validation pairs: IoU, centre error and size ratio of the network's boxes (at the score peak,
    what tracking reads); where the peak falls against the labelled heatmap cell; the IoU of the box
    read at the labelled cell; and how much the predicted size follows the true one (correlation of
    log sizes: near 0 means the network predicts one size for every target)."""
    preds, targets, at_label, peak_off = [], [], [], []
    loader = datamodule.val_dataloader()
    with torch.inference_mode():
        for batch in loader:
            out = module(batch)
            preds.append(out["pred_boxes"].float())
            targets.append(batch["search_box"].float())
            cell = batch["heatmap"].flatten(1).argmax(dim=1)
            peak = out["score_map"].flatten(1).argmax(dim=1)
            width = batch["heatmap"].shape[-1]
            peak_off.append(torch.maximum((cell // width - peak // width).abs(),
                                          (cell % width - peak % width).abs()))
            at_label.append(CenterPredictor.decode(out["score_map"], out["size_map"], out["offset_map"],
                                                   index=cell).float())
            if sum(len(p) for p in preds) >= max_pairs:
                break
    pred, target = torch.cat(preds)[:max_pairs], torch.cat(targets)[:max_pairs]
    label_box, off = torch.cat(at_label)[:max_pairs], torch.cat(peak_off)[:max_pairs]

    def ious(boxes: torch.Tensor) -> torch.Tensor:
        return box_iou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(target).clamp(0, 1)).diagonal()

    iou = ious(pred)
    ratio = (pred[:, 2:].clamp_min(1e-6) / target[:, 2:]).log().mean(0).exp()
    log_pred, log_true = label_box[:, 2:].clamp_min(1e-6).log(), target[:, 2:].log()
    size_corr = [float(np.corrcoef(log_pred[:, k], log_true[:, k])[0, 1]) for k in range(2)]
    return {"pairs": len(pred), "IoU": iou.mean().item(), "IoU>0.5": (iou > 0.5).float().mean().item(),
            "centre error": (pred[:, :2] - target[:, :2]).norm(dim=1).mean().item(),
            "size ratio w": ratio[0].item(), "size ratio h": ratio[1].item(),
            "peak on label cell": (off == 0).float().mean().item(),
            "peak within 1 cell": (off <= 1).float().mean().item(),
            "IoU at label cell": ious(label_box).mean().item(),
            "size corr w": size_corr[0], "size corr h": size_corr[1]}


def _frame(tracker: OSTrackTracker, sequence, t: int) -> dict[str, np.ndarray]:
    # a modality the sequence lacks is not read: the tracker falls back to the visible frame
    return {m: read_image(sequence.frames[m][t]) for m in tracker.modalities if m in sequence.frames}


def track_views(tracker: OSTrackTracker, sequence, frames: int, other) -> dict[str, np.ndarray]:
    """Per-frame IoU (frames 1..n-1) of the tracker teacher-forced (``teacher``), free-running (``free``),
    free-running with the true size or the true centre put back each frame (``true_size``,
    ``true_centre``), and teacher-forced from ``other``'s first frame and box (``other``: another
    target's template); ``free_peak``: the free-running tracker's confidence per frame (the score map's peak).
    """
    n = min(frames, len(sequence))
    gt = sequence.gt[:n]
    images = [_frame(tracker, sequence, t) for t in range(n)]
    starts = {"teacher": (images[0], gt[0]), "free": (images[0], gt[0]), "true_size": (images[0], gt[0]),
              "true_centre": (images[0], gt[0]), "other": (_frame(tracker, other, 0), other.gt[0])}
    runs = {}
    for mode, (image, box) in starts.items():
        tracker.initialize(image, box.copy())
        boxes, peaks = [], []
        for t in range(1, n):
            if mode in ("teacher", "other"):
                tracker.set_state(gt[t - 1])
            box = tracker.track(images[t])
            if mode == "free":
                peaks.append(tracker.last_confidence)
            if mode in ("true_size", "true_centre"):  # one half of the box from the ground truth
                own, true = ltwh_to_cxcywh(box), ltwh_to_cxcywh(gt[t])
                centre, size = (own, true) if mode == "true_size" else (true, own)
                box = cxcywh_to_ltwh(np.concatenate([centre[:2], size[2:]]))
                tracker.set_state(box)
            boxes.append(box)
        runs[mode] = ltwh_iou(np.asarray(boxes), gt[1:], convention="continuous")
        if mode == "free":
            runs["free_peak"] = np.asarray(peaks)
    return runs


def confidence_line(on: np.ndarray, off: np.ndarray) -> str:
    """Does the tracker's confidence tell a held target from a lost one? The free-running tracker's score
    peak on frames with IoU > 0.5 against frames with IoU < 0.1: a gate (a template update, a wider search
    on a collapse) can only work where the two differ."""
    def quartiles(values: np.ndarray) -> str:
        if not len(values):
            return "no frames"
        q1, q2, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        return f"median {q2:.3f} (quartiles {q1:.3f}-{q3:.3f}, {len(values)} frames)"
    return (f"free-running confidence (score-map peak): IoU > 0.5 {quartiles(on)}; "
            f"IoU < 0.1 {quartiles(off)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ckpt", type=Path, help="a TrackerLitModule checkpoint (best.ckpt of a run)")
    parser.add_argument("--split", default="val", help="stage whose sequences and pairs are used")
    parser.add_argument("--jitter", type=float, default=0.3, help="search-crop centre jitter of the pairs")
    parser.add_argument("--pairs", type=int, default=256, help="validation pairs scored")
    parser.add_argument("--sequences", type=int, default=6, help="sequences tracked both ways")
    parser.add_argument("--frames", type=int, default=40, help="frames tracked per sequence")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables as Markdown")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the train config (after --)")
    args = parser.parse_intermixed_args(argv)  # overrides may come after the options
    if not args.ckpt.is_file():
        parser.error(f"{args.ckpt}: checkpoint not found")

    torch.set_num_threads(1)
    module = TrackerLitModule.load_from_checkpoint(args.ckpt, map_location="cpu", init_ckpt=None).eval()
    net_cfg = module.hparams["net"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data.num_workers=0", f"data.search_jitter.center={args.jitter}",
                                          f"data.val_samples={args.pairs}", *args.overrides])
    with open_dict(cfg):
        cfg.model.net = OmegaConf.create(dict(net_cfg))  # crop sizes and modalities: the checkpoint's
        cfg.data.splits.val = cfg.data.splits.get(args.split, args.split)  # pairs and sequences: --split
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    pairs = pair_statistics(module, datamodule, args.pairs)

    tracker = OSTrackTracker.from_checkpoint(args.ckpt)
    sequences = datamodule.sequences("val")[: args.sequences]
    rows, peaks_on, peaks_off = [], [], []
    for i, seq in enumerate(tqdm(sequences, desc="tracking", unit="seq")):
        runs = track_views(tracker, seq, args.frames, sequences[(i + 1) % len(sequences)])
        teacher, free = runs["teacher"], runs["free"]
        peaks_on.append(runs["free_peak"][free > 0.5])
        peaks_off.append(runs["free_peak"][free < 0.1])
        lost = np.flatnonzero(free < 0.5)
        rows.append((seq.name, teacher.mean(), (teacher > 0.5).mean(), free.mean(), (free > 0.5).mean(),
                     runs["other"].mean(), runs["true_size"].mean(), runs["true_centre"].mean(),
                     int(lost[0]) + 1 if len(lost) else None))

    console = Console()
    lines = [f"checkpoint `{args.ckpt}`, split `{args.split}`", "",
             f"pairs (search jitter {args.jitter}): " + ", ".join(
                 f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in pairs.items()), "",
             "| sequence | teacher-forced IoU | teacher-forced IoU>0.5 | free IoU | free IoU>0.5 | "
             "teacher-forced IoU, another target's template | free IoU, true size | free IoU, true centre | "
             "first free frame < 0.5 |",
             "|---|---|---|---|---|---|---|---|---|"]
    table = Table(title=f"pairs: IoU {pairs['IoU']:.3f}, size ratio {pairs['size ratio w']:.2f} x "
                        f"{pairs['size ratio h']:.2f}")
    for column in ("sequence", "teacher IoU", "teacher >0.5", "free IoU", "free >0.5", "other template IoU",
                   "free, true size", "free, true centre", "lost at frame"):
        table.add_column(column, justify="right")
    for name, t_mean, t_sr, f_mean, f_sr, o_mean, s_mean, c_mean, lost in rows:
        cells = [name, f"{t_mean:.3f}", f"{t_sr:.2f}", f"{f_mean:.3f}", f"{f_sr:.2f}", f"{o_mean:.3f}",
                 f"{s_mean:.3f}", f"{c_mean:.3f}", str(lost or "-")]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    means = np.mean([r[1:8] for r in rows], axis=0)
    cells = ["mean", *(f"{v:.3f}" for v in means), "-"]
    table.add_row(*cells, style="bold")
    lines.append("| " + " | ".join(cells) + " |")
    lines += ["", confidence_line(np.concatenate(peaks_on), np.concatenate(peaks_off))]
    console.print(str(lines[2]), markup=False)
    console.print(table)
    console.print(lines[-1], markup=False)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
        console.print(f"written: {args.out}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
