"""The OSTrack-style tracker: geometry, buffers reused per frame, modalities, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src.data.sequence import INFRARED, VISIBLE
from src.data.transforms import crop_geometry, normalize
from src.tracking import tracker as tracker_module
from src.tracking.tracker import OSTrackTracker, hann2d
from tests.helpers.tracking import FixedBoxNet, random_frames, read_sequences, save_checkpoint, tiny_net


# -- tests -----------------------------------------------------------------------------------------
def test_hann2d_is_centred_and_positive():
    window = hann2d(8, 8)[0, 0]
    assert window.shape == (8, 8)
    assert torch.all(window > 0)
    assert torch.allclose(window, window.flip(0)) and torch.allclose(window, window.flip(1))
    k = torch.arange(1, 9, dtype=torch.float32)
    expected = 0.5 * (1 - torch.cos(2 * torch.pi * k / 9))
    assert torch.allclose(window[3], expected * expected[3])


@pytest.mark.parametrize("variant", ["cmc", "single"])
def test_tracker_loop_keeps_box_in_image(variant):
    net = tiny_net(variant)
    tracker = OSTrackTracker(net, device="cpu")
    assert tracker.modalities == ((VISIBLE, INFRARED) if variant == "cmc" else (VISIBLE,))
    assert (tracker.template_size, tracker.search_size) == (32, 64)
    frames = random_frames(tracker.modalities)
    height, width = frames[VISIBLE].shape[:2]
    tracker.initialize(frames, np.array([60.0, 40.0, 24.0, 18.0]))
    for seed in range(5):
        box = tracker.track(random_frames(tracker.modalities, seed=seed + 1))
        assert box.shape == (4,) and box.dtype == np.float64
        assert np.all(np.isfinite(box))
        assert box[0] >= 0 and box[1] >= 0
        assert box[0] + box[2] <= width + 1e-9 and box[1] + box[3] <= height + 1e-9
        assert box[2] >= 10.0 - 1e-9 and box[3] >= 10.0 - 1e-9
    assert tracker.last_model_time > 0


def test_single_modal_tracker_needs_visible_only():
    tracker = OSTrackTracker(tiny_net("single"))
    frames = random_frames([VISIBLE])
    tracker.initialize(frames, np.array([50.0, 50.0, 20.0, 20.0]))
    assert tracker.track(frames).shape == (4,)


def test_template_is_cropped_once(monkeypatch):
    calls = []
    real_crop = tracker_module.crop

    def counting_crop(image, geometry, out=None):
        calls.append(geometry.size)
        return real_crop(image, geometry, out)

    monkeypatch.setattr(tracker_module, "crop", counting_crop)
    tracker = OSTrackTracker(tiny_net("cmc"))
    frames = random_frames(tracker.modalities)
    tracker.initialize(frames, np.array([60.0, 40.0, 24.0, 18.0]))
    template_before = {m: t.clone() for m, t in tracker._template.items()}
    for _ in range(4):
        tracker.track(frames)
    assert calls.count(32) == 2  # one template crop per modality, at initialisation only
    assert calls.count(64) == 4 * 2  # one search crop per modality per frame
    for m, t in tracker._template.items():
        assert torch.equal(t, template_before[m])


def test_buffers_are_reused_across_frames():
    net = tiny_net("cmc")
    seen: list[dict[str, int]] = []

    def record(_module, _args, kwargs):
        seen.append({k: v.data_ptr() for k, v in kwargs.items() if isinstance(v, torch.Tensor)})

    net.register_forward_pre_hook(record, with_kwargs=True)
    tracker = OSTrackTracker(net)
    crops = {m: a.ctypes.data for m, a in tracker._search_crop.items()}
    tracker.initialize(random_frames(tracker.modalities), np.array([60.0, 40.0, 24.0, 18.0]))
    for seed in range(4):
        tracker.track(random_frames(tracker.modalities, seed=seed))
    response = tracker._response.data_ptr()
    tracker.track(random_frames(tracker.modalities, seed=9))
    assert len(seen) == 5
    assert set(seen[0]) == {"template_visible", "template_infrared", "search_visible", "search_infrared",
                            "template_box"}
    assert all(s == seen[0] for s in seen)  # the same input tensors every frame
    assert {m: a.ctypes.data for m, a in tracker._search_crop.items()} == crops
    assert tracker._response.data_ptr() == response


def test_inputs_match_the_shared_crop_and_normalisation():
    tracker = OSTrackTracker(tiny_net("cmc"))
    frames = random_frames(tracker.modalities)
    box = np.array([60.0, 40.0, 24.0, 18.0])
    tracker.initialize(frames, box)
    geometry = crop_geometry(box, 2.0, 32)
    from src.data.transforms import crop

    for m in tracker.modalities:
        expected = normalize(crop(frames[m], geometry))
        assert torch.allclose(tracker._template[m][0], expected, atol=1e-5)
    # template_box: the first-frame box in template-crop coordinates, cxcywh in [0, 1]
    crop_box = geometry.box_to_crop(box)
    expected_box = [(crop_box[0] + crop_box[2] / 2) / 32, (crop_box[1] + crop_box[3] / 2) / 32,
                    crop_box[2] / 32, crop_box[3] / 32]
    assert torch.allclose(tracker._template_box[0], torch.tensor(expected_box, dtype=torch.float32))
    # a centred box of side sqrt(w h) spans half the template crop (factor 2)
    assert tracker._template_box[0, 2:].prod().sqrt().item() == pytest.approx(0.5, abs=0.02)


def test_box_is_mapped_back_to_image_coordinates():
    # The stand-in predicts a box at the crop centre with side 1/4 of the search crop (factor 4):
    # for a square target that is the previous box itself, so a correct mapping holds it still.
    net = FixedBoxNet(rel_size=0.25)
    tracker = OSTrackTracker(net, hanning=False)
    frames = random_frames([VISIBLE], size=(200, 300))
    box = np.array([100.0, 60.0, 40.0, 40.0])
    tracker.initialize(frames, box)
    for _ in range(3):
        out = tracker.track(frames)
        np.testing.assert_allclose(out, box, atol=1e-6)
    assert net.calls == 3


def test_size_lr_damps_the_size_and_keeps_the_predicted_centre():
    # the stand-in predicts the crop-centred box at 1/2 of the crop: twice the previous box's side
    frames = random_frames([VISIBLE], size=(400, 600))
    box = np.array([280.0, 180.0, 20.0, 20.0])
    plain, damped = OSTrackTracker(FixedBoxNet(rel_size=0.5), hanning=False), OSTrackTracker(
        FixedBoxNet(rel_size=0.5), hanning=False, size_lr=0.25)
    for tracker in (plain, damped):
        tracker.initialize(frames, box)
    out_plain, out_damped = plain.track(frames), damped.track(frames)
    np.testing.assert_allclose(out_plain[2:], [40.0, 40.0], atol=1e-6)  # OSTrack: the prediction as it is
    np.testing.assert_allclose(out_damped[2:], [25.0, 25.0], atol=1e-6)  # 0.75 * 20 + 0.25 * 40
    centre = lambda b: b[:2] + b[2:] / 2  # noqa: E731
    np.testing.assert_allclose(centre(out_damped), centre(out_plain), atol=1e-6)
    with pytest.raises(ValueError, match="size_lr"):
        OSTrackTracker(FixedBoxNet(rel_size=0.5), size_lr=0.0)


@pytest.mark.parametrize(("aspect_lr", "expected_aspect"), [(1.0, 2.0), (0.5, 2.0 ** 0.5), (0.0, 1.0)])
def test_aspect_lr_moves_the_aspect_ratio_and_keeps_the_area_and_centre(aspect_lr, expected_aspect):
    # a square 20 x 20 box; the stand-in predicts 1/2 x 1/4 of the 80 px search crop: 40 x 20 (aspect 2)
    frames = random_frames([VISIBLE], size=(400, 600))
    box = np.array([280.0, 180.0, 20.0, 20.0])
    tracker = OSTrackTracker(FixedBoxNet(rel_size=(0.5, 0.25)), hanning=False, size_lr=1.0,
                             aspect_lr=aspect_lr)
    tracker.initialize(frames, box)
    out = tracker.track(frames)
    assert out[2] / out[3] == pytest.approx(expected_aspect, rel=1e-6)
    assert out[2] * out[3] == pytest.approx(40.0 * 20.0, rel=1e-6)  # the predicted area
    np.testing.assert_allclose(out[:2] + out[2:] / 2, box[:2] + box[2:] / 2, atol=1e-6)
    if aspect_lr == 0.0:  # a scale-only tracker: the first box's shape through every frame
        for _ in range(5):
            out = tracker.track(frames)
        assert out[2] / out[3] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="aspect_lr"):
        OSTrackTracker(FixedBoxNet(rel_size=0.5), aspect_lr=1.5)


class TwoPeakNet(FixedBoxNet):
    """Stand-in whose score map has two peaks on one row: ``near`` (score 0.5, next to the crop centre)
    and ``far`` (``far_score``, two cells further out)."""

    near, far = (4, 4), (4, 6)

    def __init__(self, far_score: float):
        super().__init__(rel_size=0.25, grid=8)
        self.far_score = far_score

    def forward(self, template_visible, search_visible, template_box=None, **_):
        out = super().forward(template_visible, search_visible)
        out["score_map"].zero_()
        out["score_map"][..., self.near[0], self.near[1]] = 0.5
        out["score_map"][..., self.far[0], self.far[1]] = self.far_score
        return out


def test_hanning_power_narrows_the_motion_prior():
    # r = window(far) / window(near) < 1. Windowed, a far peak of 0.5 / r^2 scores 0.5 / r against the
    # near peak's 0.5 under OSTrack's window (power 1: far wins), and 0.5 r against 0.5 under its cube
    # (power 3: near wins), so the box's centre lands two cells nearer the crop centre
    window = hann2d(8, 8)[0, 0]
    r = (window[TwoPeakNet.far] / window[TwoPeakNet.near]).item()
    frames = random_frames([VISIBLE], size=(200, 300))
    box = np.array([100.0, 60.0, 40.0, 40.0])
    centres = {}
    for power in (1, 3):
        tracker = OSTrackTracker(TwoPeakNet(far_score=0.5 / r ** 2), hanning=power, hflip=False)
        tracker.initialize(frames, box)
        out = tracker.track(frames)
        centres[power] = out[0] + out[2] / 2
        np.testing.assert_allclose(tracker._window[0, 0], window ** power, rtol=1e-6)
    cell = 4 * 40.0 / 8  # a score-map cell in image pixels: the search crop is 4 box sides over 8 cells
    assert centres[1] - centres[3] == pytest.approx(2 * cell, abs=1e-6)
    assert OSTrackTracker(TwoPeakNet(0.0), hanning=True).hanning == 1.0  # True reads as OSTrack's window
    with pytest.raises(ValueError, match="hanning"):
        OSTrackTracker(TwoPeakNet(0.0), hanning=-1.0)


class MirrorProbeNet(FixedBoxNet):
    """Stand-in that records its inputs and puts each batch element's peak in its own cell with its own
    size: element 0 (the crops) at column 5, side 1/4 of the crop; element 1 (the mirrored crops) at
    column 2, side 1/2. ``batch_one``: called with one element at a time, the mirrored one second."""

    def __init__(self, batch_one: bool = False):
        super().__init__(rel_size=0.25, grid=8)
        self.batch_one, self.seen = batch_one, []

    def forward(self, template_visible, search_visible, template_box=None, **_):
        self.seen.append((template_visible.clone(), search_visible.clone(), template_box.clone()))
        views = [len(self.seen) % 2 == 0] if self.batch_one else [False, True]  # is it the mirrored view?
        score, size = torch.zeros(len(views), 1, 8, 8), torch.zeros(len(views), 2, 8, 8)
        for b, mirrored in enumerate(views):
            score[b, 0, 4, 2 if mirrored else 5] = 1.0
            size[b] = 0.5 if mirrored else 0.25
        return {"score_map": score, "size_map": size, "offset_map": torch.zeros(len(views), 2, 8, 8)}


@pytest.mark.parametrize("batch_one", [False, True])
def test_hflip_averages_the_box_of_the_mirrored_crops(batch_one):
    net = MirrorProbeNet(batch_one)
    tracker = OSTrackTracker(net, hanning=False, hflip=True)
    frames = random_frames([VISIBLE], size=(200, 300))
    box = np.array([100.0, 60.0, 40.0, 40.0])
    tracker.initialize(frames, box)
    out = tracker.track(frames)
    template, search, template_box = (torch.cat(t) for t in zip(*net.seen))  # the views, in order
    assert template.shape[0] == search.shape[0] == 2 and len(net.seen) == (2 if batch_one else 1)
    assert torch.equal(search[1], search[0].flip(-1)) and torch.equal(template[1], template[0].flip(-1))
    assert template_box[1, 0].item() == pytest.approx(1 - template_box[0, 0].item())
    assert torch.equal(template_box[1, 1:], template_box[0, 1:])
    # the crop's box: cx 5/8 (column 5's corner), the mirrored one's 1 - 2/8 = 6/8, mean 11/16;
    # side 1/4 and 1/2 of the crop, mean 3/8; the crop spans 4 box sides (160 px) from x0 = 40, y0 = 0
    geometry = crop_geometry(box, 4.0, 64)
    side, cx, cy = 3 / 8 * 64, 11 / 16 * 64, 4 / 8 * 64
    np.testing.assert_allclose(out, geometry.box_to_image([cx - side / 2, cy - side / 2, side, side]),
                               atol=1e-6)
    assert OSTrackTracker(MirrorProbeNet()).hflip is True  # conf/tracker/ours.yaml: on by default


def test_set_state_moves_the_next_search_crop():
    # the stand-in returns the crop-centred box, so the output is wherever the state was moved to
    tracker = OSTrackTracker(FixedBoxNet(rel_size=0.25), hanning=False)
    frames = random_frames([VISIBLE], size=(200, 300))
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.set_state(np.array([10.0, 10.0, 20.0, 20.0]))
    tracker.initialize(frames, np.array([100.0, 60.0, 40.0, 40.0]))
    moved = np.array([150.0, 80.0, 32.0, 32.0])
    tracker.set_state(moved)
    np.testing.assert_allclose(tracker.track(frames), moved, atol=1e-6)
    with pytest.raises(ValueError, match="not a valid"):
        tracker.set_state(np.array([0.0, 0.0, -1.0, 5.0]))


def test_box_is_clipped_with_minimum_size():
    # a predicted box of 1/100 of the crop (1.6 px here) is enlarged to min_size
    tracker = OSTrackTracker(FixedBoxNet(rel_size=0.01), min_size=10.0)
    frames = random_frames([VISIBLE], size=(120, 160))
    tracker.initialize(frames, np.array([0.0, 0.0, 40.0, 40.0]))
    out = tracker.track(frames)
    assert out[2] == pytest.approx(10.0) and out[3] == pytest.approx(10.0)
    assert out[0] >= 0 and out[1] >= 0


def test_track_before_initialize_and_bad_box_raise():
    tracker = OSTrackTracker(tiny_net("single"))
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.track(random_frames([VISIBLE]))
    with pytest.raises(ValueError, match="initial box"):
        tracker.initialize(random_frames([VISIBLE]), np.array([0.0, 0.0, 0.0, 5.0]))


def assert_same_tracks(a: OSTrackTracker, b: OSTrackTracker, atol: float) -> None:
    """Both trackers, started on the same box, give the same boxes on three frames."""
    frames = random_frames(a.modalities)
    box = np.array([60.0, 40.0, 24.0, 18.0])
    a.initialize(frames, box)
    b.initialize(frames, box)
    for seed in range(3):
        f = random_frames(a.modalities, seed=seed)
        np.testing.assert_allclose(a.track(f), b.track(f), atol=atol)


def test_from_checkpoint_rebuilds_the_network(tmp_path):
    path = save_checkpoint(tmp_path / "model.ckpt", "cmc")
    restored = OSTrackTracker.from_checkpoint(path, device="cpu")
    assert restored.modalities == (VISIBLE, INFRARED) and restored.ckpt_path == str(path)
    assert_same_tracks(restored, OSTrackTracker(tiny_net("cmc")), atol=1e-5)


def test_from_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        OSTrackTracker.from_checkpoint(tmp_path / "missing.ckpt")
    bad = tmp_path / "bad.ckpt"
    torch.save({"hyper_parameters": {}, "state_dict": {}}, bad)
    with pytest.raises(KeyError, match="bad.ckpt"):
        OSTrackTracker.from_checkpoint(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tracker_on_gpu_matches_cpu():
    gpu, cpu = OSTrackTracker(tiny_net("cmc"), device="cuda"), OSTrackTracker(tiny_net("cmc"), device="cpu")
    assert_same_tracks(gpu, cpu, atol=1e-2)


def test_tracker_inputs_equal_the_training_pipeline(tiny_synthetic_root):
    """The network must see at test time what it saw in training: for the same frames and boxes
    (no jitter, no augmentation) the tracker's template, search and template_box inputs equal the
    training pipeline's (src/data/processing.py)."""
    from src.data.processing import Augmentation, PairProcessing
    from src.data.transforms import Jitter, read_image

    sequences, _ = read_sequences(tiny_synthetic_root)
    seq = sequences[0]
    tracker = OSTrackTracker(tiny_net("cmc"))
    processing = PairProcessing(template_size=32, search_size=64, template_factor=tracker.template_factor,
                                search_factor=tracker.search_factor, search_jitter=Jitter(0.0, 0.0),
                                augmentation=Augmentation(0.0, 0.0, 0.0), heatmap_stride=16,
                                heatmap_cell="round")
    first = {m: read_image(seq.frames[m][0]) for m in seq.modalities}
    second = {m: read_image(seq.frames[m][1]) for m in seq.modalities}
    box = seq.boxes[VISIBLE][0]
    # the tracker searches around the previous box, so that is the training search box here
    sample = processing(first, box, second, box, np.random.default_rng(0))
    assert sample is not None
    tracker.initialize(first, box)
    tracker.track(second)
    for m in tracker.modalities:
        assert torch.allclose(tracker._template[m][0], sample[f"template_{m}"], atol=1e-5)
        assert torch.allclose(tracker._search[m][0], sample[f"search_{m}"], atol=1e-5)
    assert torch.allclose(tracker._template_box[0], sample["template_box"], atol=1e-6)


class ConfidenceNet(FixedBoxNet):
    """FixedBoxNet whose score peak on frame ``t`` (the ``t``-th call) is ``peaks[t]``, and which records the
    templates of every call: shows when the tracker cuts its dynamic template and what it feeds."""

    def __init__(self, peaks):
        super().__init__(rel_size=0.25, grid=4)
        self.peaks, self.templates, self.searches = list(peaks), [], []

    def forward(self, template_visible, search_visible, template_box=None, **_):
        out = super().forward(template_visible, search_visible)
        out["score_map"] = out["score_map"] * self.peaks[self.calls - 1]
        self.templates.append(template_visible.clone())
        self.searches.append(search_visible.clone())
        return out


def _track_with_gate(peaks, **settings):
    net = ConfidenceNet(peaks)
    tracker = OSTrackTracker(net, hanning=False, hflip=False, **settings)
    rng = np.random.default_rng(0)
    tracker.initialize(random_frames([VISIBLE], size=(120, 160)), np.array([60.0, 40.0, 24.0, 24.0]))
    updates = []
    for _ in peaks:
        tracker.track({VISIBLE: rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)})
        updates.append(tracker._updated_at)
    return net, tracker, updates


def test_confidence_is_read_without_a_dynamic_template():
    """last_confidence (the score map's peak before the window) is kept on every frame, the template
    update off too: what diagnostics read."""
    _, tracker, updates = _track_with_gate([0.9, 0.3, 0.7])
    assert updates == [None, None, None]
    assert tracker.last_confidence == pytest.approx(0.7)


def test_template_update_only_above_the_gate_and_never_in_the_first_frames():
    # confident on every frame but the 6th-9th; the gate is 0.5, the first frame allowed is 4, every 3 frames
    peaks = [0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.9, 0.9, 0.9, 0.9]
    net, tracker, updates = _track_with_gate(peaks, update_interval=3, update_threshold=0.5, update_start=4)
    # frames 1-3 confident but too early; 4 updates; 5 too soon; 6-9 below the gate; 10 updates; 13 again
    assert updates == [None, None, None, 4, 4, 4, 4, 4, 4, 10, 10, 10, 13]
    assert tracker.last_confidence == pytest.approx(0.9)
    # until the first update the network reads the first template alone; then both, first template first
    assert [len(t) for t in net.templates] == [1] * 4 + [2] * 9
    first = net.templates[0][0]
    assert all(torch.equal(t[0], first) for t in net.templates)
    assert not torch.equal(net.templates[4][1], first)  # the dynamic one: cut from frame 4
    assert torch.equal(net.templates[4][1], net.templates[9][1])  # kept until frame 10 replaces it
    assert not torch.equal(net.templates[10][1], net.templates[9][1])
    # both templates read the frame's search crop (not a stale or empty buffer)
    assert all(torch.equal(x[0], x[1]) for x in net.searches[4:])
    assert not torch.equal(net.searches[4][0], net.searches[5][0])


def test_template_update_off_keeps_the_first_template():
    peaks = [1.0] * 20
    net, tracker, updates = _track_with_gate(peaks, update_interval=0, update_threshold=0.0, update_start=1)
    assert updates == [None] * 20 and all(len(t) == 1 for t in net.templates)
    assert OSTrackTracker(FixedBoxNet(0.25)).update_interval == 0  # conf/tracker/ours.yaml: off by default


def test_template_update_gate_never_passed_below_threshold():
    net, _, updates = _track_with_gate([0.49] * 15, update_interval=1, update_threshold=0.5, update_start=1)
    assert updates == [None] * 15 and all(len(t) == 1 for t in net.templates)



def test_every_tracker_satisfies_the_tracker_protocol(tmp_path):
    """Ours (from a network and from a checkpoint) is a :class:`src.tracking.Tracker`; a factory (a class,
    a config, a partial) is not one, and is told apart from one (src.tracking.base.is_factory). The
    classical baselines: tests/test_baselines.py; the ONNX tracker: tests/test_export.py."""
    import functools

    from src.tracking import Tracker, is_factory

    trackers = [OSTrackTracker(tiny_net()),
                OSTrackTracker.from_checkpoint(save_checkpoint(tmp_path / "c.ckpt"), device="cpu")]
    for tracker in trackers:
        assert isinstance(tracker, Tracker) and not is_factory(tracker)
    factories = [OSTrackTracker, {"_target_": "src.tracking.tracker.OSTrackTracker"},
                 functools.partial(OSTrackTracker.from_checkpoint, "c.ckpt")]
    assert all(is_factory(f) for f in factories)
    assert not isinstance(object(), Tracker)
