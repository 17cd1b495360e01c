"""The tracker network: one-stream ViT with CE/TSF, cross-modal fusion recipe, center head."""

from src.models.network import TrackerNet, build_network

__all__ = ["TrackerNet", "build_network"]
