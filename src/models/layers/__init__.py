"""Network layers: attention, candidate elimination (CEBlock, TSF), fusion blocks, center head."""

from src.models.layers.attention import Attention
from src.models.layers.candidate_elimination import (
    TEMPLATE_MASK_MODES,
    CEBlock,
    candidate_elimination,
    recover_tokens,
    template_center_index,
    template_mask_from_box,
)
from src.models.layers.fusion import (
    CEBStage,
    CMCBlock,
    CMCBlock1,
    CustomCrossModalAttention,
    GateLayer,
    LearnedPositionTable,
    ModalSpecificLayer,
)
from src.models.layers.head import CenterPredictor

__all__ = [
    "TEMPLATE_MASK_MODES", "Attention", "CEBStage", "CEBlock", "CMCBlock", "CMCBlock1", "CenterPredictor",
    "CustomCrossModalAttention", "GateLayer", "LearnedPositionTable", "ModalSpecificLayer",
    "candidate_elimination", "recover_tokens", "template_center_index",
    "template_mask_from_box",
]
