"""Pretrained backbone weights: a timm model name or a local checkpoint file.

Supported sources (``model.net.backbone.pretrained``):
- ``timm:<name>`` (e.g. ``timm:vit_base_patch16_224.mae``): downloaded by timm; needs internet.
- a local file: MAE-style ``{'model': state_dict}``, OSTrack-style ``{'net': state_dict}``
  (``backbone.`` prefix stripped), a Lightning checkpoint (``state_dict``, ``net.backbone.``
  prefix stripped) or a plain state dict.

The single ``pos_embed`` of a ViT pretrained at 224 px (``[1, 1 + 14*14, C]``, class token
first) is resized bicubically to the template and search grids (OSTrack does the same).
Keys that do not fit (missing, unexpected, shape mismatch) are logged and returned in a
:class:`LoadReport`, never silently dropped.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What loading did: ``missing`` backbone keys the source lacked, ``unexpected`` source keys the
    backbone has no place for, ``mismatched`` keys skipped for their shape (key -> (source, ours)),
    ``resized`` position embeddings (key -> (source shape, new shape))."""

    source: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple] = field(default_factory=dict)
    resized: dict[str, tuple] = field(default_factory=dict)


def resize_pos_embed(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """``[1, g*g, C]`` (or ``[1, 1 + g*g, C]``, class token dropped) -> ``[1, grid*grid, C]``, bicubic."""
    n = pos.shape[1]
    g = math.isqrt(n)
    if g * g != n:
        g = math.isqrt(n - 1)
        if g * g != n - 1:
            raise ValueError(f"position embedding of {n} tokens is neither g*g nor 1 + g*g")
        pos = pos[:, 1:]
    if g == grid:
        return pos.clone()
    C = pos.shape[-1]
    img = pos.reshape(1, g, g, C).permute(0, 3, 1, 2).float()
    img = F.interpolate(img, size=(grid, grid), mode="bicubic", align_corners=False)
    return img.permute(0, 2, 3, 1).reshape(1, grid * grid, C).to(pos.dtype)


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Backbone-style state dict from a checkpoint file (see module docstring for layouts)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- re-raised with the file named
        raise ValueError(f"cannot read pretrained checkpoint {path}: {err}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict or a dict holding one, got {type(obj).__name__}")
    for key in ("model", "net", "state_dict"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    state = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        for prefix in ("module.", "net.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        state[k] = v
    if not state:
        raise ValueError(f"{path}: no tensors found in the checkpoint")
    return state


def state_dict_from_timm(name: str) -> dict[str, torch.Tensor]:
    """Weights of a timm model (downloads; needs internet)."""
    import timm

    return timm.create_model(name, pretrained=True, num_classes=0).state_dict()


def load_backbone_state(backbone: nn.Module, state: dict[str, torch.Tensor],
                        source: str = "state dict") -> LoadReport:
    """Load ``state`` into a VisionTransformerCE, resizing position embeddings; report the rest."""
    report = LoadReport(source=source)
    state = dict(state)
    if "pos_embed" in state:
        pos = state.pop("pos_embed")
        for key, grid in (("pos_embed_z", backbone.grid_z), ("pos_embed_x", backbone.grid_x)):
            if key not in state:
                state[key] = resize_pos_embed(pos, grid)
                report.resized[key] = (tuple(pos.shape), tuple(state[key].shape))
    for key, grid in (("pos_embed_z", backbone.grid_z), ("pos_embed_x", backbone.grid_x)):
        if key in state and state[key].shape[1] != grid * grid:
            old = tuple(state[key].shape)
            state[key] = resize_pos_embed(state[key], grid)
            report.resized[key] = (old, tuple(state[key].shape))
    own = backbone.state_dict()
    for key in list(state):
        if key in own and state[key].shape != own[key].shape:
            report.mismatched[key] = (tuple(state.pop(key).shape), tuple(own[key].shape))
    result = backbone.load_state_dict(state, strict=False)
    report.missing = sorted(result.missing_keys) + sorted(report.mismatched)
    report.unexpected = sorted(result.unexpected_keys)
    n_loaded = len(own) - len(report.missing)
    log.info("pretrained %s: loaded %d/%d backbone tensors; resized %s", source, n_loaded, len(own),
             {k: v[1] for k, v in report.resized.items()})
    if report.missing:
        log.warning("pretrained %s: %d backbone key(s) missing (left at their init): %s", source,
                    len(report.missing), report.missing)
    if report.unexpected:
        log.warning("pretrained %s: %d unexpected key(s) not used: %s", source, len(report.unexpected),
                    report.unexpected)
    if report.mismatched:
        log.warning("pretrained %s: shape mismatch, skipped: %s", source, report.mismatched)
    return report


def load_pretrained(backbone: nn.Module, spec: str) -> LoadReport:
    """Load ``spec`` (``timm:<name>`` or a checkpoint path) into ``backbone``; see module docstring."""
    spec = str(spec)
    if spec.startswith("timm:"):
        name = spec[len("timm:"):]
        return load_backbone_state(backbone, state_dict_from_timm(name), source=spec)
    return load_backbone_state(backbone, read_checkpoint(spec), source=spec)
