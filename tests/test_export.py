"""python -m src.export: ONNX and TorchScript at batch 1, parity with the eager forward (CE on), and
ONNX Runtime tracking with the same loop as PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.export import run
from src.network_export import input_names, load_network, parity
from src.tracking import Tracker
from src.utils.cli import UserError
from tests.helpers.configs import compose_config
from tests.helpers.tracking import random_frames, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


def compose_export(overrides: list[str]):
    return compose_config("export", overrides=overrides)


def candidate_elimination_is_on(net) -> bool:
    return any(getattr(block, "keep_ratio_search", 1.0) < 1.0 for block in net.modules())


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("variant", ["single", "cmc"])
def test_export_parity(tmp_path, fmt, variant):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    ckpt = save_checkpoint(tmp_path / f"{variant}.ckpt", variant)
    result = run(compose_export([f"ckpt_path={ckpt}", f"format={fmt}", f"paths.output_dir={tmp_path}"]))
    path = Path(result["path"])
    assert path.is_file() and path.parent == tmp_path
    net, meta = load_network(ckpt)
    assert candidate_elimination_is_on(net)  # parity is checked with CE on, as tracking runs it
    assert set(result["parity"]) == {"score_map", "size_map", "offset_map"}
    assert max(result["parity"].values()) <= TOLERANCE
    # and on inputs of its own (other seeds than the export's check)
    assert max(parity(net, meta, path, fmt, seeds=(5,)).values()) <= TOLERANCE


def test_exported_onnx_tracks_like_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    from src.tracking.onnx_runtime import OnnxNetwork, onnx_tracker
    from src.tracking.tracker import OSTrackTracker

    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    path = Path(run(compose_export([f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path}", "parity=false"]))
                ["path"])
    onnx_net = OnnxNetwork(path)
    assert onnx_net.input_names == input_names(["visible", "infrared"])
    assert onnx_net.modalities == ["visible", "infrared"] and onnx_net.search_size == 64
    trackers = [OSTrackTracker.from_checkpoint(ckpt), onnx_tracker(path, threads=1)]
    assert all(isinstance(t, Tracker) for t in trackers)  # src/tracking/base.py
    boxes = []
    for tracker in trackers:
        tracker.initialize(random_frames(tracker.modalities, seed=0), np.array([60.0, 40.0, 24.0, 20.0]))
        boxes.append([tracker.track(random_frames(tracker.modalities, seed=s)) for s in range(1, 6)])
    np.testing.assert_allclose(boxes[1], boxes[0], atol=1e-3)
    assert trackers[1].last_model_time > 0


def test_exported_weights_file_exports_too(tmp_path):
    from src.learning.checkpoints import export_weights

    weights = export_weights(save_checkpoint(tmp_path / "single.ckpt", "single"), tmp_path / "w.pt")["path"]
    output = tmp_path / "n.pt"
    result = run(compose_export([f"ckpt_path={weights}", "format=torchscript", f"output={output}"]))
    assert result["path"] == str(tmp_path / "n.pt") and max(result["parity"].values()) <= TOLERANCE
    extra = {"config.json": ""}
    torch.jit.load(result["path"], _extra_files=extra)
    assert json.loads(extra["config.json"])["net"]["variant"] == "single"


def test_export_user_errors(tmp_path):
    from src.export import check_inputs

    with pytest.raises(UserError, match="pass ckpt_path"):
        check_inputs(compose_export([]))
    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    with pytest.raises(UserError, match="format=tflite"):
        check_inputs(compose_export([f"ckpt_path={ckpt}", "format=tflite"]))
    with pytest.raises(UserError, match="no such file"):
        check_inputs(compose_export([f"ckpt_path={tmp_path / 'missing.ckpt'}"]))
