"""Training pipeline: sampler, processing, heatmap, datamodule batches, determinism, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from src.data.datamodule import EpochKeySampler, TrackingDataModule
from src.data.processing import Augmentation, PairProcessing, gaussian_radius, heatmap
from src.data.sampler import CausalPairSampler
from src.data.sequence import Sequence
from src.data.transforms import MEAN, STD, Jitter
from tests.helpers.configs import compose_config

CONF = Path(__file__).resolve().parents[1] / "conf"
KEYS = {
    "template_visible",
    "template_infrared",
    "search_visible",
    "search_infrared",
    "template_box",
    "search_box",
    "heatmap",
}


def _sequence(valid: list[bool]) -> Sequence:
    t = len(valid)
    boxes = np.tile([10.0, 10.0, 20.0, 20.0], (t, 1))
    boxes[~np.array(valid)] = 0
    return Sequence(
        "s", {"visible": [Path(f"{i}.jpg") for i in range(t)]}, {"visible": boxes}, np.array(valid)
    )


def test_sampler_is_causal_and_uses_valid_frames_only():
    valid = [True, False, False, True, True, False, True, False, False, False, False, False, True]
    sampler = CausalPairSampler([_sequence(valid)], max_gap=2, gap_increase=1)
    rng = np.random.default_rng(0)
    usable = set(np.flatnonzero(valid))
    for _ in range(300):
        _, z, x = sampler.sample(rng)
        assert z in usable and x in usable
        assert x > z


def test_sampler_widens_the_gap_until_a_valid_frame():
    # template can only be frame 0 or 40: from 0 the next usable frame is 40, beyond max_gap=5
    valid = [True] + [False] * 39 + [True]
    sampler = CausalPairSampler([_sequence(valid)], max_gap=5, gap_increase=5)
    for seed in range(10):
        assert sampler.sample(np.random.default_rng(seed))[1:] == (0, 40)


def test_sampler_respects_max_gap():
    sampler = CausalPairSampler([_sequence([True] * 100)], max_gap=7)
    rng = np.random.default_rng(1)
    gaps = [x - z for _, z, x in (sampler.sample(rng) for _ in range(500))]
    assert min(gaps) >= 1 and max(gaps) <= 7


def test_sampler_rejects_data_without_usable_frames():
    with pytest.raises(ValueError, match="usable"):
        CausalPairSampler([_sequence([False, False])], max_gap=30)


def test_gaussian_radius_matches_cornernet_formula():
    # OSTrack's radius for an 8x8 map and a box a quarter of the crop (2x2 cells): 0 -> a single peak
    assert int(gaussian_radius(2.0, 2.0, 0.7)) == 0
    # 10x10 box: the third root, (-28 + sqrt(28^2 + 4 * 2.8 * 30)) / 2
    assert gaussian_radius(10.0, 10.0, 0.7) == pytest.approx((-28 + (28**2 + 4 * 2.8 * 30) ** 0.5) / 2)


def test_heatmap_peak_at_the_box_center():
    hm = heatmap(np.array([0.3, 0.6, 0.5, 0.4]), 16)
    assert hm.shape == (16, 16) and hm.max() == pytest.approx(1.0)
    y, x = np.unravel_index(hm.argmax(), hm.shape)
    assert (x, y) == (round(0.3 * 16), round(0.6 * 16))
    assert (hm > 0).sum() > 1  # a Gaussian, not a single cell


def _frames(size=(120, 160)):
    rng = np.random.default_rng(0)
    return {
        "visible": rng.integers(0, 255, (*size, 3), dtype=np.uint8),
        "infrared": rng.integers(0, 255, (*size, 3), dtype=np.uint8),
    }


def test_heatmap_center_cell_round_or_floor():
    box = np.array([3.7 / 8, 2.2 / 8, 0.25, 0.25])  # centre at (3.7, 2.2) cells
    peak = lambda m: np.unravel_index(int(m.argmax()), m.shape)  # noqa: E731
    assert peak(heatmap(box, 8)) == (2, 4)  # OSTrack: round -> col 4
    assert peak(heatmap(box, 8, center_cell="floor")) == (2, 3)  # the patch holding the centre
    assert peak(heatmap(np.array([1.0, 1.0, 0.2, 0.2]), 8, center_cell="floor")) == (7, 7)  # far edge
    with pytest.raises(ValueError, match="center_cell"):
        heatmap(box, 8, center_cell="ceil")


def _processing(search_jitter: Jitter | None = None, augmentation: Augmentation | None = None):
    """Template 64 / search 128 pairs, no template jitter; no search jitter or augmentation unless given."""
    return PairProcessing(template_size=64, search_size=128, template_factor=2.0, search_factor=4.0,
                          template_jitter=Jitter(0, 0), search_jitter=search_jitter or Jitter(0, 0),
                          augmentation=augmentation or Augmentation(0, 0, 0), heatmap_stride=16,
                          heatmap_cell="round")


def test_processing_without_jitter_centres_the_target():
    processing = _processing()
    box = np.array([60.0, 40.0, 20.0, 20.0])
    frames = _frames()
    sample = processing(frames, box, frames, box, np.random.default_rng(0))
    # crop side = factor * sqrt(w h): the box is 1/2 of the template crop and 1/4 of the search crop
    np.testing.assert_allclose(sample["template_box"].numpy(), [0.5, 0.5, 0.5, 0.5], atol=0.02)
    np.testing.assert_allclose(sample["search_box"].numpy(), [0.5, 0.5, 0.25, 0.25], atol=0.02)
    # the pixels: the search crop's centre is the frame's box centre (same crop for both modalities)
    search = sample["search_visible"].numpy().transpose(1, 2, 0) * STD + MEAN
    centre = frames["visible"][50, 70] / 255.0
    np.testing.assert_allclose(search[64, 64], centre, atol=0.06)
    thermal = sample["search_infrared"].numpy().transpose(1, 2, 0) * STD + MEAN
    np.testing.assert_allclose(thermal[64, 64], frames["infrared"][50, 70] / 255.0, atol=0.06)


def test_processing_cuts_the_search_crop_around_a_given_centre():
    processing = _processing()
    box = np.array([60.0, 40.0, 20.0, 20.0])
    frames = _frames()
    # centred 12 px right of and 10 px above the target: the target sits at (-12, +10) px of the centre,
    # in a crop of 4 * 20 = 80 px scaled to 128
    sample = processing(frames, box, frames, box, np.random.default_rng(0),
                        search_centre=np.array([82.0, 40.0]))
    np.testing.assert_allclose(sample["search_box"].numpy(), [0.5 - 12 / 80, 0.5 + 10 / 80, 0.25, 0.25],
                               atol=0.02)
    # the heatmap's peak follows the target, not the crop's centre
    peak = np.unravel_index(int(sample["heatmap"].argmax()), sample["heatmap"].shape)
    assert peak == (5, 3)  # round((0.625, 0.35) * 8)
    # a centre that leaves too little of the target in the crop: no sample (the caller redraws)
    assert processing(frames, box, frames, box, np.random.default_rng(0),
                      search_centre=np.array([130.0, 40.0])) is None


def test_a_search_centre_on_the_target_is_the_plain_crop_under_a_stretch():
    # the given centre is stretched with the frames: centred on the target's own centre it cuts the
    # target's crop, whatever the pair's aspect stretch
    processing = _processing(Jitter(0.5, 0.1), Augmentation(0, 0, 0, aspect=1.0, aspect_log=0.4))
    box = np.array([60.0, 40.0, 20.0, 24.0])
    frames = _frames()
    for seed in range(3):
        plain = processing(frames, box, frames, box, np.random.default_rng(seed))
        centred = processing(frames, box, frames, box, np.random.default_rng(seed),
                             search_centre=box[:2] + box[2:] / 2)
        torch.testing.assert_close(centred["search_box"], plain["search_box"])
        torch.testing.assert_close(centred["search_visible"], plain["search_visible"])


def test_processing_flip_moves_the_box():
    processing = _processing(Jitter(0.5, 0), Augmentation(hflip=1.0, brightness=0, grayscale=0))
    no_flip = _processing(Jitter(0.5, 0))
    box = np.array([60.0, 40.0, 20.0, 20.0])
    frames = _frames()
    flipped = processing(frames, box, frames, box, np.random.default_rng(3))
    plain = no_flip(frames, box, frames, box, np.random.default_rng(3))
    np.testing.assert_allclose(flipped["search_box"][0], 1 - plain["search_box"][0], atol=1e-5)
    torch.testing.assert_close(flipped["search_visible"], plain["search_visible"].flip(-1))


def _drawn_box(crop: torch.Tensor) -> np.ndarray:
    """``ltwh`` (crop pixels) of the bright rectangle in a normalised crop: the extent of the pixels
    above half the rectangle's brightness (the crop's bilinear edges fall on either side of it)."""
    grey = (crop.numpy().transpose(1, 2, 0) * STD + MEAN).mean(axis=2)
    ys, xs = np.nonzero(grey > 0.5 * grey.max())
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], dtype=np.float64)


@pytest.mark.parametrize("stride", [16, 8])
@pytest.mark.parametrize("center_cell", ["round", "floor"])
@pytest.mark.parametrize("hflip,aspect", [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
def test_labels_fall_on_the_drawn_target_in_both_modalities(hflip, aspect, center_cell, stride):
    """Label/crop alignment: over jittered pairs (centre 1 size, scale 0.25) with and without the flip
    and the aspect stretch, the search box equals the drawn target within 1 px in crop coordinates, in
    the visible and the infrared crop, and the heatmap peak is the grid point nearest to the drawn centre
    (``round``) or the cell that holds it (``floor``), on the patch grid (16) and on the finer head grid
    (8)."""
    box = np.array([83.0, 61.0, 26.0, 18.0])
    frames = {}
    for modality, value in (("visible", 255), ("infrared", 200)):
        image = np.zeros((160, 220, 3), np.uint8)
        image[61:79, 83:109] = value  # the target: rows y..y+h, columns x..x+w
        frames[modality] = image
    augmentation = Augmentation(hflip=hflip, brightness=0, grayscale=0, aspect=aspect, aspect_log=0.6)
    processing = _processing(Jitter(1.0, 0.25), augmentation)
    processing.heatmap_cell = center_cell
    processing.heatmap_stride = stride
    tol = 1 / stride  # one pixel of the grid
    # the stretch resamples the frame once more before the crop: edges blur over one more pixel (over 200
    # pairs: at most 1.37 px, 95th percentile 0.85 px, the same bias on both edges)
    atol = 1.5 if aspect else 1.0
    checked = 0
    for seed in range(40):
        sample = processing(frames, box, frames, box, np.random.default_rng(seed))
        if sample is None:
            continue
        cx, cy, w, h = sample["search_box"].numpy() * 128
        label = np.array([cx - w / 2, cy - h / 2, w, h])
        if label[0] < 1 or label[1] < 1 or label[0] + w > 127 or label[1] + h > 127:
            continue  # clipped at the crop border: the drawn extent is clipped differently
        for modality in ("visible", "infrared"):
            drawn = _drawn_box(sample[f"search_{modality}"])
            np.testing.assert_allclose(label, drawn, atol=atol, err_msg=f"{modality}, seed {seed}")
            drawn_cx, drawn_cy = (drawn[0] + drawn[2] / 2) / stride, (drawn[1] + drawn[3] / 2) / stride
            assert sample["heatmap"].shape == (128 // stride, 128 // stride)
            row, col = np.unravel_index(int(sample["heatmap"].argmax()), sample["heatmap"].shape)
            if center_cell == "round":
                assert abs(col - drawn_cx) <= 0.5 + tol and abs(row - drawn_cy) <= 0.5 + tol, (seed, modality)
            else:
                assert col - tol <= drawn_cx <= col + 1 + tol and row - tol <= drawn_cy <= row + 1 + tol, (
                    seed, modality)
        checked += 1
    assert checked >= 20


def _datamodule(root, **overrides) -> TrackingDataModule:
    """conf/data/pipeline/default.yaml's options (what every data config has), small sizes and counts, no
    template jitter; the keys the training config gives (src.data.datamodule.build_datamodule) passed here."""
    options = OmegaConf.to_container(OmegaConf.load(CONF / "data" / "pipeline" / "default.yaml"))
    options.update(
        template_jitter={},
        modalities=["visible", "infrared"],
        heatmap_stride=16,
        heatmap_cell="round",
        name="rgbt234",
        root=str(root),
        splits={"train": "train", "val": "val", "test": "test"},
        template_size=64,
        search_size=128,
        batch_size=4,
        num_workers=0,
        samples_per_epoch=8,
        val_samples=4,
        max_gap=10,
        seed=7,
    )
    options.update(overrides)
    return TrackingDataModule(**options)


def test_batch_keys_shapes_and_targets(tiny_synthetic_root):
    batch = next(iter(_datamodule(tiny_synthetic_root).train_dataloader()))
    assert set(batch) == KEYS
    assert batch["template_visible"].shape == batch["template_infrared"].shape == (4, 3, 64, 64)
    assert batch["search_visible"].shape == batch["search_infrared"].shape == (4, 3, 128, 128)
    assert batch["template_box"].shape == batch["search_box"].shape == (4, 4)
    assert batch["heatmap"].shape == (4, 8, 8)
    assert all(v.dtype == torch.float32 for v in batch.values())
    boxes = batch["search_box"]
    assert ((boxes >= 0) & (boxes <= 1)).all()
    # heatmap peak at the box centre cell
    for hm, box in zip(batch["heatmap"], boxes):
        y, x = np.unravel_index(int(hm.argmax()), hm.shape)
        assert (x, y) == (round(float(box[0]) * 8), round(float(box[1]) * 8))
    # ImageNet-normalised: roughly zero-centred, not raw 0..255
    assert batch["search_visible"].abs().max() < 3.0
    # the two modalities are different images
    assert not torch.equal(batch["search_visible"], batch["search_infrared"])


ONLINE = {"fraction": 1.0, "frames": 20, "generate": {"width": 160, "height": 120, "target_size": [14, 40],
                                                     "aspect_log_range": [-1.2, 1.1]}}


def test_online_pairs_are_new_scenes_deterministic_and_worker_independent(tiny_synthetic_root):
    from tests.helpers.configs import TINY

    generate = {**TINY, "workers": 1}
    a = _epoch(_datamodule(tiny_synthetic_root, generate=generate, online=ONLINE))
    b = _epoch(_datamodule(tiny_synthetic_root, generate=generate, online=ONLINE, num_workers=2,
                           persistent_workers=False))
    written = _epoch(_datamodule(tiny_synthetic_root, generate=generate))
    assert set(a[0]) == KEYS
    for x, y in zip(a, b):
        for key in KEYS:
            torch.testing.assert_close(x[key], y[key])
    assert not torch.equal(a[0]["search_visible"], written[0]["search_visible"])
    # the target is warm in the thermal crop: hotter inside the search box than around it
    for thermal, box in zip(a[0]["search_infrared"], a[0]["search_box"]):
        grey = (thermal.numpy().transpose(1, 2, 0) * STD + MEAN).mean(axis=2)
        cx, cy, w, h = (box.numpy() * 128).round().astype(int)
        inside = grey[max(cy - h // 4, 0) : cy + h // 4 + 1, max(cx - w // 4, 0) : cx + w // 4 + 1].mean()
        assert inside > np.median(grey) + 0.05


def test_online_lure_reaches_the_scenes_and_moves_the_crop(tiny_synthetic_root):
    from tests.helpers.configs import TINY

    generate = {**TINY, "workers": 1}
    lured = _datamodule(tiny_synthetic_root, generate=generate, online={**ONLINE, "lure": 1.0})
    assert lured.train_dataset.online.lure == 1.0
    plain = _datamodule(tiny_synthetic_root, generate=generate, online=ONLINE).train_dataset
    offset: dict[str, list[float]] = {"lured": [], "plain": []}
    for key in range(16):  # online fraction 1: every key is an on-the-fly scene
        for label, dataset in (("lured", lured.train_dataset), ("plain", plain)):
            offset[label].append(float(np.abs(dataset[key]["search_box"][:2].numpy() - 0.5).max()))
    # the lured crops are cut around a distractor: their targets sit further from the crop's centre
    assert np.mean(offset["lured"]) > np.mean(offset["plain"])


def test_online_fraction_mixes_scenes_and_the_written_split(tiny_synthetic_root):
    from tests.helpers.configs import TINY

    generate = {**TINY, "workers": 1}
    dm = _datamodule(tiny_synthetic_root, generate=generate, online={**ONLINE, "fraction": 0.5},
                     samples_per_epoch=200)
    dataset = dm.train_dataset
    draws = [np.random.default_rng([dm.seed, 3, key]).random() < 0.5 for key in range(200)]
    assert 60 < sum(draws) < 140
    key_online, key_written = draws.index(True), draws.index(False)
    torch.testing.assert_close(dataset[key_online]["search_box"], dataset.online[key_online]["search_box"])
    torch.testing.assert_close(dataset[key_written]["search_box"], dataset.written[key_written]["search_box"])
    with pytest.raises(ValueError, match="online needs a synthetic benchmark"):
        _datamodule(tiny_synthetic_root, online=ONLINE)


def test_single_modal_fills_infrared_with_visible(tiny_synthetic_root):
    batch = next(iter(_datamodule(tiny_synthetic_root, modalities=["visible"]).train_dataloader()))
    assert set(batch) == KEYS
    assert torch.equal(batch["search_infrared"], batch["search_visible"])


def _epoch(datamodule) -> list[dict]:
    return list(datamodule.train_dataloader())


def test_deterministic_under_a_seed_and_independent_of_workers(tiny_synthetic_root):
    a = _epoch(_datamodule(tiny_synthetic_root))
    b = _epoch(_datamodule(tiny_synthetic_root, num_workers=2, persistent_workers=False))
    c = _epoch(_datamodule(tiny_synthetic_root, seed=8))
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        for key in KEYS:
            torch.testing.assert_close(x[key], y[key])
    assert not torch.equal(a[0]["search_box"], c[0]["search_box"])


def test_each_epoch_draws_new_pairs_validation_repeats(tiny_synthetic_root):
    dm = _datamodule(tiny_synthetic_root)
    loader = dm.train_dataloader()
    first, second = next(iter(loader)), next(iter(loader))  # no trainer: epochs counted by iterations
    assert not torch.equal(first["search_box"], second["search_box"])
    val = dm.val_dataloader()
    torch.testing.assert_close(next(iter(val))["search_box"], next(iter(val))["search_box"])


def test_epoch_key_sampler_follows_the_trainer_epoch():
    epoch = {"now": 3}
    sampler = EpochKeySampler(5, epoch_fn=lambda: epoch["now"])
    assert list(sampler) == [15, 16, 17, 18, 19]
    assert list(sampler) == [15, 16, 17, 18, 19]  # the same epoch again (a resumed run) replays it


def test_epoch_key_sampler_set_epoch_without_a_trainer():
    sampler = EpochKeySampler(3)
    sampler.set_epoch(2)  # Lightning calls it on samplers that have it
    assert list(sampler) == [6, 7, 8]


def test_train_keys_follow_the_fit_loops_epoch_not_current_epoch(tiny_synthetic_root):
    """On resume Lightning creates the epoch's iterator, and workers prefetch its first keys, while
    ``trainer.current_epoch`` still names the restored epoch: the keys must come from the fit loop's
    count of processed epochs (what Lightning passes to ``set_epoch``)."""
    from types import SimpleNamespace

    dm = _datamodule(tiny_synthetic_root)
    progress = SimpleNamespace(current=SimpleNamespace(processed=1, completed=0))
    dm.trainer = SimpleNamespace(current_epoch=0, fit_loop=SimpleNamespace(epoch_progress=progress))
    sampler = dm.train_dataloader().sampler
    assert list(sampler)[0] == dm.samples_per_epoch  # epoch 1's first key


def test_sequences_and_subsets_for_tracking(tiny_synthetic_root):
    dm = _datamodule(tiny_synthetic_root)
    assert [s.name for s in dm.sequences("test")] == ["test_000", "test_001"]
    assert set(dm.subsets("test")) == {"normal", "extreme"}
    assert len(dm.sequences("val")) == 1


def test_config_instantiates_with_train_sizes(tiny_synthetic_root):
    """conf/data/synthetic.yaml through Hydra, as src/train.py instantiates it."""
    cfg = compose_config(
        "train", overrides=[f"data.root={tiny_synthetic_root}", "data.num_workers=0", "data.batch_size=2"]
    )
    assert "model." not in OmegaConf.to_yaml(cfg.data, resolve=False)  # never interpolates model.*
    dm = instantiate(
        cfg.data,
        template_size=64,
        search_size=128,
        modalities=["visible", "infrared"],
        seed=1,
        heatmap_stride=16,
        heatmap_cell="round",
        _convert_="all",
    )
    assert isinstance(dm, TrackingDataModule)
    assert dm.protocol == "rgbt234" and dm.dataset_name == "synthetic"
    batch = next(iter(dm.train_dataloader()))
    assert batch["search_visible"].shape == (2, 3, 128, 128)


@pytest.mark.parametrize(
    "name", ["synthetic", "rgbt234", "rgbt210", "gtot", "lasher", "got10k", "otb100", "lasot", "folder"]
)
def test_every_data_config_composes(name):
    cfg = compose_config("train", overrides=[f"data={name}"])
    data = cfg.data
    assert data._target_ == "src.data.datamodule.TrackingDataModule"
    assert data.name in ("rgbt234", "rgbt210", "gtot", "lasher", "got10k", "otb100", "lasot", "folder")
    assert data.root and data.protocol and "splits" in data
    assert ("generate" in data) == (name == "synthetic")


def test_transfer_augmentation_off_draws_nothing_and_on_changes_every_crop():
    """The camera effects at 0 leave a pair exactly as before them (no random draw either: every figure
    of the pipeline reproduces); at 1 they change every crop, and the target's label is kept."""
    box = np.array([60.0, 40.0, 20.0, 20.0])
    frames = _frames()
    plain = _processing(Jitter(0.5, 0.1), Augmentation(0.5, 0.2, 0.05))
    zeros = _processing(Jitter(0.5, 0.1), Augmentation(0.5, 0.2, 0.05, contrast=0, blur=0, noise=0, jpeg=0,
                                                       modality=0, aspect=0, aspect_log=0.5))
    for seed in range(5):
        a, b = plain(frames, box, frames, box, np.random.default_rng(seed)), \
            zeros(frames, box, frames, box, np.random.default_rng(seed))
        assert all(torch.equal(a[k], b[k]) for k in a)
    camera = _processing(Jitter(0, 0), Augmentation(0, 0, 0, contrast=0.3, blur=1.0, noise=1.0, jpeg=1.0))
    a = _processing()(frames, box, frames, box, np.random.default_rng(0))
    b = camera(frames, box, frames, box, np.random.default_rng(0))
    for key in ("template_visible", "template_infrared", "search_visible", "search_infrared"):
        assert b[key].shape == a[key].shape and not torch.equal(a[key], b[key]), key
    torch.testing.assert_close(b["search_box"], a["search_box"])


@pytest.mark.parametrize("seed", range(6))
def test_modality_degradation_hits_one_search_stream(seed):
    """At rate 1 one stream of the search crop is dark, saturated or replaced by the other; the template
    and the other stream are untouched."""
    box = np.array([60.0, 40.0, 20.0, 20.0])
    frames = _frames()
    a = _processing()(frames, box, frames, box, np.random.default_rng(0))
    b = _processing(augmentation=Augmentation(0, 0, 0, modality=1.0))(frames, box, frames, box,
                                                                       np.random.default_rng(seed))
    assert torch.equal(a["template_visible"], b["template_visible"])
    assert torch.equal(a["template_infrared"], b["template_infrared"])
    changed = [m for m in ("visible", "infrared") if not torch.equal(a[f"search_{m}"], b[f"search_{m}"])]
    assert len(changed) == 1
    other = "infrared" if changed[0] == "visible" else "visible"
    replaced = torch.equal(b[f"search_{changed[0]}"], a[f"search_{other}"])
    mean_before, mean_after = (x[f"search_{changed[0]}"].mean().item() for x in (a, b))
    assert replaced or mean_after < mean_before - 0.3 or mean_after > mean_before + 0.3
