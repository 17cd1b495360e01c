"""python -m src.compare: the seed's tables (and plots) from many runs' metrics.json files.

    python -m src.compare inputs=[logs/train/multiruns/2026-11-23_22-00-00_ab12cd]
    python -m src.compare inputs=[runA,runB/metrics.json,logs/evaluate/runs]   # folders searched recursively
    python -m src.compare wandb_group=ablation_dual                            # offline runs under logs/
    python -m src.compare wandb_group=ablation_dual wandb_online=true          # the W&B API (needs login)

Writes into its run directory (``logs/compare/runs/<time>_<id>/``):
- ``tables.md`` -- every table, and one ``<table>.md`` / ``<table>.csv`` each: ``methods`` (MPR, MSR,
  FPS of every method), ``ablation`` (the six fusion recipes), ``tsf`` (single-modal TSF before/after,
  per dataset), ``tsf_sorted`` (TSF before/after in the recipes run with ``fusion.align=sorted``),
  ``extreme`` and ``normal`` (robustness per variant), ``significance`` (the seed's claims as paired
  comparisons: gap, seed spread, Wilcoxon p over sequences);
- ``runs.csv`` (one row per run) and ``summary.json`` (mean, spread and count per method and figure);
- ``plots/<dataset>_precision.png``, ``_success.png``, ``_radar_MPR.png``, ``_radar_MSR.png``;
- a W&B summary run in the group (offline unless ``WANDB_MODE=online``) with the tables as
  ``wandb.Table`` s and the plots as images.

Several runs of one method (seeds) become ``mean±std`` (sample standard deviation); the count is
in ``summary.json``. FPS is the end-to-end figure (``fps.e2e``: crop + forward + decode), the one
every tracker has; ``fps_key=model`` picks the network-only figure (our variants only).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

import src  # noqa: F401  (PROJECT_ROOT, resolvers)

log = logging.getLogger(__name__)

# The seed's names. Variants (training runs' "variant"), in the seed's ablation order.
VARIANT_LABELS = {
    "cmc1_ceb_cmc": "CMC1+CEB+CMC", "cmc1_cmc": "CMC1+CMC", "cmc1": "CMC1",
    "cmc_ceb_cmc": "CMC+CEB+CMC", "cmc_cmc": "CMC+CMC", "cmc": "CMC*", "single": "单模",
}
ABLATION_ORDER = ("cmc1_ceb_cmc", "cmc1_cmc", "cmc1", "cmc_ceb_cmc", "cmc_cmc", "cmc")
# the seed's robustness tables: single-modal and four fusion recipes
ROBUSTNESS_ORDER = ("single", "cmc1_cmc", "cmc_cmc", "cmc1", "cmc", "cmc1_ceb_cmc", "cmc_ceb_cmc")
# Baselines (evaluate runs' "tracker"); published trackers scored from raw results keep their own name.
BASELINE_LABELS = {
    "csrt": "CSR-DCF", "csrt_tir": "CSR-DCF (TIR)", "kcf": "KCF", "kcf_rgbt": "KCF+RGBT",
    "opencv_kcf": "KCF (OpenCV)", "mil": "MIL",
}
OURS = "Ours*"  # the seed's name for CMC* in its first table
SINGLE = "单模"
TSF_OFF = " w/o TSF"
SORTED = " sorted"  # a fusion recipe run with model.net.fusion.align=sorted (its label: "CMC1 (sorted)")
ROBUSTNESS_ROWS = ("track_success", "max_ratio", "miss_count", "MPR", "MSR")
TSF_COLUMNS = ("SR@0.5", "SR@0.75", "SR@0.9", "AOR", "APE")
DECIMALS = {"max_ratio": 4, "miss_count": 1, "APE": 2, "FPS": 2}


# -- collecting runs ------------------------------------------------------------------------------
def find_metrics_files(inputs: Iterable[str | Path]) -> list[Path]:
    """metrics.json files under ``inputs`` (files, or folders searched recursively).

    A training run holds its own metrics.json and its test evaluation's ``test/metrics.json`` (the
    same scores): a file inside a folder that already has one is skipped.
    """
    found: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.add(path.resolve())
        elif path.is_dir():
            found.update(p.resolve() for p in path.rglob("metrics.json"))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder (inputs of src.compare)")
    dirs = {p.parent for p in found}
    return sorted(p for p in found if not any(parent in dirs for parent in p.parent.parents))


def load_record(path: Path) -> dict[str, Any] | None:
    """One metrics.json as a dict with ``path`` added; None (with a warning) if it has no scores."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}): {err.msg}") from err
    if not isinstance(record, dict) or not record.get("metrics"):
        log.warning("%s: no metrics (a training run with test=false?) -- skipped", path)
        return None
    record["path"] = str(path)
    return record


def _wandb_run_group(path: Path) -> str | None:
    """The W&B group of an offline run, read from its ``run-<id>.wandb`` transaction log (for runs
    without a Hydra config, such as compare's summary run)."""
    from src.utils.wandb_run import offline_records

    group = None
    for record in offline_records(path):
        if record.WhichOneof("record_type") == "run" and record.run.run_group:
            group = record.run.run_group  # a run may be recorded more than once: the last says
    return group


def _config_group(run_dir: Path) -> str | None:
    """The W&B group a run was started with, from its Hydra config (``<run>/.hydra/config.yaml``):
    ``logger.wandb.group`` (training) or ``wandb_group`` (evaluate)."""
    config = run_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    cfg = OmegaConf.load(config)
    for key in ("logger.wandb.group", "wandb_group"):
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if value:
            return str(value)
    return None


def find_wandb_group(group: str, root: str | Path) -> list[Path]:
    """metrics.json of every offline W&B run of ``group`` under ``root``.

    Training runs keep their W&B folder in their run directory (``<run>/wandb/offline-run-*``),
    so the run's metrics.json sits three levels above the ``.wandb`` file.
    """
    files = []
    for run_file in sorted(Path(root).rglob("*-run-*/run-*.wandb")):
        # the run's own config says which group it was started in; W&B's log only when it has none
        if (_config_group(run_file.parents[2]) or _wandb_run_group(run_file)) == group:
            metrics = run_file.parents[2] / "metrics.json"
            if metrics.is_file():
                files.append(metrics)
            else:
                log.warning("W&B run %s of group %s has no metrics.json beside it", run_file.parent, group)
    return files


def records_from_wandb_api(group: str, project: str, entity: str | None = None) -> list[dict[str, Any]]:
    """Records rebuilt from synced W&B runs (summary ``test/*`` and ``fps/*``, config) -- no curves,
    subsets or attributes, so only the metric tables. Needs ``wandb login`` and internet."""
    import wandb

    api = wandb.Api()
    path = f"{entity}/{project}" if entity else project
    records = []
    for run in api.runs(path, filters={"group": group}):
        summary, config = dict(run.summary), dict(run.config)
        net = (config.get("model") or {}).get("net") or {}
        metrics = {k[5:]: v for k, v in summary.items() if k.startswith("test/")}
        if not metrics:
            continue
        records.append({
            "tracker": net.get("variant", run.name), "variant": net.get("variant"),
            "tsf": (net.get("backbone") or {}).get("sort_kept"), "seed": config.get("seed"),
            "dataset": (config.get("data") or {}).get("dataset", "?"), "metrics": metrics,
            "fps": {k[4:]: v for k, v in summary.items() if k.startswith("fps/")}, "path": run.url,
        })
    return records


# -- grouping runs into methods -------------------------------------------------------------------
def method_key(record: Mapping[str, Any]) -> str:
    """Identity of a method: variant (+ `` sorted`` when its fusion aligns the pruned sequences by
    position, + `` w/o TSF`` when the filter is off) or tracker name."""
    variant = record.get("variant")
    if variant:
        key = f"{variant}{SORTED}" if record.get("align") == "sorted" else str(variant)
        return f"{key}{TSF_OFF}" if record.get("tsf") is False else key
    return str(record.get("tracker"))


def label(key: str, table: str = "") -> str:
    """The seed's name for a method key; ``Ours*`` for CMC* in the methods table."""
    base, suffix = (key[: -len(TSF_OFF)], TSF_OFF) if key.endswith(TSF_OFF) else (key, "")
    if base.endswith(SORTED):
        base, suffix = base[: -len(SORTED)], f" (sorted){suffix}"
    if table == "methods" and base == "cmc" and not suffix:
        return OURS
    return VARIANT_LABELS.get(base, BASELINE_LABELS.get(base, base)) + suffix


def ascii_label(text: str) -> str:
    """Plot legends: matplotlib's default font has no CJK glyphs."""
    return text.replace(SINGLE, "Single")


@dataclass
class Method:
    """The runs of one method on one dataset (one per seed)."""

    key: str
    dataset: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def values(self, name: str, subset: str | None = None, fps_key: str = "e2e") -> np.ndarray:
        """``[n_runs]`` float: a figure of every run (NaN where missing)."""
        out = []
        for r in self.records:
            if name == "FPS":
                v = (r.get("fps") or {}).get(fps_key)
            elif subset is None:
                v = (r.get("metrics") or {}).get(name)
            else:
                v = ((r.get("subsets") or {}).get(subset) or {}).get(name)
            out.append(np.nan if v is None else float(v))
        return np.asarray(out, dtype=np.float64)

    def stat(self, name: str, subset: str | None = None, fps_key: str = "e2e") -> tuple[float, float, int]:
        """(mean, sample std (NaN for one run), number of runs with the figure)."""
        v = self.values(name, subset, fps_key)
        v = v[~np.isnan(v)]
        if len(v) == 0:
            return math.nan, math.nan, 0
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)

    def per_sequence(self, name: str, subset: str | None = None) -> dict[str, float]:
        """``{sequence: figure}``, the mean over the runs (seeds) that scored it; with ``subset``, only
        that subset's sequences (``subset_sequences`` in metrics.json)."""
        values: dict[str, list[float]] = defaultdict(list)
        for r in self.records:
            members = None if subset is None else set((r.get("subset_sequences") or {}).get(subset) or ())
            for row in r.get("sequences") or ():
                if isinstance(row, Mapping) and row.get(name) is not None and (
                        members is None or row.get("name") in members):
                    values[str(row["name"])].append(float(row[name]))
        return {n: float(np.mean(v)) for n, v in values.items()}

    def mean_report(self) -> dict[str, Any]:
        """A metrics.json-like dict of the runs' means (metrics, curves, attributes), for the plots."""
        def mean_of(dicts: list[Mapping]) -> dict:
            keys = {k for d in dicts for k, v in d.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)}
            return {k: float(np.nanmean([np.nan if d.get(k) is None else d[k] for d in dicts])) for k in keys}

        report: dict[str, Any] = {"metrics": mean_of([r.get("metrics") or {} for r in self.records])}
        curves: dict[str, Any] = {}
        first = self.records[0].get("curves") or {}
        for kind, values in first.items():
            stack = [r.get("curves", {}).get(kind) for r in self.records]
            if kind.endswith("thresholds"):
                curves[kind] = values
            elif all(s is not None and len(s) == len(values) for s in stack):
                arr = np.array([[np.nan if x is None else x for x in s] for s in stack], dtype=np.float64)
                curves[kind] = np.nanmean(arr, axis=0).tolist()
        report["curves"] = curves
        codes = set.intersection(*[set(r.get("attributes") or {}) for r in self.records])
        report["attributes"] = {c: mean_of([r["attributes"][c] for r in self.records]) for c in sorted(codes)}
        return report


def group_methods(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Method]:
    """``{(dataset, method key): Method}`` in first-seen order. Runs of one method scored on different
    sequence sets (one skipped a sequence, or limited them) are not pooled: ValueError naming two of them.
    Methods of one dataset scored on different sets are compared with a warning."""
    methods: dict[tuple[str, str], Method] = {}
    for r in records:
        dataset = str(r.get("dataset") or "?")
        key = method_key(r)
        methods.setdefault((dataset, key), Method(key, dataset)).records.append(dict(r))
    per_dataset: dict[str, dict[frozenset, str]] = defaultdict(dict)
    for (dataset, key), method in methods.items():
        scored = [(r, sequence_set(r)) for r in method.records]
        scored = [(r, names) for r, names in scored if names is not None]
        for r, names in scored[1:]:
            first, first_names = scored[0]
            if names != first_names:
                only = sorted(first_names ^ names)
                raise ValueError(
                    f"{label(key)} on {dataset}: runs scored on different sequence sets cannot be pooled "
                    f"({first.get('path', '?')}: {len(first_names)} sequences, {r.get('path', '?')}: "
                    f"{len(names)}; in one only: {', '.join(only[:5])}{' ...' if len(only) > 5 else ''})")
        if scored:
            per_dataset[dataset].setdefault(scored[0][1], label(key))
    for dataset, sets in per_dataset.items():
        if len(sets) > 1:
            log.warning("%s: the methods were scored on different sequence sets (%s): their figures are not "
                        "comparable", dataset, "; ".join(f"{m}: {len(n)} sequences" for n, m in sets.items()))
    return methods


def sequence_set(record: Mapping[str, Any]) -> frozenset[str] | None:
    """Names of the sequences a run was scored on (its per-sequence rows); None when not recorded."""
    rows = record.get("sequences")
    if not rows:
        return None
    return frozenset(str(row.get("name")) for row in rows if isinstance(row, Mapping))


# -- formatting ----------------------------------------------------------------------------------
def fmt(mean: float, std: float = math.nan, name: str = "") -> str:
    """``0.78`` or ``0.78±0.01`` (rates 2 decimals as the seed prints them; see DECIMALS)."""
    if math.isnan(mean):
        return "-"
    decimals = DECIMALS.get(name, 2)
    text = f"{mean:.{decimals}f}"
    if name == "miss_count" and float(mean).is_integer() and math.isnan(std):  # one run: a count
        text = str(int(mean))
    return text if math.isnan(std) else f"{text}±{std:.{decimals}f}"


def relative_change(before: float, after: float) -> str:
    """The seed's ``(+15%)``: integer percent from 10 % up, one decimal below (``+3.6%``, ``-1%``)."""
    if math.isnan(before) or math.isnan(after) or before == 0:
        return ""
    change = (after - before) / abs(before) * 100
    text = f"{change:+.0f}" if abs(change) >= 10 else f"{change:+.1f}".replace(".0", "")
    return f"({text}%)"


@dataclass
class Table:
    """A table as the seed prints it: ``index`` rows x ``columns`` of formatted cells."""

    name: str
    title: str
    corner: str
    columns: list[str]
    index: list[str]
    cells: list[list[str]]
    note: str = ""

    def to_markdown(self) -> str:
        header = [self.corner, *self.columns]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |",
                 "| " + " | ".join([":--"] + [":-:"] * len(self.columns)) + " |"]
        lines += ["| " + " | ".join([row, *cells]) + " |" for row, cells in zip(self.index, self.cells)]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([self.corner, *self.columns])
        writer.writerows([row, *cells] for row, cells in zip(self.index, self.cells))
        return buffer.getvalue()

    def to_wandb(self):
        import wandb

        return wandb.Table(columns=[self.corner or "row", *self.columns],
                           data=[[row, *cells] for row, cells in zip(self.index, self.cells)])


# -- the seed's tables ------------------------------------------------------------------------------
def _metric_table(name: str, title: str, methods: list[Method], rows: Sequence[str], *,
                  subset: str | None = None, table: str = "", fps_key: str = "e2e", note: str = "") -> Table:
    cells = [[fmt(*m.stat(row, subset, fps_key)[:2], name=row) for m in methods] for row in rows]
    return Table(name, title, "", [label(m.key, table) for m in methods], list(rows), cells, note)


def methods_table(methods: list[Method], dataset: str, fps_key: str = "e2e") -> Table | None:
    """(1) MPR, MSR, FPS of every method: other trackers by MSR (best first), then our variants,
    Ours* (CMC*) last -- the seed's layout."""
    ours = [m for m in methods if m.records[0].get("variant")]
    others = sorted((m for m in methods if not m.records[0].get("variant")),
                    key=lambda m: -np.nan_to_num(m.stat("MSR")[0], nan=-1.0))
    order = {k: i for i, k in enumerate((*ROBUSTNESS_ORDER, *ABLATION_ORDER))}
    ours.sort(key=lambda m: (m.key == "cmc", m.key.endswith(TSF_OFF),
                             order.get(m.key.replace(TSF_OFF, ""), 99)))
    if not ours and not others:
        return None
    return _metric_table("methods", f"Methods on {dataset}", others + ours, ("MPR", "MSR", "FPS"),
                         table="methods", fps_key=fps_key)


def ablation_table(methods: list[Method], dataset: str, fps_key: str = "e2e") -> Table | None:
    """(2) the six fusion recipes (TSF on) in the seed's order."""
    by_key = {m.key: m for m in methods}
    chosen = [by_key[k] for k in ABLATION_ORDER if k in by_key]
    if not chosen:
        return None
    return _metric_table("ablation", f"Dual-modal training ablation on {dataset}", chosen,
                         ("MPR", "MSR", "FPS"), fps_key=fps_key)


def paired_test(a: Method, b: Method, name: str, subset: str | None = None) -> tuple[float, int]:
    """Two-sided Wilcoxon signed-rank test of ``a`` against ``b`` on a figure, paired over the sequences
    both scored (each method's per-sequence value averaged over its seeds): ``(p, sequences)``. p is NaN
    below 2 pairs, 1 when every pair is equal. The sequences, not the seeds, are the samples: a few seeds
    cannot carry a test, and a benchmark's claim is about its sequences."""
    from scipy.stats import wilcoxon

    va, vb = a.per_sequence(name, subset), b.per_sequence(name, subset)
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        return math.nan, len(common)
    diff = np.array([va[n] - vb[n] for n in common])
    if np.allclose(diff, 0.0):
        return 1.0, len(common)
    return float(wilcoxon(diff).pvalue), len(common)


def fmt_p(p: float) -> str:
    return "-" if math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


TSF_TESTED = ("SR@0.75", "SR@0.9")  # the seed's claim: the TSF raises the high-overlap success rates


def tsf_table(all_methods: Mapping[tuple[str, str], Method], base: str = "single") -> Table | None:
    """(3) TSF before (off) / after (on) with the relative change and the paired test's p for
    SR@0.75 and SR@0.9: ``base="single"`` is the seed's single-modal table, one row per dataset (where the
    TSF cannot change the network: a noise-floor control); ``base="sorted"``, every fusion recipe run with
    ``fusion.align=sorted`` (where the fusion reads the token order), one row per recipe and dataset."""
    rows, cells = [], []
    datasets = {d for d, _ in all_methods}
    for (dataset, key), after in all_methods.items():
        before = all_methods.get((dataset, f"{key}{TSF_OFF}"))
        wanted = key == "single" if base == "single" else key.endswith(SORTED)
        if not wanted or before is None:
            continue
        row = []
        for name in TSF_COLUMNS:
            b_mean, b_std, _ = before.stat(name)
            a_mean, a_std, _ = after.stat(name)
            b_text, a_text = fmt(b_mean, b_std, name), fmt(a_mean, a_std, name)
            same = fmt(b_mean, name=name) == fmt(a_mean, name=name)
            row.append(f"{b_text}/{a_text}" + ("" if same else relative_change(b_mean, a_mean)))
        row += [fmt_p(paired_test(after, before, name)[0]) for name in TSF_TESTED]
        rows.append(dataset if base == "single" else
                    label(key) + (f" ({dataset})" if len(datasets) > 1 else ""))
        cells.append(row)
    if not rows:
        return None
    columns = [f"{c.replace('@', '')} before/after" for c in TSF_COLUMNS]
    columns += [f"p {c.replace('@', '')}" for c in TSF_TESTED]
    note = ("before = TSF off (OSTrack's token order), after = TSF on; change relative to before. "
            "p: two-sided Wilcoxon signed-rank test, paired over sequences (per-sequence means over seeds).")
    if base == "single":
        return Table("tsf", "Single-modal token spatial filter (TSF) before/after", "", columns, rows, cells,
                     note)
    title = "Token spatial filter where the fusion reads token order (fusion.align=sorted)"
    return Table("tsf_sorted", title, "", columns, rows, cells, note)


def significance_table(methods: list[Method], dataset: str) -> Table | None:
    """The seed's claims as paired comparisons: CMC* against the single-modal network (all sequences and
    the extreme subset), against every other fusion recipe and against the best tracker not ours; the
    TSF on against off (single-modal and sorted-align recipes) on SR@0.75 and SR@0.9. Per row: both
    means (± seed spread), the gap, whether the gap exceeds the seed-to-seed spread (the larger of the
    two sample standard deviations over seeds) and the paired test's p."""
    by_key = {m.key: m for m in methods}
    pairs: list[tuple[str, str, str, str | None]] = []  # (a, b, figure, subset)
    if "cmc" in by_key and "single" in by_key:
        pairs += [("cmc", "single", "MSR", None), ("cmc", "single", "MSR", "extreme")]
    if "cmc" in by_key:
        pairs += [("cmc", k, "MSR", None) for k in ABLATION_ORDER if k != "cmc" and k in by_key]
    for key in by_key:
        if (key == "single" or key.endswith(SORTED)) and f"{key}{TSF_OFF}" in by_key:
            pairs += [(key, f"{key}{TSF_OFF}", name, None) for name in TSF_TESTED]
    classical = [m for m in methods if not m.records[0].get("variant") and m.stat("MSR")[2]]
    if classical and "cmc" in by_key:
        best = max(classical, key=lambda m: m.stat("MSR")[0])
        pairs.append(("cmc", best.key, "MSR", None))
    rows, cells = [], []
    for a_key, b_key, name, subset in pairs:
        a, b = by_key[a_key], by_key[b_key]
        (a_mean, a_std, _), (b_mean, b_std, _) = a.stat(name, subset), b.stat(name, subset)
        if math.isnan(a_mean) or math.isnan(b_mean):
            continue
        spread = max((s for s in (a_std, b_std) if not math.isnan(s)), default=math.nan)
        gap = a_mean - b_mean
        p, n = paired_test(a, b, name, subset)
        rows.append(f"{label(a_key)} vs {label(b_key)}")
        known = not math.isnan(spread)
        cells.append([name + (f" ({subset})" if subset else ""), fmt(a_mean, a_std, name),
                      fmt(b_mean, b_std, name), f"{gap:+.3f}", f"{spread:.3f}" if known else "-",
                      ("yes" if abs(gap) > spread else "no") if known else "-", fmt_p(p), str(n)])
    if not rows:
        return None
    note = ("gap = A - B of the means over seeds; spread = the larger seed standard deviation of the two; "
            "p: two-sided Wilcoxon signed-rank test paired over the sequences (per-sequence means over "
            "seeds), n = sequences paired.")
    return Table("significance", f"The seed's claims, tested on {dataset}", "",
                 ["figure", "A", "B", "gap", "spread", "gap > spread", "p", "n"], rows, cells, note)


def robustness_table(methods: list[Method], dataset: str, subset: str) -> Table | None:
    """(4)/(5) track_success (rate of sequences), max_ratio (largest), miss_count (total), MPR, MSR on a
    subset (``extreme`` / ``normal``) per variant with the TSF on."""
    by_key = {m.key: m for m in methods}
    chosen = [by_key[k] for k in ROBUSTNESS_ORDER if k in by_key and by_key[k].stat("MPR", subset)[2]]
    if not chosen:
        return None
    note = ("track_success: fraction of the subset's sequences whose max_ratio <= tau; max_ratio: the "
            "largest over the subset; miss_count: frames with IoU 0, summed over the subset.")
    return _metric_table(subset, f"{subset.capitalize()} conditions on {dataset}", chosen, ROBUSTNESS_ROWS,
                         subset=subset, note=note)


def build_tables(records: Iterable[Mapping[str, Any]], fps_key: str = "e2e") -> list[Table]:
    """Every seed table the records allow (per dataset where the seed's table is per dataset)."""
    all_methods = group_methods(records)
    datasets = list(dict.fromkeys(d for d, _ in all_methods))
    tables: list[Table] = []
    per_dataset = {d: [m for (dd, _), m in all_methods.items() if dd == d] for d in datasets}
    multi = len(datasets) > 1
    for builder in (methods_table, ablation_table):
        for d in datasets:
            t = builder(per_dataset[d], d, fps_key)
            if t is not None:
                t.name += f"_{d}" if multi else ""
                tables.append(t)
    for base in ("single", "sorted"):
        t = tsf_table(all_methods, base)
        if t is not None:
            tables.append(t)
    for subset in ("extreme", "normal"):
        for d in datasets:
            t = robustness_table(per_dataset[d], d, subset)
            if t is not None:
                t.name += f"_{d}" if multi else ""
                tables.append(t)
    for d in datasets:
        t = significance_table(per_dataset[d], d)
        if t is not None:
            t.name += f"_{d}" if multi else ""
            tables.append(t)
    return tables


def summary(records: Iterable[Mapping[str, Any]], fps_key: str = "e2e") -> dict[str, Any]:
    """``{dataset: {method label: {figure: {mean, std, n}}}}`` for every figure of every run."""
    out: dict[str, Any] = defaultdict(dict)
    for (dataset, key), m in group_methods(records).items():
        names = sorted({k for r in m.records for k in (r.get("metrics") or {})})
        entry = {n: dict(zip(("mean", "std", "n"), m.stat(n))) for n in names}
        entry["FPS"] = dict(zip(("mean", "std", "n"), m.stat("FPS", fps_key=fps_key)))
        for subset in sorted({s for r in m.records for s in (r.get("subsets") or {})}):
            for n in ROBUSTNESS_ROWS:
                entry[f"{subset}/{n}"] = dict(zip(("mean", "std", "n"), m.stat(n, subset)))
        entry["seeds"] = [r.get("seed") for r in m.records]
        out[dataset][label(key)] = {k: ({kk: (None if isinstance(vv, float) and math.isnan(vv) else vv)
                                         for kk, vv in v.items()} if isinstance(v, dict) else v)
                                    for k, v in entry.items()}
    return dict(out)


def runs_csv(records: Sequence[Mapping[str, Any]], fps_key: str = "e2e") -> str:
    """One row per run: identity, every overall metric, FPS, path."""
    names = sorted({k for r in records for k in (r.get("metrics") or {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "dataset", "tracker", "variant", "tsf", "seed", *names, "FPS", "path"])
    for r in records:
        metrics = r.get("metrics") or {}
        writer.writerow([label(method_key(r)), r.get("dataset"), r.get("tracker"), r.get("variant"),
                         r.get("tsf"), r.get("seed"), *[metrics.get(n) for n in names],
                         (r.get("fps") or {}).get(fps_key), r.get("path")])
    return buffer.getvalue()


# -- plots --------------------------------------------------------------------------------------
def write_plots(records: Iterable[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Precision/success plots with every method and MPR/MSR attribute radars (the methods that have
    attributes: published raw results scored without them are left out), one set per dataset."""
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
                plots.curve_plot(with_curve, kind, title=f"{kind.capitalize()} plot, {dataset}", path=path)
                written[f"{dataset}_{kind}"] = path
        with_attributes = {n: r for n, r in reports.items() if r["attributes"]}
        for metric in ("MPR", "MSR"):
            if with_attributes:
                path = out_dir / f"{dataset}_radar_{metric}.png"
                try:
                    plots.attribute_radar(with_attributes, metric, title=f"{metric} per attribute, {dataset}",
                                          path=path)
                except ValueError as err:  # no attribute common to all of them
                    log.warning("no %s radar for %s: %s", metric, dataset, err)
                    continue
                written[f"{dataset}_radar_{metric}"] = path
    return written


# -- the command ----------------------------------------------------------------------------------
def collect(inputs: Iterable[str | Path] = (), wandb_group: str | None = None,
            wandb_dir: str | Path | None = None, wandb_online: bool = False, wandb_project: str = "rgbt-cmc",
            wandb_entity: str | None = None) -> list[dict[str, Any]]:
    """Every run's record from ``inputs`` and/or a W&B group (offline folders under ``wandb_dir``,
    or the W&B API when ``wandb_online``)."""
    files = find_metrics_files(inputs)
    if wandb_group and not wandb_online:
        files = sorted(set(files) | {p.resolve() for p in find_wandb_group(wandb_group, wandb_dir or ".")})
    records = [r for r in (load_record(p) for p in files) if r is not None]
    if wandb_group and wandb_online:
        records += records_from_wandb_api(wandb_group, wandb_project, wandb_entity)
    return records


def write_outputs(records: list[dict[str, Any]], out_dir: str | Path, fps_key: str = "e2e",
                  plots: bool = True) -> tuple[list[Table], dict[str, Path]]:
    """Write the tables (Markdown, CSV), runs.csv, summary.json and plots into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = build_tables(records, fps_key)
    for t in tables:
        (out_dir / f"{t.name}.md").write_text(t.to_markdown())
        (out_dir / f"{t.name}.csv").write_text(t.to_csv())
    (out_dir / "tables.md").write_text("\n".join(t.to_markdown() for t in tables))
    (out_dir / "runs.csv").write_text(runs_csv(records, fps_key))
    (out_dir / "summary.json").write_text(json.dumps(summary(records, fps_key), indent=2, ensure_ascii=False))
    figures = write_plots(records, out_dir / "plots") if plots else {}
    return tables, figures


def log_wandb_summary(tables: list[Table], figures: Mapping[str, Path], group: str, project: str,
                      out_dir: Path, mode: str = "offline") -> None:
    """One W&B run in ``group`` holding every table (``wandb.Table``) and plot (``wandb.Image``)."""
    import wandb

    run = wandb.init(project=project, group=group, name=f"summary-{group}", job_type="compare",
                     dir=str(out_dir), mode=mode, reinit="finish_previous")
    try:
        run.log({f"tables/{t.name}": t.to_wandb() for t in tables}
                | {f"plots/{k}": wandb.Image(str(p)) for k, p in figures.items()})
    finally:
        wandb.finish()


def run(cfg: DictConfig) -> list[Table]:
    inputs = cfg.inputs if OmegaConf.is_list(cfg.inputs) else ([cfg.inputs] if cfg.inputs else [])
    records = collect(inputs, cfg.get("wandb_group"), cfg.get("wandb_dir"), bool(cfg.get("wandb_online")),
                      cfg.get("wandb_project", "rgbt-cmc"), cfg.get("wandb_entity"))
    if not records:
        raise SystemExit(f"src.compare: no metrics.json with scores found in {list(inputs)}"
                         + (f" or W&B group {cfg.wandb_group!r}" if cfg.get("wandb_group") else ""))
    out_dir = Path(cfg.output_dir)
    tables, figures = write_outputs(records, out_dir, cfg.get("fps_key", "e2e"), bool(cfg.get("plots", True)))
    print(f"{len(records)} runs, {len(group_methods(records))} methods\n")
    print("\n".join(t.to_markdown() for t in tables))
    print(f"written to {out_dir}")
    if cfg.get("log_wandb"):
        group = cfg.get("summary_group") or cfg.get("wandb_group") or "compare"
        log_wandb_summary(tables, figures, group, cfg.get("wandb_project", "rgbt-cmc"), out_dir,
                          mode=str(cfg.get("wandb_mode") or "offline"))
    return tables


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
