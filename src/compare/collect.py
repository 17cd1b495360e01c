"""Collecting runs for ``src.compare``: the metrics.json files of the inputs (files, or folders searched
recursively) and of a W&B group (offline runs, found by their Hydra config or their binary ``.wandb``
log; or the W&B API), and grouping the runs into methods (one per variant or tracker and dataset, its
seeds pooled) under the seed's names."""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

# The seed's names. Variants (training runs' "variant", conf/variant/), in the seed's ablation order.
VARIANT_LABELS = {
    "cmc1_ceb_cmc": "CMC1+CEB+CMC", "cmc1_cmc": "CMC1+CMC", "cmc1": "CMC1",
    "cmc_ceb_cmc": "CMC+CEB+CMC", "cmc_cmc": "CMC+CMC", "cmc": "CMC*", "single": "单模",
}
# Baselines (evaluate runs' "tracker", conf/tracker/); published trackers scored from raw results keep
# their own name. tests/test_compare.py checks that both cover the config folders.
BASELINE_LABELS = {
    "csrt": "CSR-DCF", "csrt_tir": "CSR-DCF (TIR)", "kcf": "KCF", "kcf_rgbt": "KCF+RGBT",
    "opencv_kcf": "KCF (OpenCV)", "mil": "MIL", "eco": "ECO", "eco_rgbt": "ECO+RGBT", "ccot": "C-COT",
    "ccot_rgbt": "C-COT+RGBT", "srdcf": "SRDCF", "srdcf_rgbt": "SRDCF+RGBT",
}
OURS = "Ours*"  # the seed's name for CMC* in its first table
SINGLE = "单模"
TSF_OFF = " w/o TSF"
SORTED = " sorted"  # a fusion recipe run with model.net.fusion.align=sorted (its label: "CMC1 (sorted)")


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
    from src.report.wandb_run import offline_records

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

    from src.report import run_identity

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
            **run_identity(net, seed=config.get("seed")), "tracker": net.get("variant", run.name),
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
        """``[n_runs]`` float: a figure of every run (NaN where missing). FPS from a speed pass
        (:func:`apply_speed_pass`) counts once per pass run, not once per seed: it is one measurement."""
        out = []
        timed = set()  # the speed-pass runs already counted
        for r in self.records:
            if name == "FPS":
                source = r.get("fps_source")
                if source is not None:
                    if source in timed:
                        continue
                    timed.add(source)
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


def sequence_fps(record: Mapping[str, Any]) -> dict[str, float]:
    """``{sequence: end-to-end FPS}`` of a tracked run, from the per-frame timing beside its metrics.json
    (``timing/<seq>.csv``; the initialisation frame excluded, as the run's own figure)."""
    from src.tracking.runner import TIMING_DIR, SequenceRun, read_timing, summarize_fps

    folder = Path(record["path"]).parent / TIMING_DIR
    out = {}
    for row in record.get("sequences") or ():
        name = str(row["name"])
        times = read_timing(folder, name, int(row.get("frames") or 0))
        fps = summarize_fps([SequenceRun(name, np.empty((0, 4)), times)])["e2e"]
        if fps:
            out[name] = fps
    return out


def apply_speed_pass(records: list[dict[str, Any]], speed: Iterable[Mapping[str, Any]]) -> None:
    """Give every run its method's FPS from a separate speed pass (same dataset and method key): ``fps``
    replaced (``fps_source``: the pass's metrics.json) and an ``FPS`` entry on each sequence the pass
    tracked (what a paired test of speed reads). A run whose method the pass lacks loses its FPS: timed
    beside other work, it would not compare."""
    passes = {(str(r.get("dataset") or "?"), method_key(r)): r for r in speed}
    for r in records:
        found = passes.get((str(r.get("dataset") or "?"), method_key(r)))
        if found is None:
            log.warning("%s: no speed-pass run of %s: no FPS", r.get("path", "?"), label(method_key(r)))
            r["fps"] = {}
            continue
        r["fps"] = dict(found.get("fps") or {})
        r["fps_source"] = found["path"]
        per_sequence = sequence_fps(found)
        for row in r.get("sequences") or ():
            if isinstance(row, dict) and row.get("name") in per_sequence:
                row["FPS"] = per_sequence[row["name"]]


# -- every run of the command's inputs --------------------------------------------------------
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
