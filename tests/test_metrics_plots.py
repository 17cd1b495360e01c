"""Precision/success plots of several trackers and the attribute radar."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.sequence import Sequence
from src.metrics import evaluate_results
from src.metrics.plots import attribute_radar, curve_plot, precision_plot, save_plots, success_plot


def _trackers(protocol="rgbt234"):
    rng = np.random.default_rng(0)
    seqs = []
    for i in range(6):
        t = 30
        gv = np.c_[rng.uniform(50, 400, (t, 2)), rng.uniform(20, 60, (t, 2))]
        attrs = {"LI": i % 2 == 0, "TC": i % 3 == 0, "SC": True}
        seqs.append(
            Sequence(
                f"s{i}",
                {"visible": [], "infrared": []},
                {"visible": gv, "infrared": gv + 1},
                np.ones(t, bool),
                attrs,
                {"size": (640, 480)},
            )
        )
    out = {}
    for name, noise in (("weak", 25.0), ("strong", 3.0), ("mid", 10.0)):
        results = {s.name: s.boxes["visible"] + rng.normal(0, noise, (len(s), 4)) for s in seqs}
        out[name] = evaluate_results(results, seqs, protocol)
    return out


def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_precision_and_success_plots_rank_trackers(tmp_path):
    trackers = _trackers()
    fig = precision_plot(trackers, path=tmp_path / "p.png")
    assert len(fig.axes[0].lines) == 3
    labels = _legend(fig)
    assert [lab.split(" ")[0] for lab in labels] == ["strong", "mid", "weak"]  # ranked by MPR
    assert labels[0] == f"strong [{trackers['strong']['metrics']['MPR']:.3f}]"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), trackers["strong"]["curves"]["precision"])
    assert (tmp_path / "p.png").stat().st_size > 5000
    fig = success_plot(trackers, path=tmp_path / "s.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.linspace(0, 1, 21))
    assert (tmp_path / "s.png").is_file()
    with pytest.raises(ValueError, match="unknown curve"):
        curve_plot(trackers, "roc")


def test_many_curves_put_the_legend_beside_the_axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def boxes(fig):
        renderer = FigureCanvasAgg(fig).get_renderer()
        return fig.axes[0].get_legend().get_window_extent(renderer), fig.axes[0].get_window_extent(renderer)

    base = _trackers()
    trackers = {f"{name}{i}": metrics for i in range(3) for name, metrics in base.items()}  # 9 curves
    legend, axes = boxes(success_plot(trackers))
    assert legend.x0 >= axes.x1  # beside the axes: no curve hidden under it
    legend, axes = boxes(success_plot(base))  # 3 curves: inside, as usual
    assert legend.x1 <= axes.x1


def test_attribute_radar(tmp_path):
    trackers = _trackers()
    fig = attribute_radar(trackers, "MSR", path=tmp_path / "r.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["LI", "SC", "TC"]
    assert (tmp_path / "r.png").stat().st_size > 5000
    no_attr = {k: {**v, "attributes": {}} for k, v in trackers.items()}
    with pytest.raises(ValueError, match="no attribute"):
        attribute_radar(no_attr, "MSR")


def test_save_plots_writes_what_the_protocol_has(tmp_path):
    written = save_plots(_trackers("lasher"), tmp_path, prefix="x_")
    assert set(written) == {"precision", "success", "norm_precision", "radar_PR", "radar_SR"}
    assert all(p.is_file() and p.name.startswith("x_") for p in written.values())
