"""Training checkpoints on disk: written atomically, checked before use, matched to the run resuming them.

- :class:`AtomicCheckpointIO` writes every checkpoint to a temporary file in the checkpoint's own folder,
  fsyncs it, then renames it over the old one: a kill -9 or a full disk during a save leaves the
  previous ``last.ckpt`` whole (Lightning's own save goes through a temporary file that may sit on
  another filesystem, and a rename across filesystems is a copy that can be cut short).
- :class:`RunConfigInCheckpoint` stores the run's resolved ``model``, ``data`` and ``seed`` in every
  checkpoint (``run_config``): what ``ckpt_path=last`` matches a run against.
- :func:`resolve_ckpt_path` turns ``ckpt_path`` (``last``, a run directory or a file) into a checkpoint
  that loads, with one line saying which and why when there is none.
- :func:`checkpoint_info` says what a checkpoint (or an exported weights file) is: variant, TSF, fusion
  alignment, seed, modalities (what metrics.json records); :func:`export_weights` writes a checkpoint's
  network as the small weights file ``model.init_ckpt`` starts from.
"""

from __future__ import annotations

import contextlib
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from src.models.pretrained import CheckpointError, torch_load
from src.report import run_identity
from src.utils.configs import first_difference
from src.utils.io import atomic_write, json_ready, sha256_file

log = logging.getLogger(__name__)

RUN_CONFIG_KEY = "run_config"
# data keys that change how pairs are loaded, not which: a run may resume with other values
RUNTIME_DATA_KEYS = ("num_workers", "pin_memory", "persistent_workers", "worker_context")


CKPT_LABELS = ("in the checkpoint's run", "here")




def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``
    (:func:`src.utils.io.atomic_write`, durable)."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    atomic_write(path, save, durable=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with :func:`atomic_torch_save` (local paths)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        atomic_torch_save(checkpoint, path)


def run_config(cfg: Mapping) -> dict[str, Any]:
    """What a resumed run must share with the run it resumes: resolved ``model``, ``data`` (less
    :data:`RUNTIME_DATA_KEYS`) and ``seed``, as plain containers."""
    model, data, seed = (json_ready(cfg.get(key), finite=False) for key in ("model", "data", "seed"))
    data = {k: v for k, v in (data or {}).items() if k not in RUNTIME_DATA_KEYS}
    return {"model": model, "data": data, "seed": seed}


class RunConfigInCheckpoint(Callback):
    """Stores :func:`run_config` in every checkpoint under ``run_config``."""

    def __init__(self, config: Mapping):
        self.config = dict(config)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[RUN_CONFIG_KEY] = self.config


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint (tensors memory-mapped, not read) after checking that it is one.

    Raises :class:`CheckpointError` naming the file: missing, empty, truncated or not a PyTorch
    checkpoint, or without a ``state_dict``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes; a save cut short?)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({size} bytes, not a torch.save zip "
                              "archive: truncated, or another kind of file)")
    try:
        ckpt = torch_load(str(path), mmap=True)
    except Exception as error:  # noqa: BLE001  (any failure means the same thing here)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: does not load ({first})") from None
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a training checkpoint (no state_dict)")
    return ckpt


def _completed_net(net: Any) -> Any:
    """``model.net`` completed from conf/model/net/base.yaml (src.conf.complete_net): a key that a config
    saved before it existed lacks reads as its default. As given when it does not check (the comparison
    then names the difference)."""
    from src.conf import ConfigError, complete_net

    try:
        return complete_net(net)
    except (ConfigError, TypeError):
        return net


def _completed(config: Mapping) -> dict[str, Any]:
    """A :func:`run_config` with its ``model`` completed from conf/model/ (src.conf.complete_model_config):
    keys a checkpoint's run lacked because they did not exist yet read as their defaults, and an older
    config's spelling (``scheduler.name``) as today's (src.conf: the one place configs are completed)."""
    from src.conf import ConfigError, complete_model_config

    config = dict(config)
    if isinstance(config.get("model"), Mapping):
        with contextlib.suppress(ConfigError, TypeError):  # as saved: the comparison names the difference
            config["model"] = complete_model_config(config["model"])
    return config


def check_matches(path: Path, ckpt: Mapping, config: Mapping) -> None:
    """CheckpointError when ``ckpt`` was saved by a run whose :func:`run_config` differs from ``config``."""
    saved = ckpt.get(RUN_CONFIG_KEY)
    if saved is None:
        raise CheckpointError(f"{path}: saved without its run's config (an older run); pass "
                              f"ckpt_path={path} to resume it anyway")
    diff = first_difference(_completed(saved), _completed(config), labels=CKPT_LABELS)
    if diff:
        raise CheckpointError(f"{path}: another run's config ({diff})")


def check_network(path: Path, ckpt: Mapping, config: Mapping) -> None:
    """CheckpointError when the checkpoint's network (``hyper_parameters.net``) is not this run's
    ``model.net``: resuming it would fail on the state dict, or load other weights silently."""
    saved = (ckpt.get("hyper_parameters") or {}).get("net")
    current = (config.get("model") or {}).get("net")
    if saved is None or current is None:
        return
    diff = first_difference(_completed_net(saved), _completed_net(current), "model.net", labels=CKPT_LABELS)
    if diff:
        raise CheckpointError(f"{path}: its network is not this run's ({diff})")


def find_last_checkpoint(log_dir: str | Path, task_name: str, config: Mapping) -> Path:
    """The newest ``last.ckpt`` under ``log_dir/task_name`` that loads and was saved by a run with this
    run's config (``config`` = :func:`run_config`). The others are passed over with one log line each."""
    root = Path(log_dir) / task_name
    candidates = sorted(root.rglob("last*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not candidates:
        raise FileNotFoundError(f"ckpt_path=last: no last.ckpt under {root}")
    reasons = []
    for path in candidates:
        try:
            check_matches(path, read_training_checkpoint(path), config)
        except CheckpointError as error:
            log.warning("ckpt_path=last: passing over %s", error)
            reasons.append(str(error))
            continue
        return path
    raise FileNotFoundError(f"ckpt_path=last: none of the {len(candidates)} last.ckpt under {root} can "
                            f"resume this run; the newest: {reasons[0]}. Pass ckpt_path=<file or run dir>")


def resolve_ckpt_path(ckpt_path: str | None, log_dir: str | Path, task_name: str,
                      config: Mapping) -> str | None:
    """``ckpt_path`` as a checked checkpoint file: ``last`` (see :func:`find_last_checkpoint`), a run
    directory (its ``checkpoints/last.ckpt``) or a file. A file or directory given explicitly need not
    match the run's config, but must load and hold this run's network."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        path = find_last_checkpoint(log_dir, task_name, config)
        log.info("resuming from %s", path)
        return str(path)
    path = Path(ckpt_path)
    if path.is_dir():
        options = (path / "checkpoints" / "last.ckpt", path / "last.ckpt")
        found = next((p for p in options if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(f"ckpt_path={ckpt_path}: a directory without checkpoints/last.ckpt")
        path = found
    elif not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such file or run directory")
    check_network(path, read_training_checkpoint(path), config)
    log.info("resuming from %s", path)
    return str(path)


# -- what a checkpoint says of itself, and its network as a weights file -----------------------------
def checkpoint_info(ckpt_path: str | Path) -> dict[str, Any]:
    """What metrics.json records about a TrackerLitModule checkpoint (variant, tsf, align, seed,
    ckpt_path) and the modalities its network reads."""

    from omegaconf import OmegaConf

    from src.models.pretrained import check_finite_weights, load_file

    try:
        ckpt = read_training_checkpoint(ckpt_path)  # a CheckpointError naming the file if not a checkpoint
    except CheckpointError as error:
        # an exported weights file (`export_weights`: {"net": state dict, "config": net config}), which the
        # tracker reads too (OSTrackTracker.from_checkpoint); anything else keeps the checkpoint's error
        try:
            weights = load_file(Path(ckpt_path))
        except Exception:  # noqa: BLE001  (not loadable at all: the first error says why)
            raise error from None
        exported = isinstance(weights, Mapping) and isinstance(weights.get("net"), Mapping)
        if not (exported and "config" in weights):
            raise error from None
        ckpt = {"hyper_parameters": {"net": weights["config"]}, "state_dict": weights["net"]}
    # refused here, in the main process, not in each tracking worker
    check_finite_weights(ckpt.get("state_dict") or {}, ckpt_path)
    hparams = ckpt.get("hyper_parameters") or {}
    net = hparams.get("net") or {}
    seed = hparams.get("seed")
    if seed is None:
        # A training run keeps its checkpoints in <run>/checkpoints/ beside <run>/.hydra/config.yaml.
        for folder in Path(ckpt_path).resolve().parents[:2]:
            run_cfg = folder / ".hydra" / "config.yaml"
            if run_cfg.is_file():
                seed = OmegaConf.load(run_cfg).get("seed")
                break
    return {**run_identity(net, seed=seed, ckpt_path=ckpt_path, variant=hparams.get("variant")),
            "modalities": list(net.get("modalities") or []) or None}


def export_weights(ckpt_path: str | Path, path: Path) -> dict[str, Any]:
    """Write the network of a training checkpoint as a small weights file, OSTrack's layout
    (``{"net": state_dict}``) plus the ``model.net`` config that rebuilds it, and its sha256 beside it
    (``<path>.sha256``, ``sha256sum -c`` format). What ``model.init_ckpt`` starts other runs from."""
    ckpt = read_training_checkpoint(ckpt_path)
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    payload = {"net": state, "config": ckpt["hyper_parameters"]["net"],
               "trained": {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    digest = sha256_file(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    log.info("exported the network of %s to %s (%.1f MB, sha256 %s)", ckpt_path, path,
             path.stat().st_size / 1e6, digest)
    return {"path": str(path), "sha256": digest, "bytes": path.stat().st_size}
