"""The seed's tables for ``src.compare``, built from the methods (``collect.group_methods``): ``methods``,
``ablation``, ``tsf`` / ``tsf_sorted`` (TSF before/after), ``extreme`` / ``normal`` (robustness) and
``significance`` (the seed's claims, with a Wilcoxon signed-rank test paired over sequences); the cells'
formatting, ``Table`` (Markdown, CSV, booktabs LaTeX, ``wandb.Table``), and the contents of summary.json and
runs.csv."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from src.compare.collect import (
    SORTED,
    TSF_OFF,
    VARIANT_LABELS,
    Method,
    ascii_label,
    group_methods,
    label,
    method_key,
)

# the seed's ablation table: the six fusion recipes (variants), in its order (VARIANT_LABELS')
ABLATION_ORDER = tuple(v for v in VARIANT_LABELS if v != "single")
# the seed's robustness tables: single-modal and the fusion recipes, in their order
ROBUSTNESS_ORDER = ("single", "cmc1_cmc", "cmc_cmc", "cmc1", "cmc", "cmc1_ceb_cmc", "cmc_ceb_cmc")
# the seed's comparison table: the other trackers' rows, in its order (published results keep these names)
SEED_ROWS = ("SiamCSR", "MDNet+RGBT", "C-COT", "ECO", "SOWP+RGBT", "SRDCF", "CSR-DCF", "KCF+RGBT")
ROBUSTNESS_ROWS = ("track_success", "max_ratio", "miss_count", "MPR", "MSR")
TSF_COLUMNS = ("SR@0.5", "SR@0.75", "SR@0.9", "AOR", "APE")
DECIMALS = {"max_ratio": 4, "miss_count": 1, "APE": 2, "FPS": 2}
# figures where less is better (every other one: more is better)
LOWER_BETTER = frozenset({"APE", "max_ratio", "miss_count"})
BEST, SECOND = "best", "second"


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


def emphasis(means: Sequence[float], name: str) -> list[str]:
    """:data:`BEST` / :data:`SECOND` / ``""`` per cell of a row of figure ``name``: the best and the
    second-best value as printed (rounded to the cell's decimals, so equal cells get the same mark; ties
    share it); cells without a value and rows with fewer than two values get none."""
    decimals = DECIMALS.get(name, 2)
    shown = [None if math.isnan(m) else round(float(m), decimals) for m in means]
    distinct = sorted({v for v in shown if v is not None}, reverse=name not in LOWER_BETTER)
    if len([v for v in shown if v is not None]) < 2:
        return [""] * len(shown)
    marks = {distinct[0]: BEST} | ({distinct[1]: SECOND} if len(distinct) > 1 else {})
    return [marks.get(v, "") if v is not None else "" for v in shown]


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "<": r"\textless{}", ">": r"\textgreater{}", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX source: its special characters escaped, ``±`` in math mode, the CJK label in
    ASCII (pdflatex has no CJK font by default)."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in ascii_label(str(text)))


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
    # per cell, BEST / SECOND / "" (tables of figures compared across methods; None: no marks)
    marks: list[list[str]] | None = None

    def to_markdown(self) -> str:
        header = [self.corner, *self.columns]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |",
                 "| " + " | ".join([":--"] + [":-:"] * len(self.columns)) + " |"]
        lines += ["| " + " | ".join([row, *cells]) + " |" for row, cells in zip(self.index, self.cells)]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``table`` (``\\usepackage{booktabs}``): the best value of a row bold, the second
        underlined (:attr:`marks`); the note below the tabular; labelled ``tab:<name>``."""
        wrap = {BEST: r"\textbf{%s}", SECOND: r"\underline{%s}", "": "%s"}
        marks = self.marks or [[""] * len(self.columns) for _ in self.index]
        header = " & ".join(latex_escape(c) for c in [self.corner, *self.columns])
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(self.title)}}}",
                 rf"\label{{tab:{self.name}}}", rf"\begin{{tabular}}{{l{'c' * len(self.columns)}}}",
                 r"\toprule", rf"{header} \\", r"\midrule"]
        for row, cells, row_marks in zip(self.index, self.cells, marks):
            texts = [wrap[m] % latex_escape(c) for c, m in zip(cells, row_marks)]
            lines.append(" & ".join([latex_escape(row), *texts]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.note:
            lines.append(rf"\par\smallskip{{\footnotesize {latex_escape(self.note)}}}")
        lines.append(r"\end{table}")
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
    stats = [[m.stat(row, subset, fps_key)[:2] for m in methods] for row in rows]
    cells = [[fmt(*stat, name=row) for stat in row_stats] for row, row_stats in zip(rows, stats)]
    marks = [emphasis([mean for mean, _ in row_stats], row) for row, row_stats in zip(rows, stats)]
    return Table(name, title, "", [label(m.key, table) for m in methods], list(rows), cells, note, marks)


def _seed_rank(key: str) -> float:
    """A tracker's place among the seed's rows (SEED_ROWS); our "+RGBT" recipe of a seed row that reads
    one modality (ECO+RGBT) right after it; anything else after them all."""
    name = label(key)
    if name in SEED_ROWS:
        return SEED_ROWS.index(name)
    if name.endswith("+RGBT") and name.removesuffix("+RGBT") in SEED_ROWS:
        return SEED_ROWS.index(name.removesuffix("+RGBT")) + 0.5
    return len(SEED_ROWS)


def methods_table(methods: list[Method], dataset: str, fps_key: str = "e2e") -> Table | None:
    """(1) MPR, MSR, FPS of every method: other trackers in the seed's order (SEED_ROWS), the rest by
    MSR (best first), then our variants, Ours* (CMC*) last -- the seed's layout."""
    ours = [m for m in methods if m.records[0].get("variant")]
    others = sorted((m for m in methods if not m.records[0].get("variant")),
                    key=lambda m: (_seed_rank(m.key), -np.nan_to_num(m.stat("MSR")[0], nan=-1.0)))
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


# the seed's claims that significance_table tests (each of its rows claims A above B)
CLAIMS = ("(a) fusion beats single-modal, most under extreme conditions; (b) CMC* is the best and the "
          "fastest recipe; (c) the TSF raises SR@0.75 and SR@0.9; (d) the learned tracker beats the "
          "classical ones")
ALPHA = 0.05


def verdict(gap: float, p: float) -> str:
    """A claim that A is above B, by the paired test: supported (p < ALPHA, A above), contradicted
    (p < ALPHA, A below) or undecided."""
    if math.isnan(p) or p >= ALPHA:
        return "undecided"
    return "supported" if gap > 0 else "contradicted"


def significance_table(methods: list[Method], dataset: str) -> Table | None:
    """The seed's claims as paired comparisons, each with its verdict: (a) CMC* against the single-modal
    network (all sequences and the extreme subset); (b) CMC* against every other fusion recipe in MSR and,
    where a speed pass timed them per sequence, in FPS; (c) the TSF on against off (single-modal and
    sorted-align recipes) on SR@0.75 and SR@0.9; (d) CMC* against every tracker not ours, best first. Per
    row: both means (± seed spread), the gap, whether the gap exceeds the seed-to-seed spread (the larger
    of the two sample standard deviations over seeds), the paired test's p and :func:`verdict`."""
    by_key = {m.key: m for m in methods}
    pairs: list[tuple[str, str, str, str, str | None]] = []  # (claim, a, b, figure, subset)
    if "cmc" in by_key and "single" in by_key:
        pairs += [("a", "cmc", "single", "MSR", None), ("a", "cmc", "single", "MSR", "extreme")]
    if "cmc" in by_key:
        others = [k for k in ABLATION_ORDER if k != "cmc" and k in by_key]
        pairs += [("b", "cmc", k, "MSR", None) for k in others]
        pairs += [("b", "cmc", k, "FPS", None) for k in others]
    for key in by_key:
        if (key == "single" or key.endswith(SORTED)) and f"{key}{TSF_OFF}" in by_key:
            pairs += [("c", key, f"{key}{TSF_OFF}", name, None) for name in TSF_TESTED]
    classical = [m for m in methods if not m.records[0].get("variant") and m.stat("MSR")[2]]
    if "cmc" in by_key:
        pairs += [("d", "cmc", m.key, "MSR", None)
                  for m in sorted(classical, key=lambda m: -m.stat("MSR")[0])]
    rows, cells = [], []
    for claim, a_key, b_key, name, subset in pairs:
        a, b = by_key[a_key], by_key[b_key]
        (a_mean, a_std, _), (b_mean, b_std, _) = a.stat(name, subset), b.stat(name, subset)
        if math.isnan(a_mean) or math.isnan(b_mean):
            continue
        p, n = paired_test(a, b, name, subset)
        if name == "FPS" and n < 2:  # no per-sequence timing of both (no speed pass): nothing to test
            continue
        spread = max((s for s in (a_std, b_std) if not math.isnan(s)), default=math.nan)
        gap = a_mean - b_mean
        rows.append(f"{label(a_key)} vs {label(b_key)}")
        known = not math.isnan(spread)
        cells.append([f"({claim})", name + (f" ({subset})" if subset else ""), fmt(a_mean, a_std, name),
                      fmt(b_mean, b_std, name), f"{gap:+.3f}", f"{spread:.3f}" if known else "-",
                      ("yes" if abs(gap) > spread else "no") if known else "-", fmt_p(p), str(n),
                      verdict(gap, p)])
    if not rows:
        return None
    note = (f"claims: {CLAIMS}. gap = A - B of the means over seeds; spread = the larger seed standard "
            "deviation of the two; p: two-sided Wilcoxon signed-rank test paired over the sequences "
            "(per-sequence means over seeds; FPS: the speed pass's sequences), n = sequences paired; "
            f"verdict: supported or contradicted where p < {ALPHA}, by the sign of the gap, else undecided.")
    return Table("significance", f"The seed's claims, tested on {dataset}", "",
                 ["claim", "figure", "A", "B", "gap", "spread", "gap > spread", "p", "n", "verdict"],
                 rows, cells, note)


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


def run_rows(records: Sequence[Mapping[str, Any]], fps_key: str = "e2e") -> list[dict[str, Any]]:
    """One row per run (``runs.csv``): identity, the number of sequences scored, every overall metric, FPS
    (and the speed pass it came from, if any), path."""
    names = sorted({k for r in records for k in (r.get("metrics") or {})})
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        rows.append({"method": label(method_key(r)), "dataset": r.get("dataset"), "tracker": r.get("tracker"),
                     "variant": r.get("variant"), "tsf": r.get("tsf"), "seed": r.get("seed"),
                     "num_sequences": r.get("num_sequences") or len(r.get("sequences") or ()) or None,
                     **{n: metrics.get(n) for n in names}, "FPS": (r.get("fps") or {}).get(fps_key),
                     "fps_source": r.get("fps_source"), "path": r.get("path")})
    return rows
