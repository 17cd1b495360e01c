"""OSTrack's center head (``CenterPredictor``, ``lib/models/layers/head.py`` in botaoye/OSTrack).

Three small conv towers read the search-token feature map ``[B, C, H_f, W_f]`` (stride 16):
a target-centre score map (sigmoid), a normalised box-size map (sigmoid) and a sub-cell
offset map. The box is decoded at the score peak.

``FineFeatures`` (not in OSTrack) lets the towers read a finer grid than the patches: the token map
upsampled and added to the search image's conv-stem features at that stride (a U-Net/FPN skip), and,
with ``xcorr``, a depth-wise cross-correlation of those features with the template's (SiamRPN++'s
DW-XCorr, Li et al. CVPR 2019): a matching signal the head reads directly.
"""

from __future__ import annotations

import torch
from timm.layers import ConvNormAct
from torch import nn

# log(0.1 / 0.9): the score map's initial value 0.1 (CenterNet's heatmap bias)
SCORE_PRIOR_BIAS = -2.19


def _tower(in_planes: int, channels: int, out_planes: int) -> nn.Sequential:
    # OSTrack halves the width three times: C -> ch -> ch/2 -> ch/4 -> ch/8 -> out. Each of the four
    # 3x3 blocks is OSTrack's Conv2d(bias) + BatchNorm2d + ReLU, as timm's ConvNormAct (tensors
    # ``conv.*`` and ``bn.*``; OSTrack's and older checkpoints' ``0.*`` / ``1.*`` are renamed on reading,
    # src/models/pretrained.py)
    widths = [in_planes, channels, channels // 2, channels // 4, channels // 8]
    layers = [ConvNormAct(a, b, kernel_size=3, bias=True) for a, b in zip(widths[:-1], widths[1:])]
    layers.append(nn.Conv2d(widths[-1], out_planes, kernel_size=1))
    return nn.Sequential(*layers)


class FineFeatures(nn.Module):
    """Token map ``[B, C, h, w]`` + stem features ``[B, S, h*k, w*k]`` -> ``[B, D, h*k, w*k]``.

    Both are projected to ``D`` channels by a 1x1 conv (the stem features with BN, the tokens, already
    LayerNorm'ed, with a bias and no BN); the token map is upsampled bilinearly by ``k`` and the two are
    added. The tokens say which object is the target (they have met the template); the stem features
    say where its edges are, at the finer stride.

    No BN on the token branch: with it, the branch's conv is scale-invariant, so weight decay shrinks its
    output until BN's running variance is ~1e-5 (BN then multiplies it by ~300), and the small drift
    between batch and running statistics breaks eval mode: validation MSR falls to 0.01 in long runs
    (docs/results/benchmarks_history_2026-12-03, "The longer preset").
    """

    def __init__(self, in_planes: int, skip_planes: int, out_planes: int, scale: int,
                 xcorr: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.tokens = nn.Conv2d(in_planes, out_planes, kernel_size=1)
        self.skip = ConvNormAct(skip_planes, out_planes, kernel_size=1, apply_act=False)
        self.corr = ConvNormAct(skip_planes, out_planes, kernel_size=1, apply_act=False) if xcorr else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor, corr: torch.Tensor | None = None) -> torch.Tensor:
        x = nn.functional.interpolate(self.tokens(x), scale_factor=self.scale, mode="bilinear",
                                      align_corners=False)
        x = x + self.skip(skip)
        if self.corr is not None:
            if corr is None:
                raise ValueError("this head reads a template correlation map: forward needs `corr`")
            x = x + self.corr(corr)
        return torch.relu(x)


def depthwise_xcorr(search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Depth-wise cross-correlation: search ``[B, C, H, W]`` with the template's target region ``[B, C, k,
    k]`` as a per-channel kernel, zero-padded to keep ``H x W`` (the kernel's centre over each cell; for
    an even ``k`` the half-cell toward the top left), divided by ``k * k``."""
    B, C, H, W = search.shape
    k = template.shape[-1]
    out = nn.functional.conv2d(search.reshape(1, B * C, H, W), template.reshape(B * C, 1, k, k),
                               padding=k // 2, groups=B * C)
    return out[..., :H, :W].reshape(B, C, H, W) / (k * k)


class CenterPredictor(nn.Module):
    """Center head.

    Args:
        in_planes: token width ``C``.
        channels: width of the first conv of each tower (OSTrack ViT-B: 256); divisible by 8.
        feat_size: side of the search feature grid ``H_f = W_f = search_size / stride``.
        stride: stride of the maps it predicts (the backbone's 16, or finer with ``skip_planes``).
        skip_planes: width of the stem features that ``forward``'s ``skip`` brings; > 0 makes the head
            predict on the ``skip`` grid (``FineFeatures``, ``channels`` wide) instead of the token grid.
        xcorr: the towers also read ``forward``'s ``corr`` (:func:`depthwise_xcorr` of the stem
            features with the template's), on the ``skip`` grid.
    """

    def __init__(self, in_planes: int, channels: int = 256, feat_size: int = 16, stride: int = 16,
                 skip_planes: int = 0, skip_scale: int = 1, xcorr: bool = False) -> None:
        super().__init__()
        if channels % 8:
            raise ValueError(f"CenterPredictor: channels must be divisible by 8, got {channels}")
        self.feat_size = feat_size
        self.stride = stride
        if xcorr and not skip_planes:
            raise ValueError("CenterPredictor: xcorr correlates the stem features: it needs skip_planes")
        self.fine = FineFeatures(in_planes, skip_planes, channels, skip_scale, xcorr) if skip_planes else None
        if self.fine is not None:
            in_planes = channels
        self.score_tower = _tower(in_planes, channels, 1)
        self.offset_tower = _tower(in_planes, channels, 2)
        self.size_tower = _tower(in_planes, channels, 2)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # CenterNet's prior (Zhou et al. 2019, after RetinaNet): every cell starts at a score of about
        # 0.1, not 0.5, so the focal loss of the background does not swamp the first steps. From
        # scratch on the CPU default: validation pair IoU 0.443 -> 0.533 after 600 steps
        # (docs/results/benchmarks_history_2026-12-03).
        nn.init.constant_(self.score_tower[-1].bias, SCORE_PRIOR_BIAS)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, corr: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` ``[B, C, h, w]`` (token grid), ``skip`` (with ``skip_planes``) the stem features on the
        ``H_f x W_f`` grid -> ``score_map [B,1,H_f,W_f]``, ``size_map [B,2,H_f,W_f]``,
        ``offset_map [B,2,H_f,W_f]`` and ``boxes [B, 4]`` (cxcywh normalised to the search crop)."""
        if self.fine is not None:
            if skip is None:
                raise ValueError("this head predicts on the stem's finer grid: forward needs `skip`")
            x = self.fine(x, skip, corr)
        # clamped like OSTrack's _sigmoid so the focal loss never takes log(0)
        score_map = torch.sigmoid(self.score_tower(x)).clamp(1e-4, 1 - 1e-4)
        size_map = torch.sigmoid(self.size_tower(x))
        offset_map = self.offset_tower(x)
        return score_map, size_map, offset_map, self.decode(score_map, size_map, offset_map)

    @staticmethod
    def decode(score_map: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor,
               index: torch.Tensor | None = None) -> torch.Tensor:
        """Box at the score peak (or at the flat cell ``index [B]``): ``[B, 4]`` cxcywh normalised to the
        search crop.

        ``cx = (col + offset_x) / W_f``, ``cy = (row + offset_y) / H_f``, ``w, h = size_map`` there.
        """
        B, _, H, W = score_map.shape
        idx = score_map.flatten(1).argmax(dim=1) if index is None else index  # [B]
        row = torch.div(idx, W, rounding_mode="floor")
        col = idx % W
        gather = idx.view(B, 1, 1).expand(-1, 2, 1)
        size = size_map.flatten(2).gather(2, gather).squeeze(-1)  # [B, 2]
        offset = offset_map.flatten(2).gather(2, gather).squeeze(-1)  # [B, 2]
        cx = (col.to(offset.dtype) + offset[:, 0]) / W
        cy = (row.to(offset.dtype) + offset[:, 1]) / H
        return torch.stack([cx, cy, size[:, 0], size[:, 1]], dim=1)
