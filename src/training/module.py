"""TrackerLitModule: the network for any fusion variant, OSTrack's objective and recipe.

The network is config (``model.net``); one class trains every variant. Its hyperparameters are
plain Python values only (dicts, lists, numbers, strings), so a checkpoint alone rebuilds the
network with ``torch.load(ckpt, weights_only=True)["hyper_parameters"]["net"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from copy import deepcopy
from functools import partial
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from omegaconf import DictConfig, ListConfig, OmegaConf

from src.training.objective import TrackingObjective
from src.training.schedules import ce_keep_ratio, cosine_factor

log = logging.getLogger(__name__)

# Defaults follow OSTrack's vitb_256_mae_ce_32x4_ep300 recipe; conf/model/*.yaml override them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "optimizer": {
        "lr": 4e-4,
        "weight_decay": 1e-4,
        "backbone_lr_mult": 0.1,
        # parameter-name prefixes (inside the network) that get the backbone multiplier
        "backbone_prefixes": ["backbone."],
        "betas": [0.9, 0.999],
    },
    "scheduler": {
        "name": "step",      # step (OSTrack's) | cosine (per step, after a linear warm-up) | none
        "drop_epoch": 240,   # step: OSTrack's LR_DROP_EPOCH
        "gamma": 0.1,        # step: the factor at drop_epoch
        "warmup_steps": 0,   # cosine: linear warm-up from lr / warmup_steps to lr over these steps
        "min_lr_ratio": 0.01,  # cosine: the last step's lr, as a fraction of lr
    },
    # center_cell: the heatmap's centre cell, round (OSTrack) or floor (the patch holding the centre);
    # the data pipeline draws the labels with it (src.train.build_datamodule)
    "loss": {"focal_weight": 1.0, "giou_weight": 2.0, "l1_weight": 5.0, "box_at": "peak",
             "center_cell": "round"},
    "ce": {
        "enabled": True,
        "start_epoch": 20,   # OSTrack: CE_START_EPOCH
        "warm_epochs": 80,   # OSTrack: CE_WARM_EPOCH
        "keep_ratio": 0.7,   # OSTrack: CE_KEEP_RATIO (one value for every CE layer)
    },
    "freeze": {
        # null: train everything. A list of name prefixes: train only those (adapter-style, as
        # ViPT / BAT: fusion blocks and head on top of a frozen single-modal tracker).
        "trainable": None,
    },
    # how this network is tracked (OSTrackTracker's settings that depend on the network); stored in the
    # checkpoint, so validation, the end-of-run test and src.evaluate all track it the same way
    "tracker": {
        "size_lr": 1.0,           # OSTrack: the predicted size as it is (see OSTrackTracker)
    },
    "validation": {
        "track": True,            # track the validation sequences and log val/MPR, val/MSR
        "split": "val",
        "protocol": "rgbt234",
        "max_sequences": None,    # track only the first N validation sequences
        "max_frames": None,       # and only their first N frames
    },
}


def _plain(value: Any) -> Any:
    """OmegaConf containers -> plain dicts/lists (checkpoints must load with weights_only=True)."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _merge(section: str, given: Mapping | None) -> dict[str, Any]:
    """Defaults of ``section`` updated with ``given``; an unknown key is an error (typos)."""
    merged = deepcopy(DEFAULTS[section])
    for key, value in (_plain(given) or {}).items():
        if key not in merged:
            raise KeyError(f"model.{section}.{key}: unknown key (known: {', '.join(sorted(merged))})")
        merged[key] = value
    return merged


def load_net_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Network weights of any checkpoint in TrackerNet names (see src/models/pretrained.py): our
    training checkpoints (keys ``net.*``), our exported weights, OSTrack's ``{"net": ...}`` (its
    ``box_head.*`` mapped to ``head.*``), MAE's ``{"model": ...}`` or a plain state dict.

    Loaded with ``weights_only=True``: a checkpoint cannot run code on load.
    """
    from src.models.pretrained import read_checkpoint

    return read_checkpoint(path)


class TrackerLitModule(LightningModule):
    """Trains ``TrackerNet`` (src/models) with OSTrack's objective.

    Args:
        net: the network config (``model.net``: sizes, variant, backbone, fusion, head).
        optimizer, scheduler, loss, ce, freeze, validation, tracker: recipe sections; see ``DEFAULTS``.
        init_ckpt: optional checkpoint whose network weights initialise ``net`` (OSTrack's, MAE's, one
            of our runs or exported weights; src/models/pretrained.py). The load report is kept as
            ``init_report`` (training writes it to ``init_ckpt_report.json``).
        init_ckpt_allow_missing_head: start head tensors the checkpoint lacks from random init even
            though it has a head (otherwise an error: its head has another layout).
        variant: stored for readers of the checkpoint; taken from ``net["variant"]``.
    """

    def __init__(self, net: Mapping, optimizer: Mapping | None = None, scheduler: Mapping | None = None,
                 loss: Mapping | None = None, ce: Mapping | None = None, freeze: Mapping | None = None,
                 validation: Mapping | None = None, tracker: Mapping | None = None,
                 init_ckpt: str | None = None, init_ckpt_allow_missing_head: bool = False,
                 variant: str | None = None):
        super().__init__()
        net = _plain(net)
        self.save_hyperparameters({
            "net": net,
            "variant": net.get("variant", variant),
            "optimizer": _merge("optimizer", optimizer),
            "scheduler": _merge("scheduler", scheduler),
            "loss": _merge("loss", loss),
            "ce": _merge("ce", ce),
            "freeze": _merge("freeze", freeze),
            "validation": _merge("validation", validation),
            "tracker": _merge("tracker", tracker),
            "init_ckpt": None if init_ckpt is None else str(init_ckpt),
            "init_ckpt_allow_missing_head": bool(init_ckpt_allow_missing_head),
        })
        from src.models import build_network  # the network package; imported late so tests can stub it

        self.net = build_network(net)
        self.objective = TrackingObjective(**self.hparams.loss)
        self.init_report = None
        if init_ckpt:
            self._load_init_ckpt(init_ckpt, bool(init_ckpt_allow_missing_head))
        self._apply_freeze()

    # ------------------------------------------------------------------ setup
    def _load_init_ckpt(self, path: str, allow_missing_head: bool) -> None:
        from src.models.pretrained import load_network_weights

        if not Path(path).is_file():
            raise FileNotFoundError(f"model.init_ckpt: {path} not found (the shipped single-modal "
                                    "checkpoint is made by `make pretrain`; model.init_ckpt=null trains "
                                    "from scratch)")
        self.init_report = load_network_weights(self.net, path, allow_missing_head=allow_missing_head)

    def _apply_freeze(self) -> None:
        trainable = self.hparams.freeze["trainable"]
        if trainable is None:
            return
        prefixes = tuple(trainable)
        names = [n for n, _ in self.net.named_parameters()]
        if not any(n.startswith(prefixes) for n in names):
            raise ValueError(f"model.freeze.trainable={list(prefixes)} matches no network parameter "
                             f"(top-level modules: {sorted({n.split('.')[0] for n in names})})")
        for name, param in self.net.named_parameters():
            param.requires_grad_(name.startswith(prefixes))
        n_train = sum(p.numel() for p in self.net.parameters() if p.requires_grad)
        log.info("freeze: training %d of %d parameters (%s)", n_train,
                 sum(p.numel() for p in self.net.parameters()), ", ".join(prefixes))

    # ------------------------------------------------------------------ forward
    def current_keep_ratio(self, batch_idx: int = 0) -> float | None:
        """CE keep ratio for this step (fractional epoch, so short CPU runs get a smooth warm-up)."""
        ce = self.hparams.ce
        if not ce["enabled"]:
            return None
        epoch = float(self.current_epoch)
        if self._trainer is not None and self.trainer.num_training_batches not in (0, float("inf")):
            epoch += batch_idx / self.trainer.num_training_batches
        return ce_keep_ratio(epoch, ce["start_epoch"], ce["warm_epochs"], ce["keep_ratio"])

    def forward(self, batch: Mapping[str, torch.Tensor], keep_ratio: float | None = None) -> dict:
        """Network outputs for a training batch (see docs/ARCHITECTURE.md, "Training batch")."""
        return self.net(batch["template_visible"], batch["search_visible"],
                        template_infrared=batch.get("template_infrared"),
                        search_infrared=batch.get("search_infrared"),
                        template_box=batch.get("template_box"), keep_ratio=keep_ratio)

    def _shared_step(self, batch, stage: str, keep_ratio: float | None) -> torch.Tensor:
        out = self(batch, keep_ratio=keep_ratio)
        loss, parts = self.objective(out, batch)
        batch_size = batch["search_box"].shape[0]
        on_step = stage == "train"
        sync = self._trainer is not None and self.trainer.world_size > 1  # averaged over ranks
        self.log(f"{stage}/loss", loss.detach(), on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=batch_size, sync_dist=sync)
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in parts.items() if k != "loss"}, on_step=on_step,
                      on_epoch=True, batch_size=batch_size, sync_dist=sync)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        keep_ratio = self.current_keep_ratio(batch_idx)
        if keep_ratio is not None:
            self.log("train/keep_ratio", keep_ratio, on_step=True, on_epoch=False)
        return self._shared_step(batch, "train", keep_ratio)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        # the network's own (target) keep ratio: what tracking will use
        return self._shared_step(batch, "val", None)

    def on_validation_epoch_end(self) -> None:
        cfg = self.hparams.validation
        if not cfg["track"] or self.trainer.sanity_checking:
            return
        from src.training.validation import track_validation

        limit_seq, limit_frames = cfg["max_sequences"], cfg["max_frames"]
        if self.trainer.fast_dev_run:  # a smoke run: one short sequence proves the path works
            limit_seq, limit_frames = 1, 5
        metrics = track_validation(self, split=cfg["split"], protocol=cfg["protocol"],
                                   max_sequences=limit_seq, max_frames=limit_frames)
        if metrics:
            # every rank scored the same gathered results: the mean over ranks is that value
            self.log_dict({f"val/{k}": float(v) for k, v in metrics.items()}, prog_bar=True,
                          sync_dist=self.trainer.world_size > 1)

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self):
        opt = self.hparams.optimizer
        prefixes = tuple(opt["backbone_prefixes"])
        groups: dict[str, list[torch.nn.Parameter]] = {"backbone": [], "other": []}
        for name, param in self.net.named_parameters():
            if param.requires_grad:
                groups["backbone" if name.startswith(prefixes) else "other"].append(param)
        param_groups = [
            {"params": groups["other"], "lr": opt["lr"], "name": "head_fusion"},
            {"params": groups["backbone"], "lr": opt["lr"] * opt["backbone_lr_mult"], "name": "backbone"},
        ]
        param_groups = [g for g in param_groups if g["params"]]
        optimizer = torch.optim.AdamW(param_groups, lr=opt["lr"], weight_decay=opt["weight_decay"],
                                      betas=tuple(opt["betas"]))
        sched = self.hparams.scheduler
        if sched["name"] == "none":
            return optimizer
        if sched["name"] == "cosine":
            total = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
            factor = partial(cosine_factor, warmup=int(sched["warmup_steps"]), total=int(total),
                             floor=float(sched["min_lr_ratio"]))
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        if sched["name"] != "step":
            raise ValueError(f"model.scheduler.name={sched['name']!r}: expected 'step', 'cosine' or 'none'")
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, int(sched["drop_epoch"])),
                                                    gamma=sched["gamma"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
