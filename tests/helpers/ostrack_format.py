"""OSTrack-format checkpoints with random weights, for tests: OSTrack's exact tensor names and shapes.

Names and shapes as botaoye/OSTrack builds them (no weights are downloaded):
- lib/models/ostrack/ostrack.py: the network holds ``backbone`` (the ViT) and ``box_head``; the
  trainer saves ``{'net': state_dict, ...}`` (``OSTrack_ep0300.pth.tar``).
- lib/models/ostrack/vit_ce.py / vit.py: ``cls_token [1,1,C]``, ``pos_embed [1,1+14*14,C]``,
  ``patch_embed.proj`` (16x16 conv), ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
  ``norm``; base_backbone.py ``finetune_track`` adds ``pos_embed_z [1,Gz*Gz,C]`` and
  ``pos_embed_x [1,Gx*Gx,C]``.
- lib/models/layers/head.py ``CenterPredictor``: ``conv{1..4}_{ctr,offset,size}`` are
  Conv2d(3x3) + BatchNorm2d + ReLU in an nn.Sequential (indices 0, 1, 2), widths C -> ch -> ch/2 ->
  ch/4 -> ch/8; ``conv5_*`` a 1x1 Conv2d to 1 (ctr) or 2 (offset, size) channels.
"""

from __future__ import annotations

from pathlib import Path

import torch


def ostrack_state(embed_dim: int = 768, depth: int = 12, channels: int = 256, template_grid: int = 8,
                  search_grid: int = 16, mlp_ratio: float = 4.0, patch: int = 16,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """``{'backbone.*', 'box_head.*'}`` of an OSTrack network (vitb_256_mae_ce by default), random."""
    g = torch.Generator().manual_seed(seed)
    C, H = embed_dim, int(embed_dim * mlp_ratio)

    def rand(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    s = {"backbone.cls_token": rand(1, 1, C), "backbone.pos_embed": rand(1, 1 + 14 * 14, C),
         "backbone.patch_embed.proj.weight": rand(C, 3, patch, patch),
         "backbone.patch_embed.proj.bias": rand(C),
         "backbone.pos_embed_z": rand(1, template_grid ** 2, C),
         "backbone.pos_embed_x": rand(1, search_grid ** 2, C)}
    for i in range(depth):
        b = f"backbone.blocks.{i}."
        s.update({b + "norm1.weight": 1 + rand(C), b + "norm1.bias": rand(C),
                  b + "attn.qkv.weight": rand(3 * C, C), b + "attn.qkv.bias": rand(3 * C),
                  b + "attn.proj.weight": rand(C, C), b + "attn.proj.bias": rand(C),
                  b + "norm2.weight": 1 + rand(C), b + "norm2.bias": rand(C),
                  b + "mlp.fc1.weight": rand(H, C), b + "mlp.fc1.bias": rand(H),
                  b + "mlp.fc2.weight": rand(C, H), b + "mlp.fc2.bias": rand(C)})
    s.update({"backbone.norm.weight": 1 + rand(C), "backbone.norm.bias": rand(C)})
    widths = [C, channels, channels // 2, channels // 4, channels // 8]
    for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
        for n in range(1, 5):
            a, b = widths[n - 1], widths[n]
            k = f"box_head.conv{n}_{branch}."
            s.update({k + "0.weight": rand(b, a, 3, 3), k + "0.bias": rand(b),
                      k + "1.weight": 1 + rand(b), k + "1.bias": rand(b),
                      k + "1.running_mean": rand(b), k + "1.running_var": 1 + rand(b).abs(),
                      k + "1.num_batches_tracked": torch.tensor(1000)})
        s.update({f"box_head.conv5_{branch}.weight": rand(out, widths[-1], 1, 1),
                  f"box_head.conv5_{branch}.bias": rand(out)})
    return s


def save_ostrack_checkpoint(path: Path, **shape) -> Path:
    """``{'net': state, 'epoch': 300}`` as OSTrack's trainer writes it (its pickled settings left out)."""
    torch.save({"net": ostrack_state(**shape), "epoch": 300}, path)
    return path
