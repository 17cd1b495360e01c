"""Checkpoints on disk (src/learning/checkpoints.py): atomic saves, checks before loading, and
``ckpt_path=last`` limited to runs with this run's config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from src.learning import checkpoints as C
from src.utils.configs import first_difference

CONFIG = {"model": {"net": {"variant": "cmc", "backbone": {"sort_kept": True, "depth": 2}}},
          "data": {"name": "rgbt234", "root": "/data/x"}, "seed": 42}
TSF_OFF = {**CONFIG, "model": {"net": {"variant": "cmc", "backbone": {"sort_kept": False, "depth": 2}}}}


def _ckpt(path: Path, config: dict | None, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    net = (config or CONFIG)["model"]["net"]
    payload = {"state_dict": {"net.w": torch.zeros(3)}, "hyper_parameters": {"net": net}}
    if config is not None:
        payload[C.RUN_CONFIG_KEY] = config
    torch.save(payload, path)
    os.utime(path, (mtime, mtime))
    return path


def _last(root: Path, run: str) -> Path:
    return root / "train" / "runs" / run / "checkpoints" / "last.ckpt"


def test_last_skips_runs_with_another_config(tmp_path, caplog):
    mine = _ckpt(_last(tmp_path, "tsf_on"), CONFIG, 1000)
    _ckpt(_last(tmp_path, "tsf_off"), TSF_OFF, 2000)  # newer, but TSF off
    assert C.resolve_ckpt_path("last", tmp_path, "train", CONFIG) == str(mine)
    assert "model.net.backbone.sort_kept: False in the checkpoint's run, True here" in caplog.text


def test_last_skips_truncated_and_empty_checkpoints(tmp_path):
    good = _ckpt(_last(tmp_path, "a"), CONFIG, 1000)
    truncated = _ckpt(_last(tmp_path, "b"), CONFIG, 2000)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    os.utime(truncated, (2000, 2000))
    empty = _last(tmp_path, "c")
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    assert C.find_last_checkpoint(tmp_path, "train", CONFIG) == good


def test_last_without_a_matching_run_says_why_in_one_line(tmp_path):
    _ckpt(_last(tmp_path, "tsf_off"), TSF_OFF, 2000)
    with pytest.raises(FileNotFoundError) as info:
        C.find_last_checkpoint(tmp_path, "train", CONFIG)
    message = str(info.value)
    assert "\n" not in message
    assert "tsf_off/checkpoints/last.ckpt" in message and "sort_kept" in message


def test_explicit_path_and_run_directory(tmp_path):
    ckpt = _ckpt(_last(tmp_path, "old"), None, 1000)  # no run config saved (an older run)
    assert C.resolve_ckpt_path(str(ckpt), tmp_path, "train", CONFIG) == str(ckpt)
    assert C.resolve_ckpt_path(str(ckpt.parent.parent), tmp_path, "train", CONFIG) == str(ckpt)
    with pytest.raises(FileNotFoundError):  # `last` needs the saved config
        C.find_last_checkpoint(tmp_path, "train", CONFIG)
    with pytest.raises(C.CheckpointError, match="its network is not this run's"):  # another network
        C.resolve_ckpt_path(str(ckpt), tmp_path, "train", TSF_OFF)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"\x00garbage" * 100, "not a PyTorch checkpoint"),
    (None, "not a PyTorch checkpoint"),  # truncated
])
def test_unusable_checkpoint_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "x.ckpt"
    if content is None:
        _ckpt(path, CONFIG, 1000)
        content = path.read_bytes()[:-100]
    path.write_bytes(content)
    with pytest.raises(C.CheckpointError) as info:
        C.read_training_checkpoint(path)
    assert str(info.value).startswith(f"{path}: ") and reason in str(info.value)
    assert "\n" not in str(info.value)


def test_atomic_save_keeps_the_old_file_when_a_save_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    C.atomic_torch_save({"state_dict": {"w": torch.ones(2)}}, path)

    def broken_save(obj, handle):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(C.torch, "save", broken_save)
    with pytest.raises(OSError):
        C.atomic_torch_save({"state_dict": {"w": torch.zeros(2)}}, path)
    monkeypatch.undo()
    assert torch.equal(C.read_training_checkpoint(path)["state_dict"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_module_hparams_net_is_the_run_configs_net(tmp_path, train_cfg):
    """check_network compares the checkpoint's ``hyper_parameters.net`` with the run's ``model.net``:
    they must be the same plain dict for the same config."""
    from hydra.utils import instantiate


    cfg = train_cfg("x")
    module = instantiate(cfg.model, _convert_="all")
    assert first_difference(dict(module.hparams)["net"], C.run_config(cfg)["model"]["net"]) is None


def test_a_run_saved_under_the_old_package_name_still_matches(tmp_path):
    """A checkpoint whose run config names ``src.training.*`` targets (the training package's name before
    it became src.learning) matches the same run's config today: ``ckpt_path=last`` resumes it."""
    import copy

    from src.conf import model_defaults

    model = model_defaults()
    config = {"model": model, "data": {"root": "x"}, "seed": 1}
    saved = copy.deepcopy(config)
    saved["model"]["_target_"] = model["_target_"].replace("src.learning.", "src.training.")
    saved["model"]["scheduler"]["_target_"] = model["scheduler"]["_target_"].replace("src.learning.",
                                                                                     "src.training.")
    C.check_matches(tmp_path / "last.ckpt", {C.RUN_CONFIG_KEY: saved}, config)  # no CheckpointError
    saved["seed"] = 2
    with pytest.raises(C.CheckpointError, match="another run's config"):
        C.check_matches(tmp_path / "last.ckpt", {C.RUN_CONFIG_KEY: saved}, config)


def test_a_module_saved_under_the_old_package_name_loads():
    """The LightningModule's hyperparameters of such a checkpoint (what ``load_from_checkpoint`` passes
    back, e.g. in scripts/diagnose_drift.py) name the old schedule factory: it loads as today's."""
    from src.conf import model_defaults
    from src.learning.module import TrackerLitModule

    model = model_defaults()
    scheduler = dict(model["scheduler"])
    scheduler["_target_"] = scheduler["_target_"].replace("src.learning.", "src.training.")
    module = TrackerLitModule(net=model["net"], scheduler=scheduler)
    assert module.hparams["scheduler"]["_target_"] == model["scheduler"]["_target_"]
