"""TrackerLitModule's parts: objective, CE warm-up, optimiser groups, freezing, checkpoints, configs."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from src.conf import register_resolvers, variant_names
from src.learning.module import TrackerLitModule, load_net_state
from src.learning.objective import TrackingObjective, box_losses, heatmap_focal_loss
from src.learning.schedules import ce_keep_ratio, cosine_factor
from tests.helpers.configs import compose_config

register_resolvers()

CONF = str(Path(__file__).resolve().parents[1] / "conf")
TINY_NET = {"variant": "cmc", "modalities": ["visible", "infrared"], "template_size": 32, "search_size": 64,
            "backbone": {"embed_dim": 32, "depth": 2, "num_heads": 2, "ce_loc": [1], "ce_keep_ratio": [0.7]},
            "fusion": {"stages": ["cmc"]}, "head": {"channels": 16}}


def gaussian(size: int, cy: int, cx: int, sigma: float = 1.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


def test_ce_keep_ratio_follows_ostrack_schedule():
    assert ce_keep_ratio(0, start_epoch=2, warm_epochs=4, target=0.7) == 1.0
    assert ce_keep_ratio(1.99, start_epoch=2, warm_epochs=4, target=0.7) == 1.0
    assert ce_keep_ratio(2, start_epoch=2, warm_epochs=4, target=0.7) == pytest.approx(1.0)
    assert ce_keep_ratio(4, start_epoch=2, warm_epochs=4, target=0.7) == pytest.approx(0.85)  # half-way
    assert ce_keep_ratio(3, 2, 4, 0.7) == pytest.approx(0.7 + 0.3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert ce_keep_ratio(6, 2, 4, 0.7) == pytest.approx(0.7)
    assert ce_keep_ratio(100, 2, 4, 0.7) == pytest.approx(0.7)
    assert ce_keep_ratio(0, 0, 0, 0.5) == 0.5  # no warm-up
    values = [ce_keep_ratio(e / 10, 2, 4, 0.7) for e in range(80)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # never rises


def test_focal_loss_rewards_the_right_peak():
    target = torch.stack([gaussian(8, 2, 5), gaussian(8, 6, 1)])
    good = target.clamp(1e-4, 1 - 1e-4).unsqueeze(1) * 0.98
    bad = target.flip(-1).clamp(1e-4, 1 - 1e-4).unsqueeze(1)
    uniform = torch.full_like(good, 0.5)
    losses = [heatmap_focal_loss(p, target) for p in (good, uniform, bad)]
    assert losses[0] < losses[1] < losses[2]
    # hand check of one positive cell with everything else at 0 in both maps:
    # pos term -log(p) (1-p)^2 and no negative contribution
    t = torch.zeros(1, 4, 4)
    t[0, 1, 2] = 1.0
    p = torch.zeros(1, 1, 4, 4)
    p[0, 0, 1, 2] = 0.6
    expected = -math.log(0.6) * 0.4**2
    assert heatmap_focal_loss(p, t).item() == pytest.approx(expected, rel=1e-4)


def test_focal_loss_accepts_a_sub_cell_gaussian():
    # a Gaussian centred between cells peaks below 1: its peak still counts as the positive
    target = gaussian(8, 3, 3) * 0.9
    loss = heatmap_focal_loss(target.unsqueeze(0).unsqueeze(0), target.unsqueeze(0))
    assert torch.isfinite(loss) and loss > 0


def test_box_losses_and_objective_weights():
    box = torch.tensor([[0.5, 0.5, 0.2, 0.3], [0.3, 0.6, 0.1, 0.1]])
    giou, l1, iou = box_losses(box, box)
    assert giou.item() == pytest.approx(0.0, abs=1e-4) and l1.item() == 0.0  # torchvision adds eps 1e-7
    assert torch.allclose(iou, torch.ones(2))
    shifted = box + torch.tensor([0.1, 0.0, 0.0, 0.0])
    giou, l1, iou = box_losses(shifted, box)
    # first box: 0.2 wide shifted by 0.1 -> IoU 1/3; L1 over xyxy: (0.1 + 0 + 0.1 + 0) / 4 per box
    assert iou[0].item() == pytest.approx(1 / 3, rel=1e-5)
    assert l1.item() == pytest.approx(0.05, rel=1e-5)
    objective = TrackingObjective(focal_weight=1.0, giou_weight=2.0, l1_weight=5.0)
    heat = torch.stack([gaussian(4, 2, 2), gaussian(4, 1, 1)])
    out = {"score_map": heat.unsqueeze(1).clamp(0.01, 0.99), "pred_boxes": shifted}
    loss, parts = objective(out, {"heatmap": heat, "search_box": box})
    expected = parts["focal"] + 2 * parts["giou"] + 5 * parts["l1"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_box_at_target_scores_the_size_at_the_target_cell():
    # the score peak is on the wrong cell, whose size is oversized; the target cell's size is right
    H = W = 4
    heat = gaussian(H, 2, 1).unsqueeze(0)  # target cell: row 2, col 1
    score = torch.full((1, 1, H, W), 0.01)
    score[0, 0, 0, 3] = 0.9  # predicted peak: row 0, col 3
    size = torch.full((1, 2, H, W), 0.6)
    size[0, :, 2, 1] = torch.tensor([0.2, 0.3])
    offset = torch.zeros(1, 2, H, W)
    target = torch.tensor([[1 / 4, 2 / 4, 0.2, 0.3]])
    from src.models.layers.head import CenterPredictor

    out = {"score_map": score, "size_map": size, "offset_map": offset,
           "pred_boxes": CenterPredictor.decode(score, size, offset)}
    assert torch.allclose(out["pred_boxes"], torch.tensor([[3 / 4, 0.0, 0.6, 0.6]]))
    batch = {"heatmap": heat, "search_box": target}
    _, at_target = TrackingObjective(box_at="target")(out, batch)
    _, at_peak = TrackingObjective(box_at="peak")(out, batch)
    assert at_target["giou"].item() == pytest.approx(0.0, abs=1e-4) and at_target["l1"].item() == 0.0
    assert at_peak["giou"].item() > 0.5
    # the logged IoU is the tracked box's (the peak's) either way
    assert at_target["iou"].item() == at_peak["iou"].item() < 0.1
    with pytest.raises(ValueError, match="box_at"):
        TrackingObjective(box_at="centre")


def test_box_at_near_scores_the_box_at_every_cell_around_the_target():
    from src.learning.objective import cells_near
    from src.models.layers.head import CenterPredictor

    index, valid = cells_near(torch.tensor([0, 5]), 4, 4)  # a corner cell and an inner one
    assert valid.sum(1).tolist() == [4, 9]
    assert sorted(index[0][valid[0]].tolist()) == [0, 1, 4, 5]
    assert sorted(index[1].tolist()) == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    # the target's centre (col 1.25, row 2.5) decoded exactly from every neighbour of cell (2, 1)
    H = W = 4
    rows, cols = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                                indexing="ij")
    offset = torch.stack([1.25 - cols, 2.5 - rows]).unsqueeze(0)
    size = torch.tensor([0.2, 0.3]).view(1, 2, 1, 1).expand(1, 2, H, W).clone()
    score = torch.full((1, 1, H, W), 0.01)
    score[0, 0, 1, 2] = 0.9  # the peak: one cell off the labelled one
    out = {"score_map": score, "size_map": size, "offset_map": offset,
           "pred_boxes": CenterPredictor.decode(score, size, offset)}
    batch = {"heatmap": gaussian(H, 2, 1).unsqueeze(0),
             "search_box": torch.tensor([[1.25 / 4, 2.5 / 4, 0.2, 0.3]])}
    _, near = TrackingObjective(box_at="near")(out, batch)
    assert near["giou"].item() == pytest.approx(0.0, abs=1e-4) and near["l1"].item() < 1e-6
    assert near["iou"].item() == pytest.approx(1.0, abs=1e-4)  # the peak's box is the target's
    offset[0, :, 3, 0] = 5.0  # a wrong box on a neighbouring cell is now scored
    _, wrong = TrackingObjective(box_at="near")(out, batch)
    assert wrong["l1"].item() > 0.01


def test_nonfinite_box_is_an_error():
    with pytest.raises(FloatingPointError):
        box_losses(torch.tensor([[float("nan"), 0.5, 0.1, 0.1]]), torch.tensor([[0.5, 0.5, 0.1, 0.1]]))


STEP = "src.learning.schedules.step_schedule"
COSINE = "src.learning.schedules.cosine_schedule"


def test_optimizer_groups_backbone_multiplier():
    module = TrackerLitModule(TINY_NET, optimizer={"lr": 4e-4, "backbone_lr_mult": 0.1, "weight_decay": 1e-4},
                              scheduler={"_target_": STEP, "drop_epoch": 3, "gamma": 0.1})
    assert type(module.configure_optimizers()["optimizer"]) is torch.optim.AdamW
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(4e-5)
    assert groups["head_fusion"]["lr"] == pytest.approx(4e-4)
    assert all(g["weight_decay"] == 1e-4 for g in optimizer.param_groups)
    n_backbone = sum(p.numel() for p in module.net.backbone.parameters())
    assert sum(p.numel() for p in groups["backbone"]["params"]) == n_backbone
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == \
        sum(p.numel() for p in module.net.parameters())
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(4e-5)  # dropped x0.1 at epoch 3


def test_cosine_schedule_warms_up_then_decays_per_step():
    module = TrackerLitModule(TINY_NET, optimizer={"lr": 1e-3},
                              scheduler={"_target_": COSINE, "warmup_steps": 4, "min_lr_ratio": 0.1})
    config = module.configure_optimizers()
    assert config["lr_scheduler"]["interval"] == "step"
    factors = [cosine_factor(s, warmup=4, total=20, floor=0.1) for s in range(20)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[4:], factors[5:]))  # monotone after the warm-up
    assert cosine_factor(100, warmup=4, total=20, floor=0.1) == pytest.approx(0.1)  # past the end: the floor


def _lrs(module, steps: int, per: str) -> list[list[float]]:
    """Each parameter group's lr before each of ``steps`` optimiser steps (the schedule stepped per
    ``per``: the interval configure_optimizers asks Lightning for)."""
    config = module.configure_optimizers()
    optimizer, schedule = config["optimizer"], config["lr_scheduler"]
    assert schedule["interval"] == per
    lrs = []
    for _ in range(steps):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        schedule["scheduler"].step()
    return lrs


def test_step_and_cosine_learning_rates_step_for_step():
    """The schedule partials give the recipe's learning rates at every step: OSTrack's step decay per
    epoch (lr x gamma every drop_epoch, backbone x backbone_lr_mult) and the per-step cosine after a
    linear warm-up over the trainer's total steps."""
    from types import SimpleNamespace

    optimizer = {"lr": 4e-4, "backbone_lr_mult": 0.1}
    step = TrackerLitModule(TINY_NET, optimizer=optimizer, scheduler={"drop_epoch": 3, "gamma": 0.5})
    lrs = _lrs(step, 10, "epoch")
    for epoch in range(10):
        assert lrs[epoch] == pytest.approx([4e-4 * 0.5 ** (epoch // 3), 4e-5 * 0.5 ** (epoch // 3)])
    assert [lr[0] for lr in lrs[2:5]] == pytest.approx([4e-4, 2e-4, 2e-4])  # the drop after epoch 3

    cosine = TrackerLitModule(TINY_NET, optimizer=optimizer,
                              scheduler={"_target_": COSINE, "warmup_steps": 4, "min_lr_ratio": 0.1})
    cosine._trainer = SimpleNamespace(estimated_stepping_batches=20)  # what Lightning says the run takes
    lrs = _lrs(cosine, 20, "step")
    for s in range(20):
        factor = cosine_factor(s, warmup=4, total=20, floor=0.1)
        assert lrs[s] == pytest.approx([4e-4 * factor, 4e-5 * factor])
    assert [lr[0] for lr in lrs[:4]] == pytest.approx([1e-4, 2e-4, 3e-4, 4e-4])  # linear warm-up
    assert lrs[4][0] == pytest.approx(4e-4) and lrs[19][0] == pytest.approx(4e-5)  # peak, then the floor
    assert lrs[12][0] == pytest.approx(4e-4 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 8 / 15))))


def test_the_default_recipe_is_conf_model_base():
    """A module given no recipe sections gets conf/model/base.yaml's (OSTrack's): AdamW partial, the step
    schedule; ``scheduler=None`` is no schedule."""
    module = TrackerLitModule(TINY_NET)
    assert module.hparams.optimizer == {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 4e-4,
                                        "weight_decay": 1e-4, "betas": [0.9, 0.999], "backbone_lr_mult": 0.1,
                                        "backbone_prefixes": ["backbone."]}
    assert module.hparams.scheduler == {"_target_": STEP, "_partial_": True, "drop_epoch": 240, "gamma": 0.1}
    lrs = _lrs(module, 3, "epoch")
    assert lrs[-1] == pytest.approx([4e-4, 4e-5])
    bare = TrackerLitModule(TINY_NET, scheduler=None)
    assert bare.hparams.scheduler is None
    assert isinstance(bare.configure_optimizers(), torch.optim.AdamW)


def test_unknown_recipe_key_is_an_error():
    with pytest.raises(KeyError, match="model.optimizer.learning_rate"):
        TrackerLitModule(TINY_NET, optimizer={"learning_rate": 1e-3})


def test_wrong_type_or_unknown_schedule_key_is_an_error_at_construction():
    with pytest.raises(ValueError, match="model.optimizer.lr: Value 'fast'"):
        TrackerLitModule(TINY_NET, optimizer={"lr": "fast"})
    with pytest.raises(KeyError, match="model.scheduler.warmup: unknown key"):
        TrackerLitModule(TINY_NET, scheduler={"_target_": COSINE, "warmup": 4})
    with pytest.raises(KeyError, match="model.scheduler.gama: not a parameter"):
        TrackerLitModule(TINY_NET, scheduler={"_target_": "torch.optim.lr_scheduler.ExponentialLR",
                                              "gama": 0.9})


def test_older_checkpoints_recipe_reads_as_today(tmp_path):
    """A checkpoint saved before the recipe sections were partials (``scheduler.name``, an optimiser
    without ``_target_``) and before some keys existed (``tracker``, ``loss.box_at``) loads: the missing
    keys come from conf/model/base.yaml, the schedule named is today's partial of it."""
    module = TrackerLitModule(TINY_NET)
    old = {"net": TINY_NET, "variant": "cmc",
           "optimizer": {"lr": 1e-3, "weight_decay": 1e-4, "backbone_lr_mult": 1.0,
                         "backbone_prefixes": ["backbone."], "betas": [0.9, 0.999]},
           "scheduler": {"name": "cosine", "drop_epoch": 240, "gamma": 0.1, "warmup_steps": 2,
                         "min_lr_ratio": 0.05},
           "loss": {"focal_weight": 1.0, "giou_weight": 2.0, "l1_weight": 5.0},
           "ce": {"enabled": True, "start_epoch": 0, "warm_epochs": 0, "keep_ratio": 0.7},
           "freeze": {"trainable": None}, "init_ckpt": None}
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": old,
                "pytorch-lightning_version": "2.4.0"}, path)
    loaded = TrackerLitModule.load_from_checkpoint(path, map_location="cpu")
    assert loaded.hparams.optimizer["_target_"] == "torch.optim.AdamW"
    assert loaded.hparams.optimizer["lr"] == 1e-3
    assert loaded.hparams.scheduler == {"_target_": COSINE, "_partial_": True, "warmup_steps": 2,
                                        "min_lr_ratio": 0.05}
    # an old checkpoint's tracking: its sections completed with the settings it was tracked with
    assert loaded.hparams.tracker == {"size_lr": 1.0, "aspect_lr": 1.0}
    assert loaded.hparams.loss["box_at"] == "peak"
    assert loaded.hparams.validation["protocol"] == "rgbt234"
    assert _lrs(loaded, 1, "step")[0] == pytest.approx([5e-4, 5e-4])  # warm-up step 1 of 2, backbone x1
    for name in ("step", "none"):
        legacy = {**old, "scheduler": {"name": name, "drop_epoch": 2, "gamma": 0.5, "warmup_steps": 0,
                                       "min_lr_ratio": 0.01}}
        again = TrackerLitModule(**legacy)
        step = {"_target_": STEP, "_partial_": True, "drop_epoch": 2, "gamma": 0.5}
        assert again.hparams.scheduler == (step if name == "step" else None)


def test_resume_matches_a_run_saved_before_the_recipe_keys_existed(tmp_path):
    """``ckpt_path=last`` compares the saved run config with this run's after completing both from
    conf/model/ (src.learning.checkpoints): a run saved with the older spelling of the same recipe is
    the same run; another recipe is not."""
    from src.learning import checkpoints as C

    cfg = compose_config("train", overrides=["paths.output_dir=/tmp/x", "paths.work_dir=/tmp/x"])
    config = C.run_config(cfg)
    model = config["model"]
    old_model = {k: v for k, v in model.items() if not k.startswith("_") or k == "_target_"}
    old_model["optimizer"] = {k: v for k, v in model["optimizer"].items()
                              if k in ("lr", "weight_decay", "backbone_lr_mult")}
    old_model["scheduler"] = {"name": "step", "drop_epoch": model["scheduler"]["drop_epoch"],
                              "gamma": model["scheduler"]["gamma"]}
    old = {**config, "model": old_model}
    path = tmp_path / "train" / "runs" / "old" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "hyper_parameters": {"net": model["net"]}, C.RUN_CONFIG_KEY: old}, path)
    assert C.find_last_checkpoint(tmp_path, "train", config) == path
    other = {**old, "model": {**old_model, "scheduler": {**old_model["scheduler"], "drop_epoch": 99}}}
    torch.save({"state_dict": {}, C.RUN_CONFIG_KEY: other}, path)
    with pytest.raises(FileNotFoundError, match="model.scheduler.drop_epoch: 99"):
        C.find_last_checkpoint(tmp_path, "train", config)


def test_freeze_trains_only_fusion_and_head_from_single_modal_checkpoint(tmp_path, caplog):
    single = TrackerLitModule({**TINY_NET, "variant": "single", "modalities": ["visible"],
                               "fusion": {"stages": []}})
    path = tmp_path / "single.ckpt"
    torch.save({"state_dict": single.state_dict(), "hyper_parameters": dict(single.hparams)}, path)
    with caplog.at_level(logging.INFO, logger="src.learning.module"):
        dual = TrackerLitModule(TINY_NET, init_ckpt=str(path), freeze={"trainable": ["fusion.", "head."]})
    # the backbone and head came from the single-modal run; the fusion block is new and reported
    for name, tensor in single.net.backbone.state_dict().items():
        assert torch.equal(dual.net.backbone.state_dict()[name], tensor), name
    assert "not in the checkpoint" in caplog.text and "fusion." in caplog.text
    trainable = {n.split(".")[0] for n, p in dual.net.named_parameters() if p.requires_grad}
    assert trainable == {"fusion", "head"}
    groups = dual.configure_optimizers()["optimizer"].param_groups
    assert [g["name"] for g in groups] == ["head_fusion"]
    assert load_net_state(path).keys() == single.net.state_dict().keys()


def test_freeze_prefix_that_matches_nothing_is_an_error():
    with pytest.raises(ValueError, match="matches no network parameter"):
        TrackerLitModule(TINY_NET, freeze={"trainable": ["adapter."]})


def test_hparams_are_plain_python():
    from omegaconf import OmegaConf

    module = TrackerLitModule(OmegaConf.create(TINY_NET), optimizer=OmegaConf.create({"lr": 1e-3}))
    assert type(module.hparams["net"]) is dict and type(module.hparams["net"]["backbone"]["ce_loc"]) is list
    assert module.hparams["variant"] == "cmc"


def test_warmup_keep_ratio_reaches_the_network():
    seen = []
    module = TrackerLitModule(TINY_NET, ce={"start_epoch": 0, "warm_epochs": 2, "keep_ratio": 0.5})
    original = module.net.forward

    def spy(*args, keep_ratio=None, **kwargs):
        seen.append(keep_ratio)
        return original(*args, keep_ratio=keep_ratio, **kwargs)

    module.net.forward = spy
    batch = {"template_visible": torch.randn(2, 3, 32, 32), "template_infrared": torch.randn(2, 3, 32, 32),
             "search_visible": torch.randn(2, 3, 64, 64), "search_infrared": torch.randn(2, 3, 64, 64),
             "template_box": torch.tensor([[0.5, 0.5, 0.3, 0.3]] * 2),
             "search_box": torch.tensor([[0.5, 0.5, 0.2, 0.2]] * 2),
             "heatmap": gaussian(4, 2, 2).expand(2, 4, 4)}
    module.log = lambda *a, **k: None
    module.log_dict = lambda *a, **k: None
    module.training_step(batch, 0)
    assert seen == [pytest.approx(1.0)]


@pytest.mark.parametrize("overrides", [
    ["experiment=ablation_dual"], ["experiment=tsf_single"], ["experiment=paper_lasher"],
    ["experiment=pretrain"], ["experiment=synthetic_full"], ["hparams_search=optuna"], ["trainer=gpu"],
    ["trainer=ddp"], ["trainer=ddp_sim"], ["logger=wandb"],
    ["logger=none"], ["debug=limit"], ["debug=overfit"], ["debug=profiler"], ["model=vitb_256"],
    ["hydra/launcher=joblib"], ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"],
])
def test_every_preset_composes(overrides):
    cfg = compose_config("train", overrides=overrides, return_hydra_config=True)
    assert cfg.model._target_.endswith("TrackerLitModule")
    if overrides[0].startswith("experiment=paper"):
        assert cfg.model.net.search_size == 256 and cfg.data.name == "lasher"
        assert cfg.model.optimizer.lr == 4e-4 and cfg.model.optimizer.backbone_lr_mult == 0.1
        assert cfg.trainer.gradient_clip_val == 0.1 and cfg.model.net.backbone.drop_path_rate == 0.1
    if overrides[0] == "experiment=ablation_dual":
        assert cfg.hydra.sweeper.params["+variant"].count(",") == 5 and cfg.experiment_name == "ablation_dual"
    if overrides[0] == "experiment=pretrain":  # the shipped checkpoint: single-modal, from scratch
        assert cfg.model.net.variant == "single" and cfg.model.init_ckpt is None
        assert cfg.export_weights.endswith("checkpoints/single_synthetic_cpu.pt")
        assert cfg.model.optimizer.backbone_lr_mult == 1.0  # from scratch: the backbone at the full rate
        assert abs(cfg.model.scheduler.drop_epoch - 0.8 * cfg.trainer.max_epochs) <= 1  # as OSTrack
        assert cfg.callbacks.ema._target_.endswith("EMAWeights")  # the exported network: averaged weights
    if overrides[0] == "experiment=synthetic_full":  # CMC* from the shipped checkpoint, longer
        assert cfg.model.net.variant == "cmc" and cfg.model.init_ckpt.endswith("single_synthetic_cpu.pt")
        assert cfg.trainer.max_epochs > 5 * 16
        assert cfg.model.scheduler.drop_epoch == int(0.8 * cfg.trainer.max_epochs)  # as OSTrack
        assert cfg.trainer.max_epochs % cfg.trainer.check_val_every_n_epoch == 0  # last epoch validated
        assert cfg.callbacks.model_checkpoint.monitor is None  # the final weights are tested


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "single_synthetic_cpu.pt"
VARIANTS = variant_names()  # conf/variant/


def test_the_shipped_checkpoint_matches_its_sha256():
    import hashlib

    recorded = (SHIPPED.parent / (SHIPPED.name + ".sha256")).read_text().split()[0]
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == recorded
    assert SHIPPED.stat().st_size <= 20e6


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_starts_from_the_shipped_checkpoint(variant, caplog):
    """The CPU default starts each variant from the shipped single-modal tracker (model.init_ckpt): the
    backbone and the head load whole, only the fusion blocks are new."""
    cfg = compose_config("train", overrides=[f"+variant={variant}"])
    assert Path(cfg.model.init_ckpt) == SHIPPED
    with caplog.at_level(logging.WARNING):
        module = TrackerLitModule(**{k: v for k, v in cfg.model.items() if not k.startswith("_")})
    shipped = load_net_state(SHIPPED)
    own = module.net.state_dict()
    assert not set(shipped) - set(own)
    missing = set(own) - set(shipped)
    assert all(k.startswith("fusion.") for k in missing), sorted(missing)[:5]
    assert bool(missing) == (variant != "single")
    for key in ("backbone.patch_embed.proj.weight", "backbone.blocks.3.mlp.fc2.weight",
                "head.score_tower.4.weight"):
        torch.testing.assert_close(own[key], shipped[key])
