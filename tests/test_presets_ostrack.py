"""The field's recipes from OSTrack weights (conf/experiment/rgbt_ostrack_*.yaml): they compose with the
recipe's settings, and (slow) each trains 2 steps on CPU at the real size (vitb_256) on a tiny
LasHeR-layout fixture, from an OSTrack-format checkpoint with random weights (tests/ostrack_format.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers.configs import compose_config
from tests.helpers.ostrack_format import save_ostrack_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")


def compose_train(*overrides: str):
    return compose_config("train", overrides=list(overrides))


def test_ostrack_presets_compose_with_their_recipes():
    full = compose_train("experiment=rgbt_ostrack_full")
    assert full.data.name == "lasher" and full.model.net.search_size == 256
    assert full.model.init_ckpt.endswith("OSTrack_ep0300.pth.tar") and full.model.freeze.trainable is None
    lr = full.model.optimizer.lr
    assert (lr, lr * full.model.optimizer.backbone_lr_mult) == pytest.approx((5e-5, 5e-6))
    assert full.trainer.max_epochs == 15 and full.model.scheduler.drop_epoch == 10
    prompt = compose_train("experiment=rgbt_ostrack_prompt")
    assert list(prompt.model.freeze.trainable) == ["fusion."] and prompt.model.optimizer.lr == 4e-4
    assert prompt.model.ce.keep_ratio == 0.7 and prompt.model.net.backbone.ce_template_mask == "center"


def make_lasher_fixture(root: Path, frames: int = 8) -> Path:
    """LasHeR's layout: <split>/<seq>/{visible,infrared}/*.jpg + visible.txt / infrared.txt (ltwh, commas)."""
    rng = np.random.default_rng(0)
    for split, names in (("trainingset", ["trainA", "trainB"]), ("testingset", ["10runone"])):
        for name in names:
            seq = root / split / name
            boxes = np.array([[60 + 2 * t, 40 + t, 40, 30] for t in range(frames)], dtype=float)
            for modality in ("visible", "infrared"):
                (seq / modality).mkdir(parents=True, exist_ok=True)
                for t in range(frames):
                    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
                    cv2.imwrite(str(seq / modality / f"{t + 1:06d}.jpg"), image)
                np.savetxt(seq / f"{modality}.txt", boxes, fmt="%d", delimiter=",")
            np.savetxt(seq / "init.txt", boxes, fmt="%d", delimiter=",")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["rgbt_ostrack_full", "rgbt_ostrack_prompt"])
def test_ostrack_preset_trains_two_steps_at_vitb_256(preset, tmp_path):
    from src.train import train

    data = make_lasher_fixture(tmp_path / "LasHeR")
    ckpt = save_ostrack_checkpoint(tmp_path / "OSTrack_ep0300.pth.tar")  # vitb_256_mae_ce: ViT-B, 8x8 / 16x16
    out = tmp_path / "run"
    cfg = compose_train(
        f"experiment={preset}", "trainer=cpu", "logger=csv", f"data.root={data}", f"model.init_ckpt={ckpt}",
        f"paths.output_dir={out}", f"paths.log_dir={tmp_path / 'logs'}", f"paths.work_dir={ROOT}",
        "data.batch_size=2", "data.num_workers=0", "data.samples_per_epoch=4", "data.val_samples=2",
        "data.pin_memory=false", "model.validation.track=false", "test=false", "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1", "trainer.enable_model_summary=false", "callbacks.sample_images=null")
    assert cfg.model.net.backbone.embed_dim == 768 and cfg.model.net.search_size == 256
    metrics, objects = train(cfg)
    trainer, module = objects["trainer"], objects["model"]
    assert trainer.global_step == 2
    assert np.isfinite(metrics["train/loss"]) and metrics["train/loss"] > 0
    report = module.init_report
    assert all(k.startswith("fusion.") for k in report.missing) and report.missing
    assert (out / "init_ckpt_report.json").is_file()
    trainable = {n.split(".")[0] for n, p in module.net.named_parameters() if p.requires_grad}
    if preset == "rgbt_ostrack_prompt":
        assert trainable == {"fusion"}
        # the frozen backbone is still OSTrack's after training
        source = torch.load(ckpt, weights_only=True)["net"]
        torch.testing.assert_close(module.net.backbone.blocks[5].attn.qkv.weight,
                                   source["backbone.blocks.5.attn.qkv.weight"])
    else:
        assert trainable == {"backbone", "fusion", "head"}
