"""Cross-modal fusion blocks from the seed's design notes.

All blocks take token sequences ``[B, N, C]`` with the batch first and attend across the
``N`` tokens of one sample only. ``visible`` is the stream that carries on (the output is
``LayerNorm(visible + ...)``); ``infrared`` supplies the queries that compensate it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn

from src.models.layers.candidate_elimination import CEBlock


def _check_aligned(owner: str, what: str = "token sequences", **streams: torch.Tensor) -> None:
    """ValueError naming ``owner`` unless the two streams (``visible=...``, ``infrared=...``) have one
    shape: the fusion blocks pair them token for token."""
    (name_a, a), (name_b, b) = streams.items()
    if a.shape != b.shape:
        raise ValueError(f"{owner}: {name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} {what} differ "
                         "in shape")


def _feed_forward(dim: int) -> Mlp:
    """``Linear(C, 4C) -> GELU -> Linear(4C, C)`` (tensors ``fc1.*``, ``fc2.*``; older checkpoints'
    ``0.*`` / ``2.*`` are renamed on reading, src/models/pretrained.py)."""
    return Mlp(dim, hidden_features=dim * 4, act_layer=nn.GELU)


class CMCBlock(nn.Module):
    """Cross-modal compensation: infrared tokens (query) attend to visible tokens (key/value).

    The name (CMC: cross-modal compensation) is the seed paper's.

    ``out = LayerNorm(visible + FFN(MHA(q=W_q infrared, k=v=W_kv visible)))``. The seed builds
    ``nn.MultiheadAttention`` without ``batch_first=True`` and feeds it ``[B, N, C]``, which
    attends across the batch; here the attention runs across tokens, as intended.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(dim, dim)
        self.key_value_proj = nn.Linear(dim, dim)
        self.cmc_attn = nn.MultiheadAttention(embed_dim=dim, num_heads=num_heads, batch_first=True)
        self.feed_forward = _feed_forward(dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, visible: torch.Tensor, infrared: torch.Tensor, return_attn: bool = False):
        """``visible``, ``infrared`` ``[B, N, C]`` -> ``[B, N, C]`` (+ mean weights ``[B, N, N]``)."""
        query = self.query_proj(infrared)
        key_value = self.key_value_proj(visible)
        attn_out, attn = self.cmc_attn(query, key_value, key_value, need_weights=return_attn)
        out = self.norm(visible + self.feed_forward(attn_out))
        return (out, attn) if return_attn else out


class GateLayer(nn.Module):
    """Position-wise gate: ``g = sigmoid(W [x; y])``, output ``g * x + (1 - g) * y``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim * 2, dim), nn.Sigmoid())

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``, ``y`` ``[B, N, C]`` -> ``[B, N, C]``."""
        g = self.gate(torch.cat([x, y], dim=-1))
        return x * g + y * (1 - g)


class ModalSpecificLayer(nn.Module):
    """Modality-specific projection: ``LayerNorm(Linear(x))``, ``[B, N, C]`` -> ``[B, N, C]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))


class LearnedPositionTable(nn.Module):
    """A learned vector per absolute sequence position, ``[max_len, C]``; ``forward(N)`` gives the first
    N. The seed names it a relative position encoding (``relative_pos_encoding``, the attribute that holds
    it, kept for the checkpoint keys); it is a table of absolute positions."""

    def __init__(self, dim: int, max_len: int = 500) -> None:
        super().__init__()
        self.max_len = max_len
        # the seed initialises with a standard normal; kept as designed
        self.pos_embedding = nn.Parameter(torch.randn(max_len, dim))

    def forward(self, length: int) -> torch.Tensor:
        if length > self.max_len:
            raise ValueError(
                f"LearnedPositionTable: sequence length {length} exceeds max_len {self.max_len}; "
                f"raise model.net.fusion.max_len to at least {length}")
        return self.pos_embedding[:length]


class CustomCrossModalAttention(nn.Module):
    """The seed's cross-modal attention with a learned per-position score term and gated output.

    ``scores = (Q K^T) / sqrt(d) + Q P^T`` with ``Q = LN(W_q infrared)``, ``K = LN(W_k visible)``,
    ``V = LN(W_v visible)`` (per head) and ``P`` the learned position vectors of the first ``N``
    positions; then attention dropout, output projection, ``GateLayer(visible, out)`` and
    LayerNorm. The ``Q P^T`` term depends on where a token sits in the sequence, so this block
    reads token order.
    """

    def __init__(self, dim: int, num_heads: int, max_len: int = 500, attn_drop: float = 0.1) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"CustomCrossModalAttention: dim {dim} is not divisible by "
                             f"num_heads {num_heads}")
        self.num_heads = num_heads
        self.dim = dim
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.query_proj = ModalSpecificLayer(dim)
        self.key_proj = ModalSpecificLayer(dim)
        self.value_proj = ModalSpecificLayer(dim)
        # the seed's attribute name, kept: it names the tensor in checkpoints
        self.relative_pos_encoding = LearnedPositionTable(dim, max_len=max_len)
        self.attn_dropout = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.gate_layer = GateLayer(dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # [B, h, N, d]

    def forward(self, visible: torch.Tensor, infrared: torch.Tensor, return_attn: bool = False):
        """``visible``, ``infrared`` ``[B, N, C]`` -> ``[B, N, C]`` (and weights ``[B, heads, N, N]``)."""
        _check_aligned("CustomCrossModalAttention", visible=visible, infrared=infrared)
        B, N, C = visible.shape
        q = self._heads(self.query_proj(infrared))
        k = self._heads(self.key_proj(visible))
        v = self._heads(self.value_proj(visible))
        pos = self._heads(self.relative_pos_encoding(N).unsqueeze(0))  # [1, h, N, d]
        scores = (q @ k.transpose(-2, -1)) * self.scale + q @ pos.transpose(-2, -1)
        attn = F.softmax(scores, dim=-1)
        out = (self.attn_dropout(attn) @ v).transpose(1, 2).reshape(B, N, C)
        out = self.norm(self.gate_layer(visible, self.proj(out)))
        return (out, attn) if return_attn else out


class CMCBlock1(nn.Module):
    """CMC with the custom attention: ``LayerNorm(visible + FFN(CustomCrossModalAttention(v, ir)))``.

    The name is the seed paper's."""

    def __init__(self, dim: int, num_heads: int, max_len: int = 500, attn_drop: float = 0.1) -> None:
        super().__init__()
        self.cross_modal_attn = CustomCrossModalAttention(dim, num_heads, max_len=max_len,
                                                          attn_drop=attn_drop)
        self.feed_forward = _feed_forward(dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, visible: torch.Tensor, infrared: torch.Tensor, return_attn: bool = False):
        """``visible``, ``infrared`` ``[B, N, C]`` -> ``[B, N, C]`` (and weights ``[B, heads, N, N]``)."""
        if return_attn:
            attn_out, attn = self.cross_modal_attn(visible, infrared, return_attn=True)
        else:
            attn_out, attn = self.cross_modal_attn(visible, infrared), None
        out = self.norm(visible + self.feed_forward(attn_out))
        return (out, attn) if return_attn else out


class CEBStage(nn.Module):
    """Candidate elimination as a fusion stage: a CEBlock over the fused sequence.

    The infrared sequence is gathered with the same kept positions, so the two sequences
    stay aligned token for token for the stages after it.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 keep_ratio: float = 0.7, sort_kept: bool = True) -> None:
        super().__init__()
        self.block = CEBlock(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                             keep_ratio_search=keep_ratio, sort_kept=sort_kept)

    def forward(self, fused: torch.Tensor, infrared: torch.Tensor, global_index_search: torch.Tensor,
                lens_t: int, template_mask: torch.Tensor | None = None, keep_ratio: float | None = None):
        """Eliminate in the fused stream and mirror the choice in the infrared stream.

        Args:
            fused, infrared: ``[B, L_t + L_s, C]``, aligned position by position.
            global_index_search: ``[B, L_s]`` global positions of the fused search tokens.

        Returns:
            ``fused`` ``[B, L_t + L_k, C]``, ``infrared`` ``[B, L_t + L_k, C]``,
            ``global_index_search`` ``[B, L_k]`` and ``removed_index`` (or None).
        """
        _check_aligned("CEBStage", "sequences", fused=fused, infrared=infrared)
        fused, global_index_search, removed, keep_local = self.block(
            fused, global_index_search, lens_t, template_mask, keep_ratio)
        if keep_local is not None:
            C = infrared.shape[-1]
            kept = infrared[:, lens_t:].gather(1, keep_local.unsqueeze(-1).expand(-1, -1, C))
            infrared = torch.cat([infrared[:, :lens_t], kept], dim=1)
        return fused, infrared, global_index_search, removed
