"""Classical baselines: each tracks a rendered moving target above a stated IoU floor; our KCF
matches OpenCV's KCF when given OpenCV's settings; the tracker configs build through Hydra and run
through the shared runner on the tiny synthetic benchmark.

Floors were set from what the trackers achieve on these sequences (seeds 0-3, on this machine's
OpenCV 5.0), minus a margin of about 0.1: they catch a broken tracker, not a small regression.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from src.conf import baseline_names
from src.tracking import Tracker
from src.tracking.baselines import KCFTracker, OpenCVTracker
from src.tracking.baselines.features import NUM_CHANNELS, gradient_orientation_features, multimodal_features
from src.utils.boxes import ltwh_to_xyxy
from tests.helpers.configs import compose_config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
BASELINES = baseline_names()  # conf/tracker/ less our network's


def render_sequence(num_frames: int = 60, period: int = 120, size: tuple[int, int] = (160, 120),
                    scale_change: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured target crossing a textured, slowly panning background, in both modalities.

    The target follows a figure-of-eight (amplitude 45 x 30 px over ``period`` frames: about 2.4 px a
    frame at period 120) and breathes in size by ``scale_change``; in thermal it is warm with its
    own pattern on a cool background.

    Returns visible ``[T, H, W, 3]`` uint8, infrared ``[T, H, W, 3]`` uint8, boxes ``[T, 4]`` ltwh.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    background = cv2.GaussianBlur(rng.random((2 * height, 2 * width)).astype(np.float32), (0, 0), 3)
    background = (background - background.min()) / (background.max() - background.min())
    texture = cv2.resize(rng.random((6, 6)).astype(np.float32), (32, 32), interpolation=cv2.INTER_NEAREST)
    heat = cv2.GaussianBlur(rng.random((32, 32)).astype(np.float32), (0, 0), 2)
    visible, infrared, boxes = [], [], []
    for t in range(num_frames):
        ox, oy = int(10 + 8 * np.sin(t / 15)), int(10 + 6 * np.cos(t / 20))
        scene = background[oy:oy + height, ox:ox + width]
        s = 1.0 + scale_change * np.sin(t / 20)
        w, h = 26 * s, 20 * s
        cx = width / 2 + 45 * np.sin(2 * np.pi * t / period)
        cy = height / 2 + 30 * np.sin(4 * np.pi * t / period)
        warp = np.array([[w / 32, 0, cx - w / 2], [0, h / 32, cy - h / 2]], np.float32)
        mask = cv2.warpAffine(np.ones((32, 32), np.float32), warp, (width, height))
        gray = scene * (1 - mask) + cv2.warpAffine(texture, warp, (width, height)) * mask
        gray = np.clip(gray + rng.normal(0, 0.03, gray.shape), 0, 1)
        thermal = 0.3 * scene * (1 - mask) + (0.6 + 0.4 * cv2.warpAffine(heat, warp, (width, height))) * mask
        visible.append((np.stack([gray, 0.8 * gray + 0.1, 0.6 * gray + 0.2], -1) * 255).astype(np.uint8))
        infrared.append((np.repeat(np.clip(thermal, 0, 1)[..., None], 3, -1) * 255).astype(np.uint8))
        boxes.append([cx - w / 2, cy - h / 2, w, h])
    return np.stack(visible), np.stack(infrared), np.array(boxes)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[T, 4]`` ltwh x ``[T, 4]`` ltwh -> ``[T]`` IoU (continuous convention)."""
    a, b = ltwh_to_xyxy(a), ltwh_to_xyxy(b)
    inter = np.prod(np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None), 1)
    return inter / (np.prod(a[:, 2:] - a[:, :2], 1) + np.prod(b[:, 2:] - b[:, :2], 1) - inter)


def run_tracker(tracker, visible: np.ndarray, infrared: np.ndarray, boxes: np.ndarray) -> float:
    """Mean IoU over frames 1..T-1 (frame 0 is the initialisation)."""
    tracker.initialize({"visible": visible[0], "infrared": infrared[0]}, boxes[0])
    predicted = [np.asarray(tracker.track({"visible": v, "infrared": i}), dtype=np.float64)
                 for v, i in zip(visible[1:], infrared[1:])]
    predicted = np.stack(predicted)
    assert predicted.shape == (len(boxes) - 1, 4) and np.isfinite(predicted).all()
    return float(iou(predicted, boxes[1:]).mean())


def build(name: str):
    cfg = compose_config("evaluate", overrides=[f"tracker={name}"])
    return cfg.tracker, instantiate(cfg.tracker.factory)


def kcf(name: str = "kcf", **overrides) -> KCFTracker:
    """Our KCF with conf/tracker/<name>.yaml's settings (the paper's; the one copy), ``overrides`` on top."""
    cfg = compose_config("evaluate", overrides=[f"tracker={name}"])
    return instantiate(cfg.tracker.factory, **overrides)


@pytest.fixture(scope="module")
def moving_target():
    return render_sequence(num_frames=60, period=120, seed=0)


# What each tracker scores on `moving_target` (mean IoU, seeds 0-3) and the floor we assert.
FLOORS = {
    "kcf": 0.75,        # measured 0.878-0.879
    "kcf_rgbt": 0.75,   # measured 0.878-0.879
    "csrt": 0.70,       # measured 0.827-0.867
    "csrt_tir": 0.70,   # measured 0.854-0.868
    "opencv_kcf": 0.50,  # measured 0.625-0.638: lags ~3 px behind a target moving 2.4 px a frame
    "mil": 0.40,        # measured 0.574-0.823
    # ECO, C-COT, SRDCF (tests/test_cf_trackers.py has their own tests), measured on seeds 0-1
    "eco": 0.70,        # measured 0.789-0.824
    "eco_rgbt": 0.70,   # measured 0.795-0.822
    "ccot": 0.70,       # measured 0.796-0.841
    "ccot_rgbt": 0.70,  # measured 0.807-0.835
    "srdcf": 0.70,      # measured 0.842-0.852
    "srdcf_rgbt": 0.70,  # measured 0.819-0.828
}


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_tracks_moving_target(name, moving_target):
    cfg, tracker = build(name)
    assert cfg.name == name
    assert isinstance(tracker, Tracker)  # the interface the runner drives (src/tracking/base.py)
    assert tuple(tracker.modalities) == tuple(cfg.modalities)
    score = run_tracker(tracker, *moving_target)
    assert score > FLOORS[name], f"{name}: mean IoU {score:.3f} <= floor {FLOORS[name]}"


def test_trackers_restart_cleanly_between_sequences(moving_target):
    """The runner builds a tracker once per worker and reuses it: a second initialize must forget
    the first sequence."""
    visible, infrared, boxes = moving_target
    for tracker in (kcf("kcf_rgbt"), OpenCVTracker("csrt", "visible")):
        first = run_tracker(tracker, visible[:15], infrared[:15], boxes[:15])
        again = run_tracker(tracker, visible[:15], infrared[:15], boxes[:15])
        assert again == pytest.approx(first, abs=1e-9)


# OpenCV's KCF settings (cv2.TrackerKCF_Params defaults): kernel sigma 0.2, output sigma 1/16,
# interpolation 0.075, integer peak. OpenCV uses grey + colour-names features (PCA to 2), ours HOG-like.
OPENCV_SETTINGS = {"kernel_sigma": 0.2, "output_sigma_factor": 1 / 16, "interp_factor": 0.075,
                   "subpixel": False}
KCF_TOLERANCE = 0.1


def test_our_kcf_close_to_opencv_kcf():
    """A slow target (1.2 px a frame), where OpenCV's KCF tracks: with OpenCV's settings ours is within
    0.1 mean IoU of it (measured seeds 0-3: ours 0.805-0.823, OpenCV 0.755-0.761, i.e. ours +0.05 to
    +0.07: our HOG-like features vs its grey + colour names); with the paper's settings (subpixel
    peak, wider label) ours is not worse than it (measured 0.878-0.880)."""
    sequence = render_sequence(num_frames=160, period=240, seed=0)
    reference = run_tracker(OpenCVTracker("kcf", "visible"), *sequence)
    like_opencv = run_tracker(kcf(**OPENCV_SETTINGS), *sequence)
    paper = run_tracker(kcf(), *sequence)
    assert reference > 0.6, f"OpenCV's KCF lost the slow target ({reference:.3f})"
    assert abs(like_opencv - reference) <= KCF_TOLERANCE, (like_opencv, reference)
    assert paper >= reference - 0.02, (paper, reference)


def test_kcf_follows_a_pure_translation():
    """A static texture shifted by whole pixels: the KCF displacement is exact to a fraction of a pixel."""
    rng = np.random.default_rng(1)
    image = (cv2.GaussianBlur(rng.random((200, 200)).astype(np.float32), (0, 0), 2) * 255)
    image = np.repeat(np.clip(image * 3 - 250, 0, 255).astype(np.uint8)[..., None], 3, -1)
    tracker = kcf()
    box = np.array([80.0, 80.0, 30.0, 30.0])
    tracker.initialize({"visible": image}, box)
    for shift in ((3, -2), (6, -4), (8, 1)):
        shifted = np.roll(image, shift[::-1], axis=(0, 1))  # (dy, dx)
        out = tracker.track({"visible": shifted})
        assert np.abs(out[:2] - (box[:2] + shift)).max() < 0.5, (out, shift)
        assert np.allclose(out[2:], box[2:])


def test_kcf_scale_search_helps_when_the_target_changes_size():
    """A target that breathes by +-30 %: the scale search scores clearly above the fixed-size KCF
    (measured seeds 0-3: 0.76-0.83 vs 0.69). It lags behind growth (the model absorbs slow growth
    at the old size), so we do not claim more than this."""
    sequence = render_sequence(num_frames=100, period=240, scale_change=0.3, seed=0)
    with_scales = run_tracker(kcf(scales=(1 / 1.03, 1.0, 1.03)), *sequence)
    fixed = run_tracker(kcf(scales=(1.0,)), *sequence)
    assert with_scales > fixed + 0.05, (with_scales, fixed)


def test_features_shapes_and_range():
    patch = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    features = multimodal_features({"visible": patch, "infrared": patch}, ("visible", "infrared"))
    assert features.shape == (2 * NUM_CHANNELS, 12, 16) and features.dtype == np.float32
    orientation = features[: NUM_CHANNELS - 1]
    assert orientation.min() >= 0 and orientation.max() <= 0.2 + 1e-6  # fHOG truncation
    flat = gradient_orientation_features(np.full((16, 16), 0.5, np.float32))
    assert np.allclose(flat[:-1], 0) and np.allclose(flat[-1], 0)  # no gradients, mid grey
    with pytest.raises(ValueError, match="multiple of the cell size"):
        gradient_orientation_features(np.zeros((10, 16), np.float32))


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="unknown OpenCV tracker"):
        OpenCVTracker("boosting", "visible")
    with pytest.raises(ValueError, match="has no parameter"):
        OpenCVTracker("csrt", "visible", params={"not_a_param": 1})
    with pytest.raises(ValueError, match="invalid initial box"):
        kcf().initialize({"visible": np.zeros((50, 50, 3), np.uint8)}, np.array([1, 1, 0, 5]))
    with pytest.raises(RuntimeError, match="before initialize"):
        kcf().track({"visible": np.zeros((50, 50, 3), np.uint8)})


@pytest.mark.parametrize("name", ["kcf_rgbt", "csrt_tir"])
def test_baseline_through_runner_on_synthetic_benchmark(name, tiny_synthetic_root):
    """The config-built tracker runs through the shared runner on the tiny synthetic benchmark."""
    from src.data.readers import get_reader
    from src.tracking.runner import track_sequence

    _, tracker = build(name)
    sequences = get_reader("rgbt234", tiny_synthetic_root, split="test").sequences()
    for seq in sequences:
        boxes, times = track_sequence(tracker, seq)
        assert boxes.shape == (len(seq), 4) and np.isfinite(boxes).all()
        assert np.isfinite(times["e2e"]).all()
        gt = seq.boxes["infrared" if name == "csrt_tir" else "visible"]
        valid = seq.valid & np.isfinite(gt).all(1)
        # the synthetic benchmark is hard (clutter, occlusion, low light): only check the tracker
        # starts on the target and does not wander off at once
        assert iou(boxes[1:3], gt[1:3])[valid[1:3]].mean() > 0.3


def test_csrt_on_a_sliver_at_the_border_is_a_loss_not_a_crash():
    # OpenCV's CSRT asserts (copyMakeBorder on an empty crop) on a box a pixel or two wide at the frame's
    # edge, where a target enters or leaves the view: the wrapper holds the first box instead
    rng = np.random.default_rng(0)
    frames = {"visible": rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)}
    tracker = OpenCVTracker("csrt", "visible")
    box = np.array([158.0, 40.0, 2.0, 11.0])
    tracker.initialize(frames, box)
    for _ in range(3):
        np.testing.assert_array_equal(tracker.track(frames), box)
