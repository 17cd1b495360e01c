"""Compare training recipes quickly: train on a fixed cache of training pairs, score validation pairs
and track the validation sequences. BENCHMARKS.md, "The tracker tracks", "What capped it".

    .venv/bin/python scripts/probe_recipe.py NAME [--steps 600] [--lr 2e-3] [--sched step|cosine]
        [--warmup 0] [--score-bias default|0] [--ce-start 0.3] [--cache FILE] [-- hydra overrides]

The pairs come from the real training pipeline (``src.data.datamodule.build_datamodule``, the same crops,
jitter, augmentation and on-the-fly scenes), drawn once and cached (``--cache``, ``--batches`` of
32); every run then trains on the same pairs in a plain loop with two torch threads and no
dataloader workers, so recipes are compared at the same steps and pairs, several times faster than
``python -m src.train``. A fixed cache repeats its pairs (4096 by default: 600 steps see each about
4.7 times), which rewards recipes that overfit: confirm a winner with a real run.

Printed, and appended as one JSON line to ``--results``: the last 50 steps' train IoU (box at the
score peak), the validation pairs' IoU and how often the peak is on the labelled cell, and
validation tracking MSR / MPR for each ``--size-lr``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from src.conf import register_resolvers

    register_resolvers()  # before composing conf/ (src/conf.py)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def cached_pairs(path: Path, batches: int, overrides: list[str]) -> dict[str, list[dict[str, torch.Tensor]]]:
    """The cache at ``path``, drawn from the training pipeline first if it is not there. Pairs are drawn
    with both modalities; a single-modal network reads the visible ones."""
    if path.is_file():
        from src.models.pretrained import torch_load

        return torch_load(path)
    from src.data.datamodule import build_datamodule

    # always a dual-modal network's pipeline, so one cache serves every variant
    cfg = compose([o for o in overrides if not o.startswith("+variant=")])
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    start, train = time.perf_counter(), []
    while len(train) < batches:  # a new epoch of fresh pairs per pass
        for batch in datamodule.train_dataloader():
            train.append({k: v for k, v in batch.items() if torch.is_tensor(v)})
            if len(train) >= batches:
                break
    val = [{k: v for k, v in b.items() if torch.is_tensor(v)} for b in datamodule.val_dataloader()]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"train": train, "val": val}, path)
    print(f"cached {len(train)} training and {len(val)} validation batches in "
          f"{time.perf_counter() - start:.0f} s: {path}", flush=True)
    return {"train": train, "val": val}


def relabel(batch: dict[str, torch.Tensor], grid: int, center_cell: str) -> dict[str, torch.Tensor]:
    """The batch with its heatmap drawn for a ``grid x grid`` head (the cache may hold another grid)."""
    from src.data.processing import heatmap

    maps = [heatmap(box.numpy(), grid, center_cell=center_cell) for box in batch["search_box"]]
    return {**batch, "heatmap": torch.from_numpy(np.stack(maps))}


def lr_factor(step: int, steps: int, sched: str, warmup: int, drop: float) -> float:
    if sched == "cosine":
        from src.training.schedules import cosine_factor

        return cosine_factor(step, warmup=warmup, total=steps, floor=0.01)
    if step < warmup:
        return (step + 1) / warmup
    return 0.1 if step >= drop * steps else 1.0


@torch.no_grad()
def pair_scores(module, batches) -> tuple[float, float]:
    """Validation pairs: mean IoU of the peak box, and the share of peaks on the labelled cell."""
    from src.training.objective import box_ious

    module.net.eval()
    ious, on_cell = [], []
    for batch in batches:
        out = module(batch)
        ious.append(box_ious(out["pred_boxes"], batch["search_box"]))
        peak, label = out["score_map"].flatten(1).argmax(1), batch["heatmap"].flatten(1).argmax(1)
        on_cell.append((peak == label).float())
    module.net.train()
    return torch.cat(ious).mean().item(), torch.cat(on_cell).mean().item()


def track_val(module, cfg, size_lrs: list[float]) -> dict[str, float]:
    from src.data.datamodule import build_datamodule
    from src.metrics import evaluate_results
    from src.training.validation import track_sequences

    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    sequences = list(datamodule.sequences("val"))
    out = {}
    for size_lr in size_lrs:
        results = track_sequences(module.net, sequences, size_lr=size_lr)
        metrics = evaluate_results(results, sequences, protocol=cfg.data.protocol, subsets=None)["metrics"]
        out[f"val_MSR@{size_lr:g}"] = float(metrics["MSR"])
        out[f"val_MPR@{size_lr:g}"] = float(metrics["MPR"])
    return out


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--sched", choices=("step", "cosine"), default="step")
    parser.add_argument("--drop", type=float, default=0.8, help="step: the lr x0.1 at this fraction of steps")
    parser.add_argument("--warmup", type=int, default=0, help="linear warm-up steps")
    parser.add_argument("--clip", type=float, default=0.1, help="gradient clipping by total norm (0: off)")
    parser.add_argument("--ce-start", type=float, default=0.3, help="CE warm-up starts at this fraction")
    parser.add_argument("--ce-warm", type=float, default=0.3, help="and lasts this fraction of the steps")
    parser.add_argument("--score-bias", default="default",
                        help="the score map's last bias: 'default' (the head's own init) or a number")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/probe_recipe_pairs.pt"))
    parser.add_argument("--batches", type=int, default=128, help="batches of 32 in a new cache")
    parser.add_argument("--size-lr", default="1,0.25", help="tracker size_lr values to track val with")
    parser.add_argument("--no-track", action="store_true", help="skip validation tracking")
    parser.add_argument("--results", type=Path, default=ROOT / "logs" / "probe_recipe.jsonl",
                        help="JSON lines appended here (logs/ is not tracked)")
    args = parser.parse_args(argv)

    import hydra

    from src.training.schedules import ce_keep_ratio

    torch.set_num_threads(args.threads)
    data = cached_pairs(args.cache, args.batches, overrides)
    torch.manual_seed(args.seed)
    cfg = compose(overrides)
    module = hydra.utils.instantiate(cfg.model, _convert_="all")
    net, objective = module.net, module.objective
    if args.score_bias != "default":
        torch.nn.init.constant_(net.head.score_tower[-1].bias, float(args.score_bias))
    grid = net.search_size // net.head_stride
    train = [relabel(b, grid, objective.center_cell) for b in data["train"]]
    val = [relabel(b, grid, objective.center_cell) for b in data["val"]]
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    keep = float(cfg.model.ce.keep_ratio)
    rng = np.random.default_rng(args.seed)
    order: list[int] = []
    history: list[tuple[float, float]] = []
    start = time.perf_counter()
    net.train()
    for step in range(args.steps):
        if not order:
            order = list(rng.permutation(len(train)))
        batch = train[order.pop()]
        for group in optimizer.param_groups:
            group["lr"] = args.lr * lr_factor(step, args.steps, args.sched, args.warmup, args.drop)
        ratio = ce_keep_ratio(step / args.steps, args.ce_start, args.ce_warm, keep)
        loss, parts = objective(module(batch, keep_ratio=ratio), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        history.append((loss.item(), parts["iou"].item()))
        if (step + 1) % 100 == 0:
            recent = np.mean(history[-50:], axis=0)
            val_iou, on_cell = pair_scores(module, val)
            print(f"{args.name} step {step + 1}: loss {recent[0]:.3f}, train IoU {recent[1]:.3f}, "
                  f"val IoU {val_iou:.3f} (peak on the label {on_cell:.0%}), keep {ratio:.2f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    result = {"name": args.name, "args": {k: str(v) for k, v in vars(args).items()}, "overrides": overrides,
              "train_iou": float(np.mean([h[1] for h in history[-50:]])),
              "train_s": time.perf_counter() - start}
    result["val_iou"], result["val_on_cell"] = pair_scores(module, val)
    if not args.no_track:
        result.update(track_val(module, cfg, [float(x) for x in args.size_lr.split(",")]))
    print("RESULT", json.dumps(result), flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    main()
