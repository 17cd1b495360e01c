"""TrackerNet: backbone + fusion recipe + center head, and ``build_network(cfg)``.

The fusion recipe is a list of stages applied in order to the token sequence
``[template; search]``: ``cmc`` (CMCBlock), ``cmc1`` (CMCBlock1) and ``ceb`` (candidate
elimination over the fused sequence). The seven variants of the seed's ablation are
configs (``conf/variant/``) choosing the recipe; ``single`` runs the visible modality alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.models.backbone import VisionTransformerCE, to_three_channels
from src.models.layers.candidate_elimination import (
    TEMPLATE_MASK_MODES,
    recover_tokens,
    template_mask_from_box,
)
from src.models.layers.fusion import CEBStage, CMCBlock, CMCBlock1
from src.models.layers.head import CenterPredictor, depthwise_xcorr

log = logging.getLogger(__name__)

STAGES = ("cmc", "cmc1", "ceb")
ALIGN_MODES = ("recover", "sorted")
MODALITY_SETS = (["visible"], ["visible", "infrared"])


def resolve_config(cfg: Mapping) -> dict[str, Any]:
    """``cfg`` (``model.net``, a plain dict or DictConfig) completed from conf/model/net/base.yaml, the
    one place the defaults live (src.conf.complete_net): an unknown key or a value of the wrong type is
    an error naming it (a typo would otherwise be silently ignored); then the values are checked."""
    from src.conf import complete_net  # its ConfigError is a ValueError

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(cfg, Mapping):
        raise TypeError(f"build_network expects a mapping (model.net), got {type(cfg).__name__}")
    out = complete_net(cfg)

    out["modalities"] = list(out["modalities"])
    if out["modalities"] not in MODALITY_SETS:
        raise ValueError(f"model.net.modalities must be one of {MODALITY_SETS}, got {out['modalities']}")
    fusion = out["fusion"]
    fusion["stages"] = [str(s) for s in (fusion["stages"] or [])]
    bad = [s for s in fusion["stages"] if s not in STAGES]
    if bad:
        raise ValueError(f"model.net.fusion.stages: unknown stage(s) {bad}; known: {list(STAGES)}")
    if fusion["align"] not in ALIGN_MODES:
        raise ValueError(f"model.net.fusion.align must be one of {ALIGN_MODES}, got {fusion['align']!r}")
    dual = len(out["modalities"]) == 2
    if not dual and fusion["stages"]:
        raise ValueError("model.net: a visible-only network has no fusion, but "
                         f"fusion.stages = {fusion['stages']}")
    if dual and not any(s in ("cmc", "cmc1") for s in fusion["stages"]):
        raise ValueError("model.net: a visible+infrared network needs at least one cmc or cmc1 fusion stage, "
                         f"got fusion.stages = {fusion['stages']}")
    patch, stride = out["patch_size"], out["head"]["stride"]
    if stride is not None and (stride > patch or patch % stride or stride & (stride - 1)):
        raise ValueError("model.net.head.stride must be null (the patch size) or a power of two that "
                         f"divides patch_size {patch}, got {stride}")
    if stride is not None and stride < patch and out["backbone"]["stem"] != "conv":
        raise ValueError(f"model.net.head.stride {stride} < patch_size reads the conv stem's features: "
                         f"it needs backbone.stem=conv, got {out['backbone']['stem']!r}")
    if out["head"]["xcorr"] and not (stride is not None and stride < patch):
        raise ValueError("model.net.head.xcorr correlates the conv stem's features below the patch size: "
                         f"it needs head.stride < patch_size {patch}, got {stride}")
    if out["backbone"]["ce_template_mask"] not in TEMPLATE_MASK_MODES:
        raise ValueError(f"model.net.backbone.ce_template_mask must be one of {TEMPLATE_MASK_MODES}, "
                         f"got {out['backbone']['ce_template_mask']!r}")
    return out


class TrackerNet(nn.Module):
    """One-stream RGB-T tracker network.

    Attributes: ``backbone`` (VisionTransformerCE), ``fusion`` (ModuleList, one module per
    recipe stage, names in ``stages``), ``head`` (CenterPredictor), ``config`` (the resolved
    ``model.net`` dict that rebuilds it).
    """

    def __init__(self, backbone: VisionTransformerCE, stages: list[str], fusion: nn.ModuleList,
                 head: CenterPredictor, modalities: list[str], align: str = "recover",
                 ce_template_mask: str = "center", config: dict | None = None) -> None:
        super().__init__()
        if len(stages) != len(fusion):
            raise ValueError("TrackerNet: one fusion module per stage name is needed")
        self.backbone = backbone
        self.stages = list(stages)
        self.fusion = fusion
        self.head = head
        self.modalities = list(modalities)
        self.align = align
        self.ce_template_mask = ce_template_mask
        self.config = config or {}

    @property
    def variant(self) -> str | None:
        return self.config.get("variant")

    @property
    def template_size(self) -> int:
        return self.backbone.template_size

    @property
    def search_size(self) -> int:
        return self.backbone.search_size

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    @property
    def head_stride(self) -> int:
        """Stride of the predicted maps in search-crop pixels (the heatmap labels' stride)."""
        return self.head.stride

    @property
    def dual(self) -> bool:
        return "infrared" in self.modalities

    @property
    def sort_kept(self) -> bool:
        """The token spatial filter flag of every CE layer (backbone and ``ceb`` stages)."""
        return self.backbone.sort_kept

    @sort_kept.setter
    def sort_kept(self, value: bool) -> None:
        self.backbone.sort_kept = value
        for stage in self.fusion:
            if isinstance(stage, CEBStage):
                stage.block.sort_kept = bool(value)

    def _check_images(self, **images: torch.Tensor | None) -> None:
        bb = self.backbone
        B = images["search_visible"].shape[0]
        for name, img in images.items():
            if img is None:
                continue
            size = bb.template_size if name.startswith("template") else bb.search_size
            ok = img.dim() == 4 and img.shape[0] == B and img.shape[1] in (1, 3)
            if not ok or img.shape[-2:] != (size, size):
                kind = name.split("_")[0]
                raise ValueError(f"{name} must be [{B}, 1|3, {size}, {size}] (model.net.{kind}_size), "
                                 f"got {tuple(img.shape)}")

    @staticmethod
    def decode(score_map: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor) -> torch.Tensor:
        """Box at the score peak, ``[B, 4]`` cxcywh normalised to the search crop."""
        return CenterPredictor.decode(score_map, size_map, offset_map)

    def forward(self, template_visible: torch.Tensor, search_visible: torch.Tensor,
                template_infrared: torch.Tensor | None = None, search_infrared: torch.Tensor | None = None,
                template_box: torch.Tensor | None = None, keep_ratio: float | None = None) -> dict:
        """Predict the target in the search crops.

        Args:
            template_visible, template_infrared: ``[B, 1|3, H_z, W_z]`` template crops.
            search_visible, search_infrared: ``[B, 1|3, H_x, W_x]`` search crops. The infrared
                inputs are required by dual-modal variants and ignored by ``single``.
            template_box: ``[B, 4]`` cxcywh normalised to the template crop: the CE template
                mask (``ce_template_mask``); None uses the template's centre patch.
            keep_ratio: overrides every CE layer's keep ratio (1 disables CE).

        Returns:
            dict: ``score_map [B,1,H_f,W_f]``, ``size_map [B,2,H_f,W_f]``, ``offset_map [B,2,H_f,W_f]``,
            ``pred_boxes [B,4]`` (cxcywh, normalised to the search crop), ``keep_index`` (kept
            global indices ``[B, L_k]`` of the visible / fused stream, one per backbone CE block
            then one per ``ceb`` stage) and ``keep_index_infrared`` (per backbone CE block).
        """
        B = search_visible.shape[0]
        bb = self.backbone
        self._check_images(template_visible=template_visible, search_visible=search_visible,
                           template_infrared=template_infrared if self.dual else None,
                           search_infrared=search_infrared if self.dual else None)
        if template_box is not None and template_box.shape != (B, 4):
            raise ValueError(f"template_box must be [B, 4] = [{B}, 4], got {tuple(template_box.shape)}")
        mask = template_mask_from_box(template_box, bb.grid_z, self.ce_template_mask, batch=B,
                                      device=search_visible.device)
        if self.dual:
            if template_infrared is None or search_infrared is None:
                raise ValueError(f"the {self.config.get('variant') or 'dual-modal'} network needs "
                                 "template_infrared and search_infrared")
            # one batched pass: [visible; infrared] on the batch axis
            template = torch.cat([to_three_channels(template_visible), to_three_channels(template_infrared)])
            search = torch.cat([to_three_channels(search_visible), to_three_channels(search_infrared)])
            mask2 = None if mask is None else torch.cat([mask, mask])
        else:
            template, search, mask2 = template_visible, search_visible, mask
        feats = bb(template, search, mask2, keep_ratio)
        lens_t, L_s = bb.num_template, bb.num_search
        keep_index = [k[:B] for k in feats["keep_index"]]
        keep_index_ir = [k[B:] for k in feats["keep_index"]] if self.dual else []

        if not self.dual:
            search_tokens = recover_tokens(feats["search"], feats["global_index"], L_s)
        else:
            z_v, z_i = feats["template"].split(B)
            x_v, x_i = feats["search"].split(B)
            g_v, g_i = feats["global_index"].split(B)
            if self.align == "recover":
                # both modalities back on the full grid: position i is the same patch in both
                x_v, x_i = recover_tokens(x_v, g_v, L_s), recover_tokens(x_i, g_i, L_s)
                g_v = torch.arange(L_s, device=x_v.device).unsqueeze(0).expand(B, -1)
            # align == "sorted": the pruned sequences are fused position by position (the seed's
            # literal reading); the fused stream keeps the visible tokens' positions
            fused, infrared = torch.cat([z_v, x_v], dim=1), torch.cat([z_i, x_i], dim=1)
            for name, stage in zip(self.stages, self.fusion):
                if name == "ceb":
                    fused, infrared, g_v, _ = stage(fused, infrared, g_v, lens_t, mask, keep_ratio)
                    keep_index.append(g_v)
                else:
                    fused = stage(fused, infrared)
            search_tokens = recover_tokens(fused[:, lens_t:], g_v, L_s)

        C = search_tokens.shape[-1]
        feat = search_tokens.transpose(1, 2).reshape(B, C, bb.grid_x, bb.grid_x)
        skip, corr = feats["search_skip"], None
        if feats["template_skip"] is not None:
            # the template crop's central half is the target (template_factor 2): its stem features are
            # the kernel, correlated with the search crop's
            z_skip = feats["template_skip"]
            k = z_skip.shape[-1] // 2
            lo = (z_skip.shape[-1] - k) // 2
            corr = depthwise_xcorr(skip, z_skip[..., lo:lo + k, lo:lo + k])
        if skip is not None and self.dual:
            # the mean of both modalities' stem features: the same width as a single-modal network's,
            # so a single-modal checkpoint's head loads whole (fusion happens in the tokens)
            skip = skip.view(2, B, *skip.shape[1:]).mean(dim=0)
            corr = None if corr is None else corr.view(2, B, *corr.shape[1:]).mean(dim=0)
        score_map, size_map, offset_map, boxes = self.head(feat, skip, corr)
        return {"score_map": score_map, "size_map": size_map, "offset_map": offset_map, "pred_boxes": boxes,
                "keep_index": keep_index, "keep_index_infrared": keep_index_ir}


def build_network(cfg: Mapping, load_pretrained: bool = True) -> TrackerNet:
    """Build the network from ``model.net`` (a plain dict or DictConfig).

    Keys: ``variant``, ``modalities``, ``template_size``, ``search_size``, ``patch_size``,
    ``backbone{embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate,
    drop_path_rate, ce_loc, ce_keep_ratio, ce_template_mask, sort_kept, stem, stem_channels, pretrained}``,
    ``fusion{align, stages, num_heads, max_len, attn_drop, ceb_keep_ratio}``, ``head{channels, stride}``.
    See conf/model/net/base.yaml for their meaning and defaults. ``load_pretrained=False`` skips
    ``backbone.pretrained`` (for rebuilding a network whose trained weights are loaded next,
    e.g. from a checkpoint on a machine without the pretraining file).
    """
    c = resolve_config(cfg)
    b, f, h = c["backbone"], c["fusion"], c["head"]
    backbone = VisionTransformerCE(
        template_size=c["template_size"], search_size=c["search_size"], patch_size=c["patch_size"],
        embed_dim=b["embed_dim"], depth=b["depth"], num_heads=b["num_heads"], mlp_ratio=b["mlp_ratio"],
        qkv_bias=b["qkv_bias"], drop_rate=b["drop_rate"], attn_drop_rate=b["attn_drop_rate"],
        drop_path_rate=b["drop_path_rate"], ce_loc=b["ce_loc"], ce_keep_ratio=b["ce_keep_ratio"],
        sort_kept=b["sort_kept"], stem=b["stem"], stem_channels=b["stem_channels"],
        skip_stride=h["stride"] if h["stride"] and h["stride"] < c["patch_size"] else None)
    dim = b["embed_dim"]
    heads = f["num_heads"] or b["num_heads"]
    max_needed = backbone.num_template + backbone.num_search
    if "cmc1" in f["stages"] and f["max_len"] < max_needed:
        raise ValueError(f"model.net.fusion.max_len = {f['max_len']} is shorter than the fused sequence "
                         f"({backbone.num_template} template + {backbone.num_search} search tokens "
                         f"= {max_needed})")
    modules = []
    for name in f["stages"]:
        if name == "cmc":
            modules.append(CMCBlock(dim, heads))
        elif name == "cmc1":
            modules.append(CMCBlock1(dim, heads, max_len=f["max_len"], attn_drop=f["attn_drop"]))
        else:
            modules.append(CEBStage(dim, heads, mlp_ratio=b["mlp_ratio"], qkv_bias=b["qkv_bias"],
                                    keep_ratio=f["ceb_keep_ratio"], sort_kept=b["sort_kept"]))
    stride = h["stride"] or c["patch_size"]
    skip_planes = backbone.skip_channels
    xcorr = bool(h["xcorr"])
    head = CenterPredictor(dim, channels=h["channels"], feat_size=c["search_size"] // stride, stride=stride,
                           skip_planes=skip_planes, skip_scale=c["patch_size"] // stride, xcorr=xcorr)
    backbone.template_skip = xcorr
    net = TrackerNet(backbone, f["stages"], nn.ModuleList(modules), head, c["modalities"], align=f["align"],
                     ce_template_mask=b["ce_template_mask"], config=c)
    if b["pretrained"] and load_pretrained:
        from src.models.pretrained import load_pretrained as load

        net.pretrained_report = load(net.backbone, b["pretrained"])
    return net
