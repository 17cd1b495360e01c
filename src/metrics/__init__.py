"""Tracking metrics: vectorized protocols (functional, protocols), torchmetrics classes, plots.

``TrackingScores`` (``src.metrics.tracking_metrics``) is the torchmetrics Metric that validation,
the end-of-training test and ``python -m src.evaluate`` score with: updated sequence by sequence,
DDP-safe, its compute is the protocol engine (``src.metrics.protocols``: ``score_frames`` then
``summarize``), as the benchmark's toolkit scores. ``evaluate_results`` is that engine's
functional form (all results at once); the single-figure torchmetrics classes (``MPR``, ``MSR``,
``BenchmarkMetrics``, ...) accumulate the same figures as sums; ``src.metrics.plots`` draws
precision/success plots and attribute radars. The torchmetrics classes are imported on first use:
importing torchmetrics takes seconds, and the protocol engine alone does not need it.
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
    "TrackingScores",
)
# The benchmarks' short names.
_ALIASES = {"MPR": "MaximumPrecisionRate", "MSR": "MaximumSuccessRate", "NPR": "NormalizedPrecisionRate"}

__all__ = ["PROTOCOLS", "Protocol", "evaluate_results", "get_protocol", *_METRIC_CLASSES, *_ALIASES]


def __getattr__(name: str):
    if name in _METRIC_CLASSES or name in _ALIASES:
        module = importlib.import_module("src.metrics.tracking_metrics")
        return getattr(module, _ALIASES.get(name, name))
    raise AttributeError(f"module 'src.metrics' has no attribute {name!r}")
