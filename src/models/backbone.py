"""One-stream ViT with candidate elimination (OSTrack's ``VisionTransformerCE``), built from timm's pieces.

Template and search images are patch-embedded by one shared ``PatchEmbed`` (stride = patch
size), each gets its own learnable position embedding, and the concatenated sequence
``[template; search]`` runs through ``depth`` CEBlocks; the blocks listed in ``ce_loc``
eliminate search tokens. Both modalities share the backbone: the network stacks
``[visible; infrared]`` on the batch axis and runs one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import ConvNormAct, PatchEmbed, trunc_normal_
from torch import nn

from src.models.layers.candidate_elimination import CEBlock


def to_three_channels(image: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` (thermal) -> ``[B, 3, H, W]`` by repetition; 3-channel input passes through."""
    if image.dim() != 4:
        raise ValueError(f"expected an image batch [B, C, H, W], got shape {tuple(image.shape)}")
    if image.shape[1] == 3:
        return image
    if image.shape[1] == 1:
        return image.expand(-1, 3, -1, -1)
    raise ValueError(f"expected 1 or 3 image channels, got {image.shape[1]} (shape {tuple(image.shape)})")


class ConvStem(nn.Module):
    """Convolutional patch embedding (Xiao et al., NeurIPS 2021, "Early convolutions help
    transformers see better"): ``log2(patch_size)`` 3x3 stride-2 conv-BN-ReLU layers of widths
    ``channels``, then a 1x1 projection to ``embed_dim``. Same output as ``PatchEmbed``
    (``[B, (H/p) * (W/p), embed_dim]``), but a from-scratch network trains far faster with it."""

    def __init__(self, patch_size: int, embed_dim: int, channels: Sequence[int], in_chans: int = 3) -> None:
        super().__init__()
        layers = patch_size.bit_length() - 1
        if 1 << layers != patch_size:
            raise ValueError(f"a conv stem needs a power-of-two patch_size, got {patch_size}")
        channels = list(channels)
        if len(channels) != layers:
            raise ValueError(f"stem_channels {channels}: one width per stride-2 layer, i.e. {layers} "
                             f"for patch_size {patch_size}")
        widths = [in_chans, *channels]
        self.convs = nn.Sequential(*(ConvNormAct(a, b, kernel_size=3, stride=2, padding=1)
                                     for a, b in zip(widths[:-1], widths[1:])))
        self.proj = nn.Conv2d(widths[-1], embed_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(x)).flatten(2).transpose(1, 2)

    def forward_with_skip(self, x: torch.Tensor, skip_stride: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 3, H, W]`` -> tokens ``[B, (H/p) * (W/p), embed_dim]`` and the feature map after the
        stride-``skip_stride`` layer, ``[B, channels_at(skip_stride), H/s, W/s]``."""
        skip = None
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if 2 << i == skip_stride:
                skip = x
        if skip is None:
            raise ValueError(f"the conv stem has no stride-{skip_stride} layer")
        return self.proj(x).flatten(2).transpose(1, 2), skip

    def channels_at(self, stride: int) -> int:
        """Width of the feature map at ``stride`` (a power of two below the patch size)."""
        layer = stride.bit_length() - 2
        if 1 << (layer + 1) != stride or not 0 <= layer < len(self.convs) - 1:
            raise ValueError(f"the conv stem has stride-2 layers up to {1 << len(self.convs)}: "
                             f"no stride-{stride} feature map below the patch size")
        return self.convs[layer].conv.out_channels


STEMS = ("patch", "conv")


class VisionTransformerCE(nn.Module):
    """ViT backbone with candidate elimination.

    Args:
        template_size, search_size: square input sides in pixels (multiples of ``patch_size``).
        patch_size: patch side and stride (16).
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: ViT shape (ViT-B/16: 768, 12, 12, 4, True).
        drop_rate, attn_drop_rate, drop_path_rate: regularisation; drop path grows linearly with depth.
        ce_loc: zero-based indices of the blocks that eliminate (OSTrack ViT-B: 3, 6, 9).
        ce_keep_ratio: keep ratio per entry of ``ce_loc``.
        sort_kept: the token spatial filter (TSF) in every CE block.
        stem: ``patch`` (ViT's linear patch embedding, what pretrained ViTs have) or ``conv``
            (``ConvStem`` with widths ``stem_channels``).
        skip_stride: with the conv stem, also return the search image's stem features at this stride
            (``search_skip``), for a head finer than the patch grid (``model.net.head.stride``).
    """

    def __init__(self, template_size: int, search_size: int, patch_size: int = 16, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 ce_loc: Sequence[int] = (), ce_keep_ratio: Sequence[float] = (),
                 sort_kept: bool = True, stem: str = "patch", stem_channels: Sequence[int] = (),
                 skip_stride: int | None = None) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        for name, size in (("template_size", template_size), ("search_size", search_size)):
            if size % patch_size:
                raise ValueError(f"{name} {size} is not a multiple of patch_size {patch_size}")
        ce_loc, ce_keep_ratio = list(ce_loc), list(ce_keep_ratio)
        if len(ce_loc) != len(ce_keep_ratio):
            raise ValueError(f"ce_loc {ce_loc} and ce_keep_ratio {ce_keep_ratio} differ in length")
        if any(not 0 <= i < depth for i in ce_loc) or len(set(ce_loc)) != len(ce_loc):
            raise ValueError(f"ce_loc {ce_loc} must hold distinct block indices in [0, {depth})")
        self.template_size, self.search_size, self.patch_size = template_size, search_size, patch_size
        self.grid_z, self.grid_x = template_size // patch_size, search_size // patch_size
        self.num_template, self.num_search = self.grid_z ** 2, self.grid_x ** 2
        self.embed_dim = embed_dim
        self.ce_loc = ce_loc

        # img_size=None: the one embedding serves both input sizes
        if stem == "patch":
            self.patch_embed = PatchEmbed(img_size=None, patch_size=patch_size, in_chans=3,
                                          embed_dim=embed_dim, strict_img_size=False)
        else:
            self.patch_embed = ConvStem(patch_size, embed_dim, stem_channels)
        self.skip_stride = skip_stride
        self.template_skip = False  # the template's stem features too (the head's correlation path)
        self.skip_channels = 0
        if skip_stride is not None:
            if stem != "conv":
                raise ValueError(f"a head at stride {skip_stride} reads the conv stem's features: it needs "
                                 f"stem=conv, got stem={stem!r}")
            self.skip_channels = self.patch_embed.channels_at(skip_stride)
        self.pos_embed_z = nn.Parameter(torch.zeros(1, self.num_template, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, self.num_search, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        ratios = dict(zip(ce_loc, ce_keep_ratio))
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()  # stochastic depth decay rule
        self.blocks = nn.ModuleList(
            CEBlock(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                    attn_drop=attn_drop_rate, drop_path=dpr[i], keep_ratio_search=ratios.get(i, 1.0),
                    sort_kept=sort_kept)
            for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.init_weights()

    def init_weights(self) -> None:
        """timm's ViT init: truncated-normal (std 0.02) position embeddings and Linear weights."""
        trunc_normal_(self.pos_embed_z, std=0.02)
        trunc_normal_(self.pos_embed_x, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def sort_kept(self) -> bool:
        return all(b.sort_kept for b in self.blocks)

    @sort_kept.setter
    def sort_kept(self, value: bool) -> None:
        for b in self.blocks:
            b.sort_kept = bool(value)

    def forward(self, template: torch.Tensor, search: torch.Tensor, template_mask: torch.Tensor | None = None,
                keep_ratio: float | None = None) -> dict:
        """Run the backbone.

        Args:
            template: ``[B, 1|3, H_z, W_z]``; search: ``[B, 1|3, H_x, W_x]`` (sizes as configured).
            template_mask: ``[B, L_t]`` bool template tokens for CE ranking (None: all).
            keep_ratio: overrides every CE block's keep ratio (1 disables CE).

        Returns:
            dict with ``template`` ``[B, L_t, C]``, ``search`` ``[B, L_k, C]`` (kept tokens, after
            the final norm), ``global_index`` ``[B, L_k]`` (their grid positions), ``keep_index``
            and ``removed_index`` (lists, one ``[B, *]`` tensor per CE block; removed is None
            where nothing was removed), ``search_skip`` (the stem features at ``skip_stride``, or None),
            ``template_skip`` (the template's, with ``template_skip`` set; else None).
        """
        template, search = to_three_channels(template), to_three_channels(search)
        checks = (("template", template, self.template_size), ("search", search, self.search_size))
        for name, img, size in checks:
            if img.shape[-2:] != (size, size):
                raise ValueError(f"{name} images must be {size}x{size} (model.net.{name}_size), "
                                 f"got {tuple(img.shape[-2:])}")
        B = search.shape[0]
        if self.skip_stride is not None and self.template_skip:
            z, template_skip = self.patch_embed.forward_with_skip(template, self.skip_stride)
        else:
            z, template_skip = self.patch_embed(template), None
        z = z + self.pos_embed_z
        if self.skip_stride is None:
            x, search_skip = self.patch_embed(search), None
        else:
            x, search_skip = self.patch_embed.forward_with_skip(search, self.skip_stride)
        x = x + self.pos_embed_x
        tokens = self.pos_drop(torch.cat([z, x], dim=1))
        lens_t = self.num_template
        global_index = torch.arange(self.num_search, device=search.device).unsqueeze(0).expand(B, -1)
        keep_index, removed_index = [], []
        for i, block in enumerate(self.blocks):
            tokens, global_index, removed, _ = block(tokens, global_index, lens_t, template_mask, keep_ratio)
            if i in self.ce_loc:
                keep_index.append(global_index)
                removed_index.append(removed)
        tokens = self.norm(tokens)
        return {"template": tokens[:, :lens_t], "search": tokens[:, lens_t:], "global_index": global_index,
                "keep_index": keep_index, "removed_index": removed_index, "search_skip": search_skip,
                "template_skip": template_skip}
