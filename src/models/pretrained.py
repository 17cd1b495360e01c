"""Starting weights from any source: one reader, one name mapping, one loader, one report.

Both routes use it: ``model.init_ckpt`` (the whole network: backbone, head, fusion blocks) and
``model.net.backbone.pretrained`` (the backbone alone).

Sources (:func:`read_checkpoint` tells them apart by their keys):
- MAE's ``{'model': state_dict}`` and timm ViTs (``timm:<name>``): a bare ViT, named ``backbone.*`` here.
- OSTrack's ``{'net': state_dict}`` (``OSTrack_ep0300.pth.tar``): ``backbone.*`` plus the centre head
  ``box_head.conv{1..5}_{ctr,offset,size}.*`` (botaoye/OSTrack lib/models/ostrack/ostrack.py holds the
  two as ``backbone`` and ``box_head``; lib/models/layers/head.py ``CenterPredictor`` builds each
  ``convN`` (N = 1..4) as Conv2d + BatchNorm2d + ReLU in an ``nn.Sequential`` and ``conv5`` as a plain
  1x1 Conv2d). Our :class:`~src.models.layers.head.CenterPredictor` holds the same layers as three
  towers, so ``box_head.convN_ctr.*`` is ``head.score_tower.{N-1}.*`` (``offset`` -> ``offset_tower``,
  ``size`` -> ``size_tower``), tensor for tensor; inside ``convN`` (N = 1..4), a timm ``ConvNormAct``
  here, OSTrack's ``0.*`` (Conv2d) and ``1.*`` (BatchNorm2d) are ``conv.*`` and ``bn.*``.
- our checkpoints from before the head's blocks were timm ``ConvNormAct`` and the fusion feed-forward
  timm's ``Mlp`` (e.g. the shipped ``checkpoints/single_synthetic_cpu.pt``): the head's
  ``head.*_tower.{0..3}.{0,1}.*`` and the fusion blocks' ``feed_forward.{0,2}.*`` become
  ``{conv,bn}.*`` and ``{fc1,fc2}.*`` (:func:`current_names`).
- our Lightning checkpoints (``state_dict`` with ``net.`` prefixes), our exported weights
  (``{'net', 'config', 'trained'}``, :func:`src.learning.checkpoints.export_weights`) and plain state dicts.

Position embeddings are resized on every route (bicubic, as OSTrack's ``finetune_track`` in
lib/models/ostrack/base_backbone.py does): a ViT's single ``pos_embed`` (``[1, 1 + 14*14, C]``, class
token first) becomes the template and search embeddings, and template/search embeddings of another
size (e.g. OSTrack-384's 12x12 and 24x24) are resized to this network's grids.

Files are read with ``weights_only=True``: a checkpoint cannot run code on load. One that holds
pickled objects is refused with a message naming the file and the conversion
(``python -m src.convert_ckpt IN OUT --trust``).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed
from torch import nn

from src.utils.cli import UserError

log = logging.getLogger(__name__)

# OSTrack's head branch suffixes -> our tower names (see the module docstring)
OSTRACK_HEAD_TOWERS = {"ctr": "score_tower", "offset": "offset_tower", "size": "size_tower"}
_OSTRACK_HEAD_KEY = re.compile(r"^box_head\.conv([1-5])_(ctr|offset|size)\.(.+)$")
# nn.Sequential positions of older layouts -> the timm modules' names: the head's 3x3 blocks
# (Conv2d, BatchNorm2d, ReLU -> ConvNormAct's conv, bn) and the fusion feed-forward
# (Linear, GELU, Linear -> Mlp's fc1, fc2)
_SEQUENTIAL_NAMES = (
    (re.compile(r"^(head\.(?:score|offset|size)_tower\.[0-3])\.([01])\.(.+)$"), {"0": "conv", "1": "bn"}),
    (re.compile(r"^(fusion\.\d+\.feed_forward)\.([02])\.(.+)$"), {"0": "fc1", "2": "fc2"}),
)
# top-level names of a TrackerNet state dict (and OSTrack's head name)
NETWORK_PARTS = ("backbone.", "head.", "fusion.", "box_head.")
# BatchNorm's step counter: OSTrack's FrozenBatchNorm2d has none, and it is never read in eval mode
_COUNTERS = ("num_batches_tracked",)


class CheckpointError(UserError, ValueError):
    """A file that is not a checkpoint, or one that cannot be read safely; the message names it (a
    :class:`~src.utils.cli.UserError`: the command-line entry points report it in one line)."""


def check_finite_weights(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """:class:`CheckpointError` when a floating-point tensor of ``state`` holds NaN or inf (a run that
    diverged, a file damaged on the way): a network with such weights outputs NaN on every frame."""
    bad = []
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            count = int(value.numel() - torch.isfinite(value).sum())
            if count:
                bad.append((name, count, value.numel()))
    if bad:
        name, count, total = bad[0]
        more = f", and {len(bad) - 1} more tensor(s)" if len(bad) > 1 else ""
        raise CheckpointError(f"{path}: its weights hold NaN or inf ({name}: {count} of {total} "
                              f"values{more}); a diverged run? use an earlier checkpoint")


@dataclass
class LoadReport:
    """What loading did, in the target module's names: ``loaded`` tensors, ``missing`` ones the source
    lacked (left at their init), ``unexpected`` source tensors with no place here, ``resized``
    position embeddings (key -> (source shape, new shape))."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    resized: dict[str, tuple] = field(default_factory=dict)
    part: str | None = None  # one row for every key (e.g. ``backbone`` when loading a backbone alone)

    def _group(self, key: str) -> str:
        return self.part or key.split(".")[0]

    def rows(self) -> dict[str, dict[str, int]]:
        """Counts per network part (``backbone``, ``head``, ``fusion``; source-only names apart)."""
        table: dict[str, dict[str, int]] = {}
        for column, keys in (("loaded", self.loaded), ("missing", self.missing),
                             ("unexpected", self.unexpected), ("resized", list(self.resized))):
            for key in keys:
                row = table.setdefault(self._group(key), dict.fromkeys(
                    ("loaded", "missing", "unexpected", "resized"), 0))
                row[column] += 1
        return table

    def table(self) -> str:
        """A short text table: one row per part, the four counts."""
        lines = [f"weights from {self.source}",
                 f"{'part':<14}{'loaded':>8}{'missing':>9}{'unexpected':>12}{'resized':>9}"]
        for part, row in sorted(self.rows().items()):
            lines.append(f"{part:<14}{row['loaded']:>8}{row['missing']:>9}{row['unexpected']:>12}"
                         f"{row['resized']:>9}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["resized"] = {k: [list(s) for s in v] for k, v in self.resized.items()}
        out["summary"] = self.rows()
        return out


# ---------------------------------------------------------------------------------------- reading
def resize_pos_embed(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """``[1, g*g, C]`` (or ``[1, 1 + g*g, C]``, class token dropped) -> ``[1, grid*grid, C]``, bicubic
    (timm's ``resample_abs_pos_embed``, without its default antialiasing: OSTrack's plain bicubic)."""
    n = pos.shape[1]
    g = math.isqrt(n)
    if g * g != n:
        g = math.isqrt(n - 1)
        if g * g != n - 1:
            raise ValueError(f"position embedding of {n} tokens is neither g*g nor 1 + g*g")
        pos = pos[:, 1:]
    if g == grid:
        return pos.clone()
    return resample_abs_pos_embed(pos, [grid, grid], [g, g], num_prefix_tokens=0, antialias=False)


def _looks_like_torch_file(path: Path) -> bool:
    """Starts as torch.save's zip archive does, or as its legacy format (a pickle: byte 0x80)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def torch_load(path: str | os.PathLike, *, mmap: bool | None = None, pickle_module: Any = None) -> Any:
    """The one ``torch.load`` of a checkpoint file: onto the CPU, ``weights_only=True`` (a file cannot
    run code on load) unless a ``pickle_module`` is given, which unpickles the file's objects (runs
    code from it: trusted files only, ``src.convert_ckpt --trust``). ``mmap``: tensors memory-mapped,
    not read. Errors are torch's: :func:`load_file` and
    :func:`src.learning.checkpoints.read_training_checkpoint` check a file and say what is wrong."""
    return torch.load(path, map_location="cpu", weights_only=pickle_module is None, mmap=mmap,
                      pickle_module=pickle_module)


def load_file(path: str | os.PathLike) -> Any:
    """:func:`torch_load` (``weights_only=True``) with one clear message per way it can fail."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not _looks_like_torch_file(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (neither a torch.save archive nor a "
                              "pickle); pass a .pth / .pth.tar / .ckpt / .pt file")
    try:
        return torch_load(path)
    except pickle.UnpicklingError as err:
        if "weights only load failed" in str(err).lower():
            raise CheckpointError(
                f"{path} holds pickled Python objects besides its tensors (e.g. a trainer's settings), "
                "which are not loaded: unpickling them could run code. If you trust the file, write its "
                f"weights to a plain state dict once: python -m src.convert_ckpt {path} OUT.pth --trust"
            ) from None
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (damaged or another "
                              "format)") from None
    except Exception:  # noqa: BLE001 -- torch's zip/mmap messages do not name the problem
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (damaged or another "
                              "format)") from None


def unwrap_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint object, in the source's own names: the dict under ``state_dict``
    (Lightning), ``net`` (OSTrack, our exported weights) or ``model`` (MAE), else ``obj`` itself;
    DDP's ``module.`` and Lightning's ``net.`` prefixes stripped (a Lightning checkpoint keeps only
    the ``net.`` tensors: the rest belong to the objective)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict or a dict holding one, "
                              f"got {type(obj).__name__}")
    for key in ("state_dict", "net", "model"):
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    if any(k.startswith("net.") for k in state):
        state = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    if not state:
        raise CheckpointError(f"{source}: no tensors found in the checkpoint")
    return state


def current_name(key: str) -> str:
    """A TrackerNet tensor name of an older layout (nn.Sequential positions where timm's ConvNormAct
    and Mlp now stand, see the module docstring) -> today's; other names unchanged."""
    for pattern, names in _SEQUENTIAL_NAMES:
        match = pattern.match(key)
        if match:
            module, index, rest = match.groups()
            return f"{module}.{names[index]}.{rest}"
    return key


def current_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`current_name` of every key of a TrackerNet state dict."""
    return {current_name(k): v for k, v in state.items()}


def to_network_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Source names -> TrackerNet names: a bare ViT (no network part named) goes under ``backbone.``;
    OSTrack's ``box_head.convN_{ctr,offset,size}.*`` become ``head.{score,offset,size}_tower.{N-1}.*``;
    older layouts' names become today's (:func:`current_name`). Anything else keeps its name (and is
    reported as unexpected if the network has no such tensor)."""
    if not any(k.startswith(NETWORK_PARTS) for k in state):
        return {f"backbone.{k}": v for k, v in state.items()}
    out = {}
    for key, value in state.items():
        match = _OSTRACK_HEAD_KEY.match(key)
        if match:
            index, branch, rest = match.groups()
            key = f"head.{OSTRACK_HEAD_TOWERS[branch]}.{int(index) - 1}.{rest}"
        out[current_name(key)] = value
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A checkpoint file's tensors in TrackerNet names (``backbone.*``, ``head.*``, ``fusion.*``)."""
    return to_network_names(unwrap_state_dict(load_file(path), source=str(path)))


def state_dict_from_timm(name: str) -> dict[str, torch.Tensor]:
    """Weights of a timm model (downloads; needs internet)."""
    import timm

    return timm.create_model(name, pretrained=True, num_classes=0).state_dict()


# ---------------------------------------------------------------------------------------- loading
def _fit_pos_embeds(own: Mapping[str, torch.Tensor], state: dict[str, torch.Tensor],
                    report: LoadReport) -> None:
    """Give every ``*pos_embed_z`` / ``*pos_embed_x`` of ``own`` its grid: resized from the source's
    tensor of that name, or made from the source's single ViT ``pos_embed`` beside it."""
    used = set()
    for key, ref in own.items():
        if not key.endswith(("pos_embed_z", "pos_embed_x")):
            continue
        grid = math.isqrt(ref.shape[1])
        single = key[: -len("pos_embed_z")] + "pos_embed"
        src_key = key if key in state else single if single in state else None
        if src_key is None:
            continue
        pos = state[src_key]
        if pos.dim() != 3 or pos.shape[-1] != ref.shape[-1]:
            continue  # another width: reported as a mismatch below
        if src_key == key and pos.shape == ref.shape:
            continue
        state[key] = resize_pos_embed(pos, grid)
        report.resized[key] = (tuple(pos.shape), tuple(state[key].shape))
        if src_key == single:
            used.add(single)
    for key in used:  # consumed: neither loaded as itself nor unexpected
        state.pop(key)


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "state dict", *,
               allow_missing_head: bool = False, part: str | None = None) -> LoadReport:
    """Load ``state`` (in ``module``'s names) into ``module``; return and log the :class:`LoadReport`.

    Position embeddings are resized to the module's grids. A tensor of another shape is an error
    (the checkpoint was made for another network size). When the source has a centre head
    (``head.*``) but some of the module's head tensors are missing from it, that is an error too
    (it would train from a half-random head) unless ``allow_missing_head``.
    """
    own = module.state_dict()
    state = dict(state)
    report = LoadReport(source=source, part=part)
    _fit_pos_embeds(own, state, report)
    mismatched = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
                  if k in own and own[k].shape != v.shape]
    if mismatched:
        raise ValueError(f"weights from {source}: {len(mismatched)} tensor(s) do not fit this network "
                         f"(checkpoint vs model.net), e.g. {'; '.join(mismatched[:3])}: the checkpoint was "
                         "made for another network size")
    head_missing = [k for k in own if k.startswith("head.") and k not in state
                    and not k.endswith(_COUNTERS)]
    if head_missing and any(k.startswith(("head.", "box_head.")) for k in state) and not allow_missing_head:
        raise ValueError(f"weights from {source}: the checkpoint has a centre head, but {len(head_missing)} "
                         f"of this network's head tensors are not in it "
                         f"(e.g. {', '.join(head_missing[:3])}); its head has another layout. "
                         "model.init_ckpt_allow_missing_head=true starts those "
                         "tensors from random init")
    result = module.load_state_dict(state, strict=False)
    report.loaded = sorted(k for k in state if k in own)
    report.missing = sorted(result.missing_keys)
    report.unexpected = sorted(result.unexpected_keys)
    log.info("%s", report.table())
    if report.missing:
        log.warning("weights from %s: %d network tensors not in the checkpoint (trained from scratch): %s",
                    source, len(report.missing), ", ".join(report.missing[:20]))
    if report.unexpected:
        log.warning("weights from %s: %d checkpoint tensors unused: %s", source, len(report.unexpected),
                    ", ".join(report.unexpected[:20]))
    return report


def load_network_weights(net: nn.Module, path: str | os.PathLike, *,
                         allow_missing_head: bool = False) -> LoadReport:
    """``model.init_ckpt``: the whole network (backbone, head, fusion blocks) from any source."""
    return load_state(net, read_checkpoint(path), source=str(path), allow_missing_head=allow_missing_head)


def load_pretrained(backbone: nn.Module, spec: str) -> LoadReport:
    """``model.net.backbone.pretrained``: the backbone alone from ``timm:<name>`` or a checkpoint
    file (a head or fusion blocks in it are reported as unexpected). Keys in the report are the
    backbone's own (no ``backbone.`` prefix)."""
    spec = str(spec)
    if spec.startswith("timm:"):
        state = to_network_names(state_dict_from_timm(spec[len("timm:"):]))
    else:
        state = read_checkpoint(spec)
    prefix = "backbone."
    state = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    return load_state(backbone, state, source=spec, part="backbone")
