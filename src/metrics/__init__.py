"""Tracking metrics: vectorized protocols (functional, protocols), torchmetrics classes, plots.

``evaluate_results`` scores a tracker's results on a benchmark as its toolkit does; the
torchmetrics classes (``src.metrics.tracking_metrics``) accumulate the same figures sequence by
sequence, DDP-safe; ``src.metrics.plots`` draws precision/success plots and attribute radars.
The torchmetrics classes are imported on first use: importing torchmetrics takes seconds, and
score-only evaluation does not need it.
"""

from __future__ import annotations

import importlib

from src.metrics.protocols import PROTOCOLS, Protocol, evaluate_results, get_protocol

_METRIC_CLASSES = (
    "AverageOverlap",
    "AveragePixelError",
    "BenchmarkMetrics",
    "MaximumPrecisionRate",
    "MaximumSuccessRate",
    "NormalizedPrecisionCurve",
    "NormalizedPrecisionRate",
    "PrecisionCurve",
    "PrecisionRate",
    "Robustness",
    "SuccessCurve",
    "SuccessRate",
    "SuccessScore",
)
# The benchmarks' short names.
_ALIASES = {"MPR": "MaximumPrecisionRate", "MSR": "MaximumSuccessRate", "NPR": "NormalizedPrecisionRate"}

__all__ = ["PROTOCOLS", "Protocol", "evaluate_results", "get_protocol", *_METRIC_CLASSES, *_ALIASES]


def __getattr__(name: str):
    if name in _METRIC_CLASSES or name in _ALIASES:
        module = importlib.import_module("src.metrics.tracking_metrics")
        return getattr(module, _ALIASES.get(name, name))
    raise AttributeError(f"module 'src.metrics' has no attribute {name!r}")
