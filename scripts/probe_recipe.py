"""Compare training recipes quickly: train on a fixed cache of training pairs, score validation pairs
and track the validation sequences.

    .venv/bin/python scripts/probe_recipe.py NAME [--epochs 5] [--cache FILE] [--batches 128]
        [--score-bias default|0] [--size-lr 1,0.25] [-- hydra overrides]

The pairs come from the real training pipeline (``src.data.datamodule.build_datamodule``: the same crops,
jitter, augmentation and on-the-fly scenes), drawn once and cached (``--cache``, ``--batches`` of 32).
Every run then trains the project's own :class:`~src.learning.module.TrackerLitModule` (optimiser,
schedule, CE warm-up and loss from ``conf/model`` and the Hydra overrides after ``--``) with Lightning's
Trainer (``conf/trainer``'s clipping and precision) on the same cached pairs, one epoch a pass over the
cache, with no dataloader workers and no validation while fitting: recipes are compared at the same pairs
and steps, several times faster than ``python -m src.train``. A recipe is a set of overrides, e.g.
``model.optimizer.lr=1e-3``, ``model/scheduler=cosine``, ``model.ce.start_epoch=1``. A fixed cache repeats
its pairs, which rewards recipes that overfit: confirm a winner with a real run.

Printed, and appended as one JSON line to ``--results``: the last epoch's train IoU, the validation pairs'
IoU and how often the score peak is on the labelled cell, and validation tracking MSR / MPR for each
``--size-lr``.
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
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from src.conf import register_resolvers

    register_resolvers()  # before composing conf/ (src/conf.py)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the trainer's paths read ${hydra:...} as under @hydra.main
    with open_dict(cfg):
        del cfg.hydra
    return cfg


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


@torch.no_grad()
def pair_scores(module, batches) -> tuple[float, float]:
    """Validation pairs: mean IoU of the peak box, and the share of peaks on the labelled cell."""
    from src.learning.objective import box_ious

    module.net.eval()
    ious, on_cell = [], []
    for batch in batches:
        out = module(batch)
        ious.append(box_ious(out["pred_boxes"], batch["search_box"]))
        peak, label = out["score_map"].flatten(1).argmax(1), batch["heatmap"].flatten(1).argmax(1)
        on_cell.append((peak == label).float())
    return torch.cat(ious).mean().item(), torch.cat(on_cell).mean().item()


def track_val(module, cfg, size_lrs: list[float]) -> dict[str, float]:
    from src.data.datamodule import build_datamodule
    from src.learning.validation import track_sequences
    from src.metrics import evaluate_results

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
    parser.add_argument("--epochs", type=int, default=5, help="passes over the cached pairs")
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
    import lightning as L
    from torch.utils.data import DataLoader

    torch.set_num_threads(args.threads)
    data = cached_pairs(args.cache, args.batches, overrides)
    L.seed_everything(args.seed, workers=True)
    # the run's length sets the epoch-based schedules (lr drop, CE warm-up) as it does for src.train
    cfg = compose([*overrides, f"trainer.max_epochs={args.epochs}"])
    module = hydra.utils.instantiate(cfg.model, _convert_="all")
    if args.score_bias != "default":
        torch.nn.init.constant_(module.net.head.score_tower[-1].bias, float(args.score_bias))
    grid = module.net.search_size // module.net.head_stride
    train = [relabel(b, grid, module.objective.center_cell) for b in data["train"]]
    val = [relabel(b, grid, module.objective.center_cell) for b in data["val"]]
    loader = DataLoader(train, batch_size=None, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(args.seed))
    trainer = hydra.utils.instantiate(
        cfg.trainer, max_epochs=args.epochs, limit_train_batches=None, limit_val_batches=0,
        num_sanity_val_steps=0, logger=False, callbacks=[], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False)
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    result = {"name": args.name, "args": {k: str(v) for k, v in vars(args).items()}, "overrides": overrides,
              "steps": trainer.global_step, "train_s": time.perf_counter() - start,
              "train_iou": metrics.get("train/iou_epoch", metrics.get("train/iou"))}
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
