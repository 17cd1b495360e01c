"""TrackerLitModule: the network for any fusion variant, OSTrack's objective and recipe.

The network is config (``model.net``); one class trains every variant. Its hyperparameters are
plain Python values only (dicts, lists, numbers, strings), so a checkpoint alone rebuilds the
network with ``torch.load(ckpt, weights_only=True)["hyper_parameters"]["net"]``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule

from src.conf import complete_section
from src.learning.objective import TrackingObjective
from src.learning.schedules import ce_keep_ratio
from src.utils.io import json_ready

log = logging.getLogger(__name__)

# The sections' defaults live in conf/model/base.yaml (OSTrack's vitb_256_mae_ce_32x4_ep300 recipe); a
# section given in part (a test's, an older checkpoint's) is completed from it (src.conf.complete_section).
# ``scheduler`` is the one whose None means something (no schedule): not given, it is the YAML default.
_YAML_DEFAULT: Any = "<conf/model/base.yaml>"


def _hparam(value: Any) -> Any:
    """A section as plain dicts/lists (checkpoints must load with weights_only=True), NaN kept."""
    return json_ready(value, finite=False)


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
        net: the network config (``model.net``: sizes, variant, backbone, fusion, head); stored as given,
            completed by ``build_network`` from conf/model/net/base.yaml.
        optimizer, scheduler, loss, ce, freeze, validation, tracker: recipe sections (conf/model/base.yaml,
            where they are explained; src.conf types them). A section not given, or given in part, is
            completed from conf/model/base.yaml; an unknown key or a value of the wrong type is a
            ``src.conf.ConfigError`` naming it. ``optimizer`` is a partial of the optimiser (``_target_``,
            ``_partial_: true``) plus ``backbone_lr_mult`` and ``backbone_prefixes``, which build the
            parameter groups; ``scheduler`` a partial of a schedule factory (src/learning/schedules.py,
            conf/model/scheduler/), or None for none. The stored hyperparameters are the completed sections.
        init_ckpt: optional checkpoint whose network weights initialise ``net`` (OSTrack's, MAE's, one
            of our runs or exported weights; src/models/pretrained.py). The load report is kept as
            ``init_report`` (training writes it to ``init_ckpt_report.json``).
        init_ckpt_allow_missing_head: start head tensors the checkpoint lacks from random init even
            though it has a head (otherwise an error: its head has another layout).
        variant: stored for readers of the checkpoint; taken from ``net["variant"]``.
    """

    def __init__(self, net: Mapping, optimizer: Mapping | None = None,
                 scheduler: Mapping | None = _YAML_DEFAULT, loss: Mapping | None = None,
                 ce: Mapping | None = None, freeze: Mapping | None = None,
                 validation: Mapping | None = None, tracker: Mapping | None = None,
                 init_ckpt: str | None = None, init_ckpt_allow_missing_head: bool = False,
                 variant: str | None = None):
        super().__init__()
        net = _hparam(net)
        self.save_hyperparameters({
            "net": net,
            "variant": net.get("variant", variant),
            "optimizer": complete_section("optimizer", _hparam(optimizer)),
            "scheduler": complete_section("scheduler",
                                          {} if scheduler is _YAML_DEFAULT else _hparam(scheduler)),
            "loss": complete_section("loss", _hparam(loss)),
            "ce": complete_section("ce", _hparam(ce)),
            "freeze": complete_section("freeze", _hparam(freeze)),
            "validation": complete_section("validation", _hparam(validation)),
            "tracker": complete_section("tracker", _hparam(tracker)),
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

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming a run saved before the head's blocks were timm ConvNormAct and the fusion
        feed-forward timm Mlp: its ``net.*`` tensors renamed to today's layout."""
        from src.models.pretrained import current_name

        checkpoint["state_dict"] = {
            f"net.{current_name(k[len('net.'):])}" if k.startswith("net.") else k: v
            for k, v in checkpoint["state_dict"].items()}

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
        from src.learning.validation import track_validation

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
        """The optimiser partial (``model.optimizer``) called with two parameter groups: the network's
        parameters under ``backbone_prefixes`` at ``lr x backbone_lr_mult``, the others at ``lr`` (frozen
        ones left out); and the schedule partial (``model.scheduler``) called with the optimiser."""
        from hydra.utils import instantiate

        opt = dict(self.hparams.optimizer)
        mult, prefixes = opt.pop("backbone_lr_mult"), tuple(opt.pop("backbone_prefixes"))
        groups: dict[str, list[torch.nn.Parameter]] = {"backbone": [], "other": []}
        for name, param in self.net.named_parameters():
            if param.requires_grad:
                groups["backbone" if name.startswith(prefixes) else "other"].append(param)
        param_groups = [
            {"params": groups["other"], "lr": opt["lr"], "name": "head_fusion"},
            {"params": groups["backbone"], "lr": opt["lr"] * mult, "name": "backbone"},
        ]
        param_groups = [g for g in param_groups if g["params"]]
        optimizer = instantiate(opt, _convert_="all")(param_groups)
        if self.hparams.scheduler is None:
            return optimizer
        schedule = instantiate(dict(self.hparams.scheduler), _convert_="all")
        kwargs = {}
        if "total_steps" in inspect.signature(schedule).parameters:  # e.g. the cosine schedule
            total = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
            kwargs["total_steps"] = int(total)
        scheduler = schedule(optimizer, **kwargs)
        if not isinstance(scheduler, Mapping):  # a bare torch scheduler: Lightning's default, per epoch
            scheduler = {"scheduler": scheduler, "interval": "epoch"}
        return {"optimizer": optimizer, "lr_scheduler": dict(scheduler)}
