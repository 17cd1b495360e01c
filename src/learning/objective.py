"""OSTrack's training objective: focal loss on the Gaussian heatmap, GIoU and L1 on the decoded box.

Reference: botaoye/OSTrack ``lib/train/actors/ostrack.py`` (weights focal 1, GIoU 2, L1 5) and
``lib/utils/focal_loss.py`` (CenterNet's penalty-reduced focal loss, alpha 2, beta 4).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou, generalized_box_iou_loss

from src.models.layers.head import CenterPredictor
from src.utils.boxes import cxcywh_to_xyxy


def heatmap_focal_loss(pred: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0,
                       eps: float = 1e-12) -> Tensor:
    """CenterNet's focal loss between a predicted score map and a Gaussian target.

    Args:
        pred: ``[B, 1, H, W]`` or ``[B, H, W]`` probabilities (the head's sigmoid output).
        target: ``[B, H, W]`` (or ``[B, 1, H, W]``) Gaussian, 1 at the target centre.
    Returns:
        scalar: summed loss divided by the number of positive cells.

    A cell is positive where the target reaches its per-sample peak (1 for OSTrack's integer-centred
    Gaussian; a sub-cell-centred Gaussian peaks a little below 1, so "equal to 1" would find none).
    """
    pred = pred.reshape(target.shape[0], -1).float()
    target = target.reshape(target.shape[0], -1).float()
    peak = target.amax(dim=1, keepdim=True)
    pos = (target >= peak) & (peak > 0)
    neg = ~pos
    pred = pred.clamp(eps, 1.0 - eps)
    pos_loss = (torch.log(pred) * (1 - pred).pow(alpha))[pos].sum()
    neg_loss = (torch.log(1 - pred) * pred.pow(alpha) * (1 - target).pow(beta))[neg].sum()
    num_pos = pos.sum().clamp(min=1)
    return -(pos_loss + neg_loss) / num_pos


def _corners(pred_cxcywh: Tensor, target_cxcywh: Tensor) -> tuple[Tensor, Tensor]:
    """``xyxy`` corners of predicted and target boxes as the losses and IoU read them: the target
    clamped to the crop (OSTrack), a degenerate prediction (x2 < x1) widened to zero size."""
    pred = cxcywh_to_xyxy(pred_cxcywh.float())
    target = cxcywh_to_xyxy(target_cxcywh.float()).clamp(0.0, 1.0)
    if not torch.isfinite(pred).all():
        raise FloatingPointError("network predicted a non-finite box (diverged training?)")
    # a degenerate prediction would make torchvision's GIoU meaningless
    pred = torch.cat([pred[:, :2], torch.maximum(pred[:, 2:], pred[:, :2])], dim=1)
    return pred, target


@torch.no_grad()
def box_ious(pred_cxcywh: Tensor, target_cxcywh: Tensor) -> Tensor:
    """``[B]`` IoU of each predicted box with its target (cxcywh normalised to the search crop)."""
    return box_iou(*_corners(pred_cxcywh, target_cxcywh)).diagonal()


def box_losses(pred_cxcywh: Tensor, target_cxcywh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """GIoU loss, L1 loss and IoU of predicted vs target boxes.

    Args:
        pred_cxcywh: ``[B, 4]`` boxes, cxcywh normalised to the search crop.
        target_cxcywh: ``[B, 4]`` same format.
    Returns:
        ``(giou_loss, l1_loss, iou)``: two scalars (batch means) and ``[B]`` IoU (no gradient needed).
        As in OSTrack, both are computed on ``xyxy`` corners with the target clamped to the crop.
    """
    pred, target = _corners(pred_cxcywh, target_cxcywh)
    giou = generalized_box_iou_loss(pred, target, reduction="mean")
    l1 = torch.nn.functional.l1_loss(pred, target)
    with torch.no_grad():
        iou = box_iou(pred, target).diagonal()
    return giou, l1, iou


BOX_AT = ("peak", "target", "near")


def cells_near(cell: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """The flat indices of ``cell`` ``[B]`` and its 8 neighbours, ``[B, 9]``, and which of them lie on
    the ``height x width`` map (``[B, 9]`` bool; off-map entries point at ``cell`` itself)."""
    row, col = torch.div(cell, width, rounding_mode="floor"), cell % width
    dy, dx = torch.meshgrid(torch.arange(-1, 2, device=cell.device), torch.arange(-1, 2, device=cell.device),
                            indexing="ij")
    rows, cols = row[:, None] + dy.flatten(), col[:, None] + dx.flatten()
    valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    index = torch.where(valid, rows * width + cols, cell[:, None])
    return index, valid


class TrackingObjective(torch.nn.Module):
    """``focal_weight * focal + giou_weight * giou + l1_weight * l1`` (OSTrack: 1, 2, 5).

    ``box_at`` says where the box that GIoU and L1 score is read from the size and offset maps:
    - ``peak``: at the predicted score peak, as OSTrack does (``pred_boxes``);
    - ``target``: at the target's heatmap cell, as CenterNet does. The size head then learns sizes
      independently of where the score head looks; with ``peak``, a network that cannot yet localise
      learns to hedge with oversized boxes, which compound frame after frame when it tracks.
    - ``near``: at the target's cell and its 8 neighbours (those on the map), each decoding the whole
      target box (FCOS's centre sampling). On a coarse map (8x8 at the CPU default, the target 2x2
      cells) the score peak often lands one cell off the labelled cell; trained there too, the box
      read at such a peak is still the target's.
    The logged ``iou`` is always that of ``pred_boxes`` (the box tracking uses). ``center_cell`` is the
    label convention of the batches' heatmaps (``src.data.processing.heatmap``), recorded here because
    it belongs to the objective; the data pipeline applies it.
    """

    def __init__(self, focal_weight: float = 1.0, giou_weight: float = 2.0, l1_weight: float = 5.0,
                 box_at: str = "peak", center_cell: str = "round"):
        super().__init__()
        from src.data.processing import CENTER_CELLS

        if center_cell not in CENTER_CELLS:
            raise ValueError(f"loss.center_cell must be one of {CENTER_CELLS}, got {center_cell!r}")
        self.center_cell = center_cell  # the batches' heatmaps are drawn with it (the data pipeline)
        if box_at not in BOX_AT:
            raise ValueError(f"loss.box_at must be one of {BOX_AT}, got {box_at!r}")
        self.focal_weight = focal_weight
        self.giou_weight = giou_weight
        self.l1_weight = l1_weight
        self.box_at = box_at

    def forward(self, out: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Args: ``out`` from ``TrackerNet.forward`` (``score_map [B,1,H,W]``, ``size_map``/``offset_map``
        ``[B,2,H,W]``, ``pred_boxes [B,4]``); ``batch`` with ``heatmap [B,H,W]`` and ``search_box [B,4]``.
        Returns the loss and its parts."""
        focal = heatmap_focal_loss(out["score_map"], batch["heatmap"])
        boxes, targets = out["pred_boxes"], batch["search_box"]
        if self.box_at != "peak":
            cell = batch["heatmap"].flatten(1).argmax(dim=1)
            maps = (out["score_map"], out["size_map"], out["offset_map"])
        if self.box_at == "target":
            boxes = CenterPredictor.decode(*maps, index=cell)
        elif self.box_at == "near":
            index, valid = cells_near(cell, *out["score_map"].shape[-2:])
            B, K = index.shape
            boxes = torch.stack([CenterPredictor.decode(*maps, index=index[:, k]) for k in range(K)], dim=1)
            boxes = boxes[valid]  # [N, 4], every on-map cell around each target
            targets = targets[:, None].expand(B, K, 4)[valid]
        giou, l1, iou = box_losses(boxes, targets)
        if self.box_at != "peak":  # the tracked box is the peak's
            iou = box_ious(out["pred_boxes"], batch["search_box"])
        loss = self.focal_weight * focal + self.giou_weight * giou + self.l1_weight * l1
        return loss, {"loss": loss, "focal": focal, "giou": giou, "l1": l1, "iou": iou.mean()}
