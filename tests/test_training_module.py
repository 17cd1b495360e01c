"""TrackerLitModule's parts: objective, CE warm-up, optimiser groups, freezing, checkpoints, configs."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import src  # noqa: F401
from src.training.module import TrackerLitModule, load_net_state
from src.training.objective import TrackingObjective, box_losses, heatmap_focal_loss
from src.training.schedules import ce_keep_ratio

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
    from src.models.layers.head import CenterPredictor
    from src.training.objective import cells_near

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


def test_optimizer_groups_backbone_multiplier():
    module = TrackerLitModule(TINY_NET, optimizer={"lr": 4e-4, "backbone_lr_mult": 0.1, "weight_decay": 1e-4},
                              scheduler={"name": "step", "drop_epoch": 3, "gamma": 0.1})
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
    from src.training.schedules import cosine_factor

    module = TrackerLitModule(TINY_NET, optimizer={"lr": 1e-3},
                              scheduler={"name": "cosine", "warmup_steps": 4, "min_lr_ratio": 0.1})
    config = module.configure_optimizers()
    assert config["lr_scheduler"]["interval"] == "step"
    factors = [cosine_factor(s, warmup=4, total=20, floor=0.1) for s in range(20)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[4:], factors[5:]))  # monotone after the warm-up
    assert cosine_factor(100, warmup=4, total=20, floor=0.1) == pytest.approx(0.1)  # past the end: the floor


def test_unknown_recipe_key_is_an_error():
    with pytest.raises(KeyError, match="model.optimizer.learning_rate"):
        TrackerLitModule(TINY_NET, optimizer={"learning_rate": 1e-3})


def test_freeze_trains_only_fusion_and_head_from_single_modal_checkpoint(tmp_path, caplog):
    single = TrackerLitModule({**TINY_NET, "variant": "single", "modalities": ["visible"],
                               "fusion": {"stages": []}})
    path = tmp_path / "single.ckpt"
    torch.save({"state_dict": single.state_dict(), "hyper_parameters": dict(single.hparams)}, path)
    with caplog.at_level(logging.INFO, logger="src.training.module"):
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
def test_presets_compose(overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
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
    if overrides[0] == "experiment=synthetic_full":  # CMC* from the shipped checkpoint, longer
        assert cfg.model.net.variant == "cmc" and cfg.model.init_ckpt.endswith("single_synthetic_cpu.pt")
        assert cfg.trainer.max_epochs > 5 * 16


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "single_synthetic_cpu.pt"
VARIANTS = sorted(p.stem for p in (Path(CONF) / "variant").glob("*.yaml"))


def test_the_shipped_checkpoint_matches_its_sha256():
    import hashlib

    recorded = (SHIPPED.parent / (SHIPPED.name + ".sha256")).read_text().split()[0]
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == recorded
    assert SHIPPED.stat().st_size <= 20e6


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_starts_from_the_shipped_checkpoint(variant, caplog):
    """The CPU default starts each variant from the shipped single-modal tracker (model.init_ckpt): the
    backbone and the head load whole, only the fusion blocks are new."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[f"+variant={variant}"])
    assert Path(cfg.model.init_ckpt) == SHIPPED
    with caplog.at_level(logging.WARNING):
        module = TrackerLitModule(**{k: v for k, v in cfg.model.items() if k != "_target_"})
    shipped = load_net_state(SHIPPED)
    own = module.net.state_dict()
    assert not set(shipped) - set(own)
    missing = set(own) - set(shipped)
    assert all(k.startswith("fusion.") for k in missing), sorted(missing)[:5]
    assert bool(missing) == (variant != "single")
    for key in ("backbone.patch_embed.proj.weight", "backbone.blocks.3.mlp.fc2.weight",
                "head.score_tower.4.weight"):
        torch.testing.assert_close(own[key], shipped[key])
