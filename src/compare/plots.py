"""The plots of ``src.compare``: precision/success curves of every method and MPR/MSR attribute radars,
one set per dataset (drawn by ``src.metrics.plots``), each as a PNG and a PDF."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from src.compare.collect import ascii_label, group_methods, label

log = logging.getLogger(__name__)


def write_plots(records: Iterable[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Precision/success plots with every method and MPR/MSR attribute radars (the methods that have
    attributes: published raw results scored without them are left out), one set per dataset; returns
    ``{name: PNG path}`` (each PDF lies beside its PNG)."""
    from src.metrics import plots

    written: dict[str, Path] = {}
    methods = group_methods(records)
    for dataset in dict.fromkeys(d for d, _ in methods):
        reports = {ascii_label(label(k, "methods")): m.mean_report() for (d, k), m in methods.items()
                   if d == dataset}
        for kind in ("precision", "success"):
            with_curve = {n: r for n, r in reports.items() if r["curves"].get(kind)}
            if with_curve:
                path = out_dir / f"{dataset}_{kind}.png"
                title = f"{kind.capitalize()} plot, {dataset}"
                fig = plots.curve_plot(with_curve, kind, title=title, path=path)
                plots.save_pdf(fig, path)
                written[f"{dataset}_{kind}"] = path
        with_attributes = {n: r for n, r in reports.items() if r["attributes"]}
        for metric in ("MPR", "MSR"):
            if with_attributes:
                path = out_dir / f"{dataset}_radar_{metric}.png"
                try:
                    fig = plots.attribute_radar(with_attributes, metric,
                                                title=f"{metric} per attribute, {dataset}", path=path)
                except ValueError as err:  # no attribute common to all of them
                    log.warning("no %s radar for %s: %s", metric, dataset, err)
                    continue
                plots.save_pdf(fig, path)
                written[f"{dataset}_radar_{metric}"] = path
    return written
