"""Training pairs cut from still photographs (src/data/photo_pairs.py) and the photo-matching probe."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from src.data.datamodule import MixedPairs, TrackingDataModule
from src.data.photo_pairs import PhotoPairConfig, PhotoPairDataset, draw_pair, pseudo_thermal
from src.data.synthetic import assets
from src.data.transforms import MEAN, STD

ROOT = Path(__file__).resolve().parents[1]


def _patch(image: np.ndarray, box: np.ndarray, size: int = 24) -> np.ndarray:
    """The box's inner three quarters (a moved patch is feathered over its outer eighth), grey,
    resized and standardised."""
    x, y, w, h = np.round(box + np.r_[box[2:] / 8, -box[2:] / 4]).astype(int)
    grey = cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY).astype(np.float64)
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return (grey - grey.mean()) / (grey.std() + 1e-6)


def _draws(cfg: PhotoPairConfig, count: int, seed: int = 0):
    rng, photos, out = np.random.default_rng(seed), assets.backgrounds(), []
    while len(out) < count:
        drawn = draw_pair(photos[int(rng.integers(len(photos)))], cfg, rng)
        if drawn is not None:
            out.append(drawn)
    return out


@pytest.mark.parametrize("move", [0.0, 1.0])
def test_the_search_box_holds_the_template_region(move):
    """The moved box frames what the template box framed (normalised correlation of the two regions,
    lighting aside), and a region elsewhere in the photo does not match it as well."""
    cfg = PhotoPairConfig(fraction=1.0, move=move, roll=0.0)
    same, other = [], []
    for z_frame, z_box, x_frame, x_box in _draws(cfg, 24):
        H, W = x_frame.shape[:2]
        assert x_box[0] >= 0 and x_box[0] + x_box[2] <= W and x_box[1] >= 0 and x_box[1] + x_box[3] <= H
        assert x_box[2] / x_box[3] == pytest.approx(z_box[2] / z_box[3], rel=0.05)
        template = _patch(z_frame, z_box)
        same.append((template * _patch(x_frame, x_box)).mean())
        far = x_box.copy()
        far[:2] = (x_box[:2] + x_box[2:] * 1.5) % (np.array([W, H]) - x_box[2:])
        other.append((template * _patch(x_frame, far)).mean())
    assert np.median(same) > 0.8
    assert np.median(same) > np.median(other) + 0.4


def test_the_target_moves_against_its_background():
    """With ``move`` on, the camera's motion alone no longer explains where the target went."""
    cfg = PhotoPairConfig(fraction=1.0, move=1.0, shift=0.0, zoom=0.0, roll=0.0)
    offsets = [np.abs(x_box[:2] - z_box[:2]).max() for _, z_box, _, x_box in _draws(cfg, 12)]
    assert np.median(offsets) > 2.0
    still = PhotoPairConfig(fraction=1.0, move=0.0, shift=0.0, zoom=0.0, roll=0.0)
    assert max(np.abs(x_box[:2] - z_box[:2]).max() for _, z_box, _, x_box in _draws(still, 12)) < 1.0


def test_pseudo_thermal_is_one_monotonic_response_for_both_frames():
    rng = np.random.default_rng(3)
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (32, 1))
    frame = cv2.cvtColor(ramp, cv2.COLOR_GRAY2RGB)
    first, second = pseudo_thermal((frame, frame), rng)
    assert first.shape == frame.shape and np.array_equal(first[..., 0], first[..., 2])
    profile = first[:, 8:-8, 0].astype(float).mean(axis=0)
    steps = np.sign(np.diff(profile[::6]))
    assert abs(steps.sum()) == len(steps)  # monotonic, up or down
    assert np.abs(first.astype(int) - second.astype(int)).mean() < 4  # same response, new noise


def _datamodule(root: Path, **overrides) -> TrackingDataModule:
    """conf/data/pipeline/default.yaml's options at small sizes and counts, ``overrides`` on top."""
    options = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "pipeline" / "default.yaml"))
    options.update(name="rgbt234", root=str(root), splits={"train": "train", "val": "val", "test": "test"},
                   template_size=64, search_size=128, modalities=["visible", "infrared"], seed=0,
                   batch_size=4,
                   num_workers=0, samples_per_epoch=40, val_samples=4, max_gap=5, heatmap_stride=16,
                   heatmap_cell="floor")
    options.update(overrides)
    return TrackingDataModule(**options)


def test_photo_fraction_mixes_photo_pairs_into_any_benchmark(tiny_synthetic_root):
    off = _datamodule(tiny_synthetic_root).train_dataset
    assert not isinstance(off, MixedPairs)
    dm = _datamodule(tiny_synthetic_root, photos={"fraction": 0.5}, samples_per_epoch=200)
    dataset = dm.train_dataset
    assert isinstance(dataset, MixedPairs) and isinstance(dataset.online, PhotoPairDataset)
    draws = [np.random.default_rng([dm.seed, dataset.stream, key]).random() < 0.5 for key in range(200)]
    assert 60 < sum(draws) < 140
    key_photo, key_written = draws.index(True), draws.index(False)
    torch.testing.assert_close(dataset[key_photo]["search_box"], dataset.online[key_photo]["search_box"])
    torch.testing.assert_close(dataset[key_written]["search_box"], dataset.written[key_written]["search_box"])
    # deterministic in the key; both modalities present and different
    sample = dataset.online[key_photo]
    torch.testing.assert_close(sample["search_visible"], dataset.online[key_photo]["search_visible"])
    assert not torch.equal(sample["search_visible"], sample["search_infrared"])
    grey = (sample["search_infrared"].numpy().transpose(1, 2, 0) * STD + MEAN)
    assert np.allclose(grey[..., 0], grey[..., 1], atol=0.02)
    with pytest.raises(ValueError, match="unknown keys"):
        _datamodule(tiny_synthetic_root, photos={"fractoin": 0.5})
    with pytest.raises(ValueError, match="fraction must be in"):
        _datamodule(tiny_synthetic_root, photos={"fraction": 1.5})


def test_probe_finds_the_moved_region_with_a_classical_tracker(tmp_path, capsys):
    """The probe on photos written to a folder: KCF+RGBT, which matches appearance, finds the region."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import probe_photo_matching as probe

    photos = assets.backgrounds()[:2]
    for i, photo in enumerate(photos):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    assert probe.main(["kcf_rgbt", "--photos", str(tmp_path), "--names", "p0.png", "p1.png",
                       "--per-photo", "4"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| kcf_rgbt"))
    mean_iou = float(row.split("|")[2])
    assert mean_iou > 0.6
    with pytest.raises(SystemExit):
        probe.main(["kcf_rgbt", "--photos", str(tmp_path), "--names", "missing.png"])
