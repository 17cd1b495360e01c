"""OSTrack-style inference loop for our networks (the tracker ``conf/tracker/ours.yaml`` builds).

The loop follows OSTrack's test-time tracker (botaoye/OSTrack, ``lib/test/tracker/ostrack.py``):
the template is cropped once from the first frame at factor 2; every later frame is cropped at
factor 4 around the previous box (one geometry shared by both modalities); the score map is
multiplied by a Hanning window (a motion prior that favours the crop centre); the box decoded at
the windowed peak is mapped back to image coordinates and clipped to the image with a minimum side.
With ``hflip`` (the default, conf/tracker/ours.yaml) the mirror images of both crops go through the
network in the same batch and the two boxes are averaged, a test-time augmentation OSTrack does not use.
With ``update_interval`` the tracker keeps a second, dynamic template next to the first one, as STARK and
MixFormer do: cropped from a frame whose score peak passed a confidence gate, at most every
``update_interval`` frames and never before frame ``update_start``; the network reads the search crop with
both templates in one batch and their score, size and offset maps are averaged (the network is trained
with one template; an ensemble of the two needs no retraining).

The per-frame path allocates its buffers once (uint8 crop buffers, float input tensors, the windowed
score map), so a frame costs the crop, the forward and a handful of scalar operations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.conf import CONF_DIR
from src.data.sequence import INFRARED, VISIBLE, stand_in
from src.data.transforms import MEAN, STD, crop, crop_geometry
from src.tracking.base import checked_box
from src.utils.boxes import clip_ltwh, cxcywh_to_ltwh, ltwh_to_cxcywh

log = logging.getLogger(__name__)


def hann2d(height: int, width: int) -> torch.Tensor:
    """Centred 2-D Hanning window ``[1, 1, H, W]``, zero-free (OSTrack's ``hann2d(centered=True)``:
    ``0.5 * (1 - cos(2 pi k / (n + 1)))`` for ``k = 1..n``, so the border cells keep a small weight):
    the inner ``n`` points of the symmetric ``n + 2``-point window (numpy's ``hanning(n + 2)[1:-1]``)."""

    def hann1d(n: int) -> torch.Tensor:
        return torch.hann_window(n + 2, periodic=False, dtype=torch.float64)[1:-1]

    return (hann1d(height)[:, None] * hann1d(width)[None, :])[None, None].float()


def _net_setting(net: torch.nn.Module, key: str) -> Any:
    """A size/modality setting of the network: an attribute, else its resolved config (``net.config``)."""
    if hasattr(net, key):
        return getattr(net, key)
    for name in ("config", "cfg"):
        cfg = getattr(net, name, None)
        if isinstance(cfg, Mapping) and key in cfg:
            return cfg[key]
    return None



# The tracking loop's settings that do not depend on the network live in conf/tracker/ours.yaml
# (``factory``), the crop factors in conf/data/pipeline/default.yaml (training crops with them; ours.yaml
# interpolates them); ``size_lr`` and ``aspect_lr``, which depend on the network, in conf/model/base.yaml
# (``model.tracker``, stored in checkpoints). A tracker built without them (validation, the end-of-run
# test, the ONNX tracker, src.export) reads them from there: one copy of each value.
LOOP_SETTINGS = ("template_factor", "search_factor", "min_size", "hanning", "hflip", "update_interval",
                 "update_threshold", "update_start")


@cache
def loop_defaults() -> dict[str, Any]:
    """conf/tracker/ours.yaml's :data:`LOOP_SETTINGS` (its crop factors interpolated from
    conf/data/pipeline/default.yaml) plus conf/model/base.yaml's ``tracker`` section."""
    from omegaconf import OmegaConf

    from src.conf import complete_section

    pipeline = OmegaConf.load(CONF_DIR / "data" / "pipeline" / "default.yaml")
    tracker = OmegaConf.load(CONF_DIR / "tracker" / "ours.yaml")
    factory = OmegaConf.merge({"data": pipeline}, tracker).factory
    return {**{key: factory[key] for key in LOOP_SETTINGS}, **complete_section("tracker", None)}


def _finite(out: Mapping[str, torch.Tensor]) -> bool:
    """Whether the score, size and offset maps hold finite values only (one reduction each: a NaN or
    inf anywhere makes the sum non-finite)."""
    return all(bool(torch.isfinite(out[k].sum())) for k in ("score_map", "size_map", "offset_map"))


class OSTrackTracker:
    """Tracks one target through a sequence with a :class:`~src.models.network.TrackerNet`.

    Args:
        net: the network (``forward(template_visible, search_visible, template_infrared,
            search_infrared, template_box) -> {score_map, size_map, offset_map, ...}`` and
            ``decode(score_map, size_map, offset_map) -> [B, 4]`` cxcywh in ``[0, 1]``).
        template_factor / search_factor: crop side over ``sqrt(w * h)`` (OSTrack: 2 and 4).
            This and ``min_size``, ``hanning``, ``size_lr``, ``aspect_lr``: ``None`` takes
            :func:`loop_defaults` (conf/tracker/ours.yaml, conf/model/base.yaml's ``tracker``).
        device: where the network runs; ``None`` keeps the device of its parameters.
        template_size / search_size: crop sides in pixels; ``None`` reads them from the network.
        modalities: what the tracker reads; ``None`` reads them from the network (a single-modal
            network reads ``visible`` only).
        min_size: smallest box side after clipping to the image (OSTrack's margin, 10 px).
        hanning: the power of the Hanning window multiplied into the score map (a motion prior that
            favours the crop centre): 1 is OSTrack's window, higher narrows it, 0 (or ``False``) turns it
            off; ``True`` reads as 1.
        hflip: also run the network on the mirror images of the template and search crops and average
            the two predicted boxes (test-time augmentation; training flips pairs, so the network reads
            both): two crops per forward, one geometry. ``False`` tracks the crops as they are (OSTrack).
        size_lr: how far the box size moves toward the predicted size each frame, ``w = (1 - lr) w_prev
            + lr w_pred`` (SiamRPN's size learning rate); 1 takes the prediction as it is (OSTrack).
            A network whose size estimate is noisy makes the box size a random walk at 1; lower values
            damp it (docs/results/benchmarks_history_2026-12-01, "Learned tracker").
        aspect_lr: how far the box's aspect ratio (w / h) follows the damped size's, in log space, the
            area staying the damped size's: 1 takes it as it is, 0 keeps the first box's aspect ratio
            (a scale-only tracker, as SiamFC and DSST are). A network with an aspect prior (its training
            world's typical shape) pulls every box toward it, frame after frame; 0 stops that.
        update_interval: frames between updates of the dynamic template; 0 keeps the first template only
            (OSTrack). update_threshold: the confidence gate, the (mean over views) peak of the score map
            before the Hanning window, in [0, 1] (STARK's 0.5). update_start: the first frame that may
            update it (the first frames tell too little about the target to trust a second view of it).

    Interface shared by every tracker: :meth:`initialize` with the first frame and box, then
    :meth:`track` per frame. ``frames`` maps a modality to an ``[H, W, 3]`` uint8 RGB image.
    After each call, ``last_model_time`` holds the seconds spent in the network's forward and
    ``last_confidence`` the score map's peak before the Hanning window (mean over views). A frame whose
    network output holds NaN or inf keeps the last box (``last_fault`` is then True) and is counted in
    ``nonfinite_frames``; the track goes on from the last good state.
    """

    name = "ours"

    def __init__(self, net: torch.nn.Module, template_factor: float | None = None,
                 search_factor: float | None = None, device: str | torch.device | None = None,
                 template_size: int | None = None, search_size: int | None = None,
                 modalities: tuple[str, ...] | list[str] | None = None, min_size: float | None = None,
                 hanning: float | bool | None = None, size_lr: float | None = None,
                 hflip: bool | None = None, update_interval: int | None = None,
                 update_threshold: float | None = None, update_start: int | None = None,
                 aspect_lr: float | None = None):
        given = {"template_factor": template_factor, "search_factor": search_factor, "min_size": min_size,
                 "hanning": hanning, "size_lr": size_lr, "aspect_lr": aspect_lr, "hflip": hflip,
                 "update_interval": update_interval, "update_threshold": update_threshold,
                 "update_start": update_start}
        settings = {**loop_defaults(), **{k: v for k, v in given.items() if v is not None}}
        template_factor, search_factor = settings["template_factor"], settings["search_factor"]
        min_size, hanning, size_lr = settings["min_size"], settings["hanning"], settings["size_lr"]
        if device is None:
            param = next(net.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.template_factor = float(template_factor)
        self.search_factor = float(search_factor)
        self.min_size = float(min_size)
        self.hanning = float(hanning)
        if self.hanning < 0:
            raise ValueError(f"OSTrackTracker: hanning (the window's power) must be >= 0, got {hanning}")
        if not 0.0 < size_lr <= 1.0:
            raise ValueError(f"OSTrackTracker: size_lr must be in (0, 1], got {size_lr}")
        self.size_lr = float(size_lr)
        self.aspect_lr = float(settings["aspect_lr"])
        if not 0.0 <= self.aspect_lr <= 1.0:
            raise ValueError(f"OSTrackTracker: aspect_lr must be in [0, 1], got {settings['aspect_lr']}")
        self.hflip = bool(settings["hflip"])
        self.update_interval = int(settings["update_interval"])
        self.update_threshold = float(settings["update_threshold"])
        self.update_start = int(settings["update_start"])
        if self.update_interval < 0 or self.update_start < 1:
            raise ValueError(f"OSTrackTracker: update_interval must be >= 0 and update_start >= 1, got "
                             f"{self.update_interval} and {self.update_start}")
        self.template_size = int(template_size or _net_setting(net, "template_size") or 0)
        self.search_size = int(search_size or _net_setting(net, "search_size") or 0)
        if not self.template_size or not self.search_size:
            raise ValueError("OSTrackTracker: pass template_size and search_size "
                             "(the network exposes neither)")
        modalities = modalities or _net_setting(net, "modalities") or (VISIBLE, INFRARED)
        self.modalities = tuple(m for m in (VISIBLE, INFRARED) if m in modalities)
        if VISIBLE not in self.modalities:
            raise ValueError(f"OSTrackTracker: modalities {list(modalities)} must include '{VISIBLE}'")
        self._sync = self.device.type == "cuda"
        self.last_model_time = 0.0

        # Buffers reused every frame. Created under inference mode because they are only ever
        # written inside it.
        z, x = self.template_size, self.search_size
        with torch.inference_mode():
            pin = self.device.type == "cuda"
            self._template_crop = {m: np.zeros((z, z, 3), np.uint8) for m in self.modalities}
            self._template_host = {m: torch.from_numpy(a) for m, a in self._template_crop.items()}
            self._search_crop = {m: np.zeros((x, x, 3), np.uint8) for m in self.modalities}
            if pin:
                # Pinned host memory, viewed by numpy, so the host-to-device copy is asynchronous.
                self._search_host = {m: torch.zeros((x, x, 3), dtype=torch.uint8).pin_memory()
                                     for m in self.modalities}
                self._search_crop = {m: t.numpy() for m, t in self._search_host.items()}
            else:
                self._search_host = {m: torch.from_numpy(a) for m, a in self._search_crop.items()}
            # batch element 0: the crops; with hflip, element 1: their mirror images; with a dynamic template,
            # the same again with it (elements flips + 0, flips + 1)
            self._flips = 2 if self.hflip else 1
            self._templates = 2 if self.update_interval > 0 else 1
            views = self._flips * self._templates
            self._template = {m: torch.zeros((views, 3, z, z), device=self.device) for m in self.modalities}
            self._search = {m: torch.zeros((views, 3, x, x), device=self.device) for m in self.modalities}
            # (x / 255 - mean) / std == (x - 255 mean) / (255 std): one subtract and one divide in place
            # give exactly transforms.normalize's values.
            self._mean = torch.as_tensor(MEAN * 255.0, device=self.device).view(3, 1, 1)
            self._std = torch.as_tensor(STD * 255.0, device=self.device).view(3, 1, 1)
            self._template_box = torch.zeros((views, 4), device=self.device)
            # the column order of a mirror image, for each crop side: index_select writes it in place
            self._reversed = {n: torch.arange(n - 1, -1, -1, device=self.device) for n in {z, x}}
            self._window: torch.Tensor | None = None  # built from the first score map's shape
            self._response: torch.Tensor | None = None
        # The forward's keyword arguments, bound once to the buffers above.
        self._net_inputs = {f"template_{m}": t for m, t in self._template.items()}
        self._net_inputs.update({f"search_{m}": t for m, t in self._search.items()})
        self._net_inputs["template_box"] = self._template_box
        # hflip on a network exported at batch 1 (the ONNX one sets ``batch_one``): one call per view
        self._view_inputs = [{k: v[i:i + 1] for k, v in self._net_inputs.items()} for i in range(views)] \
            if views > 1 and getattr(net, "batch_one", False) else None
        # the batch with the first template only (before the dynamic template exists)
        self._first_inputs = {k: v[:self._flips] for k, v in self._net_inputs.items()}
        self._state: np.ndarray | None = None
        self._frame = 0               # frames since initialize
        self._updated_at: int | None = None  # the frame the dynamic template was cut from
        self._raw_score_map: torch.Tensor | None = None  # the last finite frame's, before the window
        # frames since initialize whose network output held NaN or inf (each kept the last box);
        # last_fault: whether the latest frame was one
        self.nonfinite_frames = 0
        self.last_fault = False

    @property
    def last_confidence(self) -> float:
        """The last finite frame's score-map peak before the Hanning window (mean over views), in [0, 1]:
        the dynamic template's gate; NaN before the first frame is tracked."""
        if self._raw_score_map is None:
            return float("nan")
        return float(self._raw_score_map.flatten(1).amax(1).mean())

    # -- construction from a training checkpoint -------------------------------------------------
    @classmethod
    def from_checkpoint(cls, ckpt_path: str | Path, device: str | torch.device = "cpu",
                        **kwargs: Any) -> OSTrackTracker:
        """Rebuild the network from a TrackerLitModule checkpoint (its ``net`` hyperparameter and
        the ``net.``-prefixed weights), or from an exported weights file (``{"net": state_dict,
        "config": net config}``, what ``src.learning.checkpoints.export_weights`` writes), and wrap it.
        ``kwargs`` go to the constructor; those not given come from the checkpoint's ``tracker``
        hyperparameter (``model.tracker``), then :func:`loop_defaults`."""
        from src.models import build_network
        from src.models.pretrained import check_finite_weights, current_names, load_file

        ckpt_path = Path(str(ckpt_path))
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"{ckpt_path}: checkpoint not found")
        ckpt = load_file(ckpt_path)  # one clear message when the file is not a safe checkpoint
        if "state_dict" not in ckpt and isinstance(ckpt.get("net"), Mapping) and "config" in ckpt:
            # an exported weights file: the same network and weights under other keys
            ckpt = {"hyper_parameters": {"net": ckpt["config"]},
                    "state_dict": {f"net.{k}": v for k, v in ckpt["net"].items()}}
        hparams = ckpt.get("hyper_parameters") or {}
        if "net" not in hparams:
            raise KeyError(f"{ckpt_path}: no 'net' hyperparameter (not a TrackerLitModule checkpoint?)")
        net_cfg = dict(hparams["net"])
        net = build_network(net_cfg, load_pretrained=False)  # the checkpoint holds the weights
        # older layouts' tensor names (the shipped checkpoint's head, for one) read as today's
        state = current_names({k[len("net."):]: v for k, v in ckpt["state_dict"].items()
                               if k.startswith("net.")})
        if not state:
            raise KeyError(f"{ckpt_path}: the state dict has no 'net.' weights")
        check_finite_weights(state, ckpt_path)
        net.load_state_dict(state, strict=True)
        kwargs.setdefault("template_size", net_cfg.get("template_size"))
        kwargs.setdefault("search_size", net_cfg.get("search_size"))
        kwargs.setdefault("modalities", net_cfg.get("modalities"))
        for key, value in (hparams.get("tracker") or {}).items():  # how the network is meant to be tracked
            kwargs.setdefault(key, value)
        tracker = cls(net, device=device, **kwargs)
        tracker.hparams = hparams
        tracker.ckpt_path = str(ckpt_path)
        return tracker

    # -- the loop ---------------------------------------------------------------------------------
    def _load(self, image: np.ndarray, geometry, crop_buffer: np.ndarray, host: torch.Tensor,
              target: torch.Tensor, slot: int = 0) -> None:
        """Crop ``image`` into ``crop_buffer`` and write the normalised ``[3, S, S]`` into ``target[slot]``
        (with ``hflip``, its mirror image into ``target[slot + 1]``)."""
        crop(image, geometry, out=crop_buffer)
        view = target[slot]
        view.copy_(host.permute(2, 0, 1), non_blocking=True)  # uint8 -> float32, HWC -> CHW
        view.sub_(self._mean).div_(self._std)
        if self.hflip:  # the mirror image into the next batch element, without a temporary
            torch.index_select(view, 2, self._reversed[view.shape[-1]], out=target[slot + 1])

    def _load_template(self, frames: Mapping[str, np.ndarray], box: np.ndarray, slot: int) -> None:
        """Cut the template around ``box`` in every modality into batch elements ``slot`` (and its mirror
        image), with its box in template-crop coordinates (what candidate elimination's mask is made of)."""
        geometry = crop_geometry(box, self.template_factor, self.template_size)
        for m in self.modalities:
            self._load(stand_in(frames, m), geometry, self._template_crop[m], self._template_host[m],
                       self._template[m], slot)
        box_crop = ltwh_to_cxcywh(geometry.box_to_crop(box)) / self.template_size
        self._template_box[slot].copy_(torch.as_tensor(box_crop, dtype=torch.float32))
        if self.hflip:
            self._template_box[slot + 1].copy_(self._template_box[slot])
            self._template_box[slot + 1, 0] = 1.0 - self._template_box[slot, 0]  # mirrored: cx -> 1 - cx

    @torch.inference_mode()
    def initialize(self, frames: Mapping[str, np.ndarray], box_ltwh: np.ndarray) -> None:
        """Crop the template (factor ``template_factor``) around ``box_ltwh`` in every modality."""
        box = checked_box(box_ltwh, "initial box", "OSTrackTracker.initialize")
        self._load_template(frames, box, 0)
        self._state = box
        self._frame = 0
        self._updated_at = None
        self.last_model_time = 0.0
        self._raw_score_map = None
        self.nonfinite_frames = 0
        self.last_fault = False

    def set_state(self, box_ltwh: np.ndarray) -> None:
        """Move the tracker to ``box_ltwh`` (image pixels): the next search crop is cut around it.
        The template is kept. For diagnostics (teacher forcing: ``scripts/diagnose_drift.py``)."""
        if self._state is None:
            raise RuntimeError("set_state() called before initialize()")
        self._state = checked_box(box_ltwh, "box", "OSTrackTracker.set_state")

    def _forward(self) -> dict[str, torch.Tensor]:
        """The network on the crops just loaded: one batch (1, or 2 with ``hflip``; twice that with the
        dynamic template), or one call per view for a network exported at batch 1. With two templates the
        maps of each view are averaged over the templates: ``[flips, ...]`` either way."""
        both = self._updated_at is not None
        if self._view_inputs is None:
            out = self.net(**(self._net_inputs if both else self._first_inputs))
        else:
            views = self._view_inputs if both else self._view_inputs[:self._flips]
            outs = [self.net(**inputs) for inputs in views]
            out = {k: torch.cat([o[k] for o in outs]) for k in ("score_map", "size_map", "offset_map")}
        if both:
            out = {k: out[k].unflatten(0, (self._templates, self._flips)).mean(0)
                   for k in ("score_map", "size_map", "offset_map")}
        return out

    def _maybe_update(self, frames: Mapping[str, np.ndarray], box: np.ndarray) -> None:
        """Cut the dynamic template at ``box`` when this frame passes the gate (:class:`OSTrackTracker`)."""
        if self.update_interval <= 0 or self._frame < self.update_start:
            return
        if self.last_confidence < self.update_threshold:
            return
        if self._updated_at is not None and self._frame - self._updated_at < self.update_interval:
            return
        self._load_template(frames, box, self._flips)
        self._updated_at = self._frame

    def _keep_last_box(self) -> np.ndarray:
        """A frame whose output was not finite: the state and the templates stay as they were, the frame is
        counted (``nonfinite_frames``, metrics.json) and the last box returned."""
        self.nonfinite_frames += 1
        self.last_fault = True
        self._frame += 1
        return self._state.copy()

    @torch.inference_mode()
    def track(self, frames: Mapping[str, np.ndarray]) -> np.ndarray:
        """Locate the target in the next frame: ``ltwh`` float64 ``[4]`` in image pixels."""
        if self._state is None:
            raise RuntimeError("track() called before initialize()")
        image = frames[VISIBLE]
        height, width = image.shape[:2]
        geometry = crop_geometry(self._state, self.search_factor, self.search_size)
        both = self._updated_at is not None
        for m in self.modalities:
            self._load(stand_in(frames, m), geometry, self._search_crop[m], self._search_host[m],
                       self._search[m])
            if both:  # the dynamic template's views read the same search crops
                self._search[m][self._flips:].copy_(self._search[m][:self._flips])

        if self._sync:
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        out = self._forward()
        if self._sync:
            torch.cuda.synchronize(self.device)
        self.last_model_time = time.perf_counter() - start

        score_map = out["score_map"]
        if not _finite(out):
            # NaN or inf out of the network (an overflow, a bad input): this frame keeps the last box
            return self._keep_last_box()
        self.last_fault = False
        self._raw_score_map = score_map  # last_confidence reads it when asked (the gate, diagnostics)
        if self.hanning > 0:
            if self._window is None or self._window.shape[-2:] != score_map.shape[-2:]:
                self._window = hann2d(*score_map.shape[-2:]).pow(self.hanning).to(self.device)
                self._response = torch.empty_like(score_map)
            score_map = torch.mul(score_map, self._window, out=self._response)
        pred = self.net.decode(score_map, out["size_map"], out["offset_map"])  # [V, 4] cxcywh in [0, 1]
        pred = np.asarray(pred.tolist(), dtype=np.float64)
        if self.hflip:  # the mirrored view's box mirrored back, then the mean of the two (one geometry)
            pred[1, 0] = 1.0 - pred[1, 0]
            pred = pred.mean(axis=0, keepdims=True)
        box = geometry.box_to_image(cxcywh_to_ltwh(pred[0] * self.search_size))
        if not np.isfinite(box).all():  # finite maps can still decode to an overflowing size
            return self._keep_last_box()
        if self.size_lr < 1.0 or self.aspect_lr < 1.0:  # the predicted centre, a damped size and shape
            centre = box[:2] + box[2:] / 2
            size = (1.0 - self.size_lr) * self._state[2:] + self.size_lr * box[2:]
            if self.aspect_lr < 1.0:  # the aspect ratio moves toward the damped size's, the area kept
                log_aspect = ((1.0 - self.aspect_lr) * np.log(self._state[2] / self._state[3])
                              + self.aspect_lr * np.log(size[0] / size[1]))
                size = np.sqrt(size[0] * size[1]) * np.exp(np.array([0.5, -0.5]) * log_aspect)
            box = np.concatenate([centre - size / 2, size])
        box = clip_ltwh(box, width, height, self.min_size)
        self._state = box
        self._frame += 1
        self._maybe_update(frames, box)
        return box.copy()
