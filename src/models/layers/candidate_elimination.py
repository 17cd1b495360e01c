"""Candidate elimination (CE), the token spatial filter (TSF) and token recovery.

CE follows OSTrack (Ye et al., ECCV 2022, ``lib/models/layers/attn_blocks.py``): after a
block's attention, search tokens are ranked by the attention the template pays them
(averaged over heads and over a template mask) and only the top ``ceil(rho * L_s)`` are
kept. The seed's token spatial filter re-sorts the kept indices ascending, so the kept
tokens stay in raster (spatial) order instead of attention order; ``sort_kept`` switches it.
"""

from __future__ import annotations

import math

import torch
from timm.layers import DropPath, Mlp
from torch import nn
from torchvision.ops import box_convert

from src.models.layers.attention import Attention

TEMPLATE_MASK_MODES = ("box", "center", "all")


def template_center_index(grid: int) -> int:
    """Row (= column) of the template grid's centre token: ``(G_z - 1) // 2``.

    OSTrack's ``CTR_POINT`` (botaoye/OSTrack lib/utils/ce_utils.py, ``generate_mask_cond``) lists it
    per template grid: 3 for 7x7 and 8x8, 5 for 12x12, 6 for 14x14; this rule gives each of those
    (and 1 for the CPU default's 4x4 grid). Template crops are centred on the target by construction.
    """
    return (grid - 1) // 2


def template_mask_from_box(template_box: torch.Tensor | None, grid: int, mode: str,
                           batch: int | None = None,
                           device: torch.device | None = None) -> torch.Tensor | None:
    """Template tokens whose attention ranks the search tokens.

    Args:
        template_box: ``[B, 4]`` cxcywh normalised to the template crop, or None.
        grid: template patch grid side ``G_z`` (template size / patch size).
        mode: ``all`` (no mask: every template token), ``center`` (the grid's centre token,
            :func:`template_center_index`, whatever the box: OSTrack's ``CTR_POINT``) or ``box``
            (patches whose centre lies in the box; OSTrack's ``GT_BOX``; the patch holding the box
            centre when the box covers no patch centre).
        batch, device: needed when ``template_box`` is None.

    Returns:
        ``[B, G_z * G_z]`` bool, or None for ``all``. Without a box, ``box`` uses the centre token too.
    """
    if mode not in TEMPLATE_MASK_MODES:
        raise ValueError(f"ce_template_mask must be one of {TEMPLATE_MASK_MODES}, got {mode!r}")
    if mode == "all":
        return None
    if template_box is None or mode == "center":
        if template_box is None and batch is None:
            raise ValueError("template_mask_from_box: give `batch` when template_box is None")
        n = batch if template_box is None else template_box.shape[0]
        where = device if template_box is None else template_box.device
        mask = torch.zeros(n, grid, grid, dtype=torch.bool, device=where)
        c = template_center_index(grid)
        mask[:, c, c] = True
        return mask.flatten(1)
    box = template_box.detach().float()
    cx, cy = box[:, 0], box[:, 1]
    x1, y1, x2, y2 = box_convert(box, "cxcywh", "xyxy").unbind(-1)
    # the patch holding the box centre, clamped onto the grid; a centre exactly on a patch border
    # goes to the lower patch, so a centred box picks the centre token
    col = ((cx * grid).ceil().long() - 1).clamp(0, grid - 1)
    row = ((cy * grid).ceil().long() - 1).clamp(0, grid - 1)
    center = torch.zeros(box.shape[0], grid, grid, dtype=torch.bool, device=box.device)
    center[torch.arange(box.shape[0], device=box.device), row, col] = True
    centres = (torch.arange(grid, device=box.device, dtype=box.dtype) + 0.5) / grid  # patch centres
    inside_x = (centres[None] >= x1[:, None]) & (centres[None] <= x2[:, None])
    inside_y = (centres[None] >= y1[:, None]) & (centres[None] <= y2[:, None])
    mask = inside_y[:, :, None] & inside_x[:, None, :]  # [B, G_z(rows), G_z(cols)]
    mask = mask | center  # never empty
    return mask.flatten(1)


def candidate_elimination(attn: torch.Tensor, tokens: torch.Tensor, lens_t: int, keep_ratio: float,
                          global_index: torch.Tensor, template_mask: torch.Tensor | None = None,
                          sort_kept: bool = True):
    """Keep the search tokens the template attends to most.

    Args:
        attn: ``[B, heads, L_t + L_s, L_t + L_s]`` softmax attention weights.
        tokens: ``[B, L_t + L_s, C]`` template then search tokens.
        lens_t: number of template tokens ``L_t`` (never eliminated).
        keep_ratio: fraction ``rho`` of search tokens to keep; ``ceil(rho * L_s)`` survive.
        global_index: ``[B, L_s]`` global (full-grid) index of each current search token.
        template_mask: ``[B, L_t]`` bool, the template tokens whose attention is averaged;
            None averages over all template tokens.
        sort_kept: the token spatial filter: re-sort the kept tokens ascending by position so
            they stay in spatial order (off: descending attention order, as in OSTrack).

    Returns:
        ``tokens`` ``[B, L_t + L_k, C]``, ``keep_index`` ``[B, L_k]`` (global), ``removed_index``
        ``[B, L_s - L_k]`` (global) or None when nothing is removed, and ``keep_local``
        ``[B, L_k]`` (positions within the current search tokens, to gather companion
        sequences with the same choice) or None.
    """
    lens_s = attn.shape[-1] - lens_t
    lens_keep = math.ceil(keep_ratio * lens_s)
    if lens_keep >= lens_s:
        return tokens, global_index, None, None
    attn_ts = attn[:, :, :lens_t, lens_t:].mean(dim=1)  # [B, L_t, L_s], mean over heads
    if template_mask is None:
        score = attn_ts.mean(dim=1)  # [B, L_s]
    else:
        # a weighted mean handles masks with a different number of tokens per sample
        # (box mode), where the seed's boolean indexing + view needs equal counts
        weight = template_mask.to(attn_ts.dtype)
        weight = weight / weight.sum(dim=1, keepdim=True).clamp_min(1.0)
        score = torch.einsum("bt,bts->bs", weight, attn_ts)
    order = torch.sort(score, dim=1, descending=True, stable=True).indices
    keep_local, removed_local = order[:, :lens_keep], order[:, lens_keep:]
    if sort_kept:
        keep_local = torch.sort(keep_local, dim=1).values  # TSF
    keep_index = global_index.gather(1, keep_local)
    removed_index = global_index.gather(1, removed_local)
    C = tokens.shape[-1]
    search = tokens[:, lens_t:].gather(1, keep_local.unsqueeze(-1).expand(-1, -1, C))
    return torch.cat([tokens[:, :lens_t], search], dim=1), keep_index, removed_index, keep_local


def recover_tokens(search_tokens: torch.Tensor, global_index: torch.Tensor, length: int) -> torch.Tensor:
    """Scatter kept search tokens back to their grid positions; removed ones become zeros.

    Args:
        search_tokens: ``[B, L_k, C]`` kept search tokens.
        global_index: ``[B, L_k]`` their global positions (any order).
        length: the full search grid length ``L_s``.

    Returns:
        ``[B, L_s, C]`` with ``out[b, global_index[b, i]] = search_tokens[b, i]``.
    """
    B, L_k, C = search_tokens.shape
    # nothing removed: every slot is overwritten (the order may still be permuted, TSF off)
    out = torch.empty_like(search_tokens) if L_k == length else search_tokens.new_zeros(B, length, C)
    return out.scatter(1, global_index.long().unsqueeze(-1).expand(-1, -1, C), search_tokens)


class CEBlock(nn.Module):
    """Pre-norm ViT block with candidate elimination between attention and MLP.

    The name is the seed paper's (and OSTrack's, ``lib/models/layers/attn_blocks.py``).

    ``keep_ratio_search == 1`` makes it a plain ViT block (and lets attention use the fused
    kernel). Parameter names match timm's ``Block`` (``norm1``, ``attn``, ``norm2``, ``mlp``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0,
                 keep_ratio_search: float = 1.0, sort_kept: bool = True) -> None:
        super().__init__()
        if not 0.0 < keep_ratio_search <= 1.0:
            raise ValueError(f"CEBlock: keep_ratio_search must be in (0, 1], got {keep_ratio_search}")
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                              proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)
        self.keep_ratio_search = float(keep_ratio_search)
        self.sort_kept = sort_kept

    def effective_keep_ratio(self, override: float | None) -> float:
        """OSTrack's rule: only CE blocks eliminate; an override replaces their ratio (1 disables)."""
        if self.keep_ratio_search >= 1.0:
            return 1.0
        return self.keep_ratio_search if override is None else float(override)

    def forward(self, x: torch.Tensor, global_index_search: torch.Tensor, lens_t: int,
                template_mask: torch.Tensor | None = None, keep_ratio: float | None = None):
        """One block.

        Args:
            x: ``[B, L_t + L_s, C]`` template then search tokens.
            global_index_search: ``[B, L_s]`` global positions of the search tokens.
            lens_t: ``L_t``.
            template_mask: ``[B, L_t]`` bool or None (see ``candidate_elimination``).
            keep_ratio: run-time override of this block's keep ratio (ignored by non-CE blocks).

        Returns:
            ``x`` ``[B, L_t + L_k, C]``, ``global_index_search`` ``[B, L_k]``, ``removed_index``
            (``[B, L_s - L_k]`` or None) and ``keep_local`` (``[B, L_k]`` or None).
        """
        rho = self.effective_keep_ratio(keep_ratio)
        eliminate = rho < 1.0
        if eliminate:
            x_attn, attn = self.attn(self.norm1(x), return_attention=True)
        else:
            x_attn, attn = self.attn(self.norm1(x)), None
        x = x + self.drop_path(x_attn)
        removed_index = keep_local = None
        if eliminate:
            x, global_index_search, removed_index, keep_local = candidate_elimination(
                attn, x, lens_t, rho, global_index_search, template_mask, self.sort_kept)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, global_index_search, removed_index, keep_local
