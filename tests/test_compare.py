"""src.compare: fixture metrics.json files -> the seed's table cells (values computed by hand below),
the W&B summary run and group lookup, the Hydra entry point, and the results notebook."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from src import compare
from src.conf import baseline_names, variant_names
from tests.helpers.compare import record, write_fixture_runs
from tests.helpers.configs import compose_config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "results.ipynb"


@pytest.fixture
def study(tmp_path):
    return write_fixture_runs(tmp_path / "study")


def _cells(table):
    return {(row, col): table.cells[i][j]
            for i, row in enumerate(table.index) for j, col in enumerate(table.columns)}


def test_collects_each_run_once(study):
    records = compare.collect([study])
    assert len(records) == 10  # 7 training runs (test/ copies skipped), 3 others, the empty one skipped
    assert not any("/test/" in r["path"] for r in records)
    methods = compare.group_methods(records)
    assert {key: len(m.records) for (_, key), m in methods.items()} == {
        "cmc": 2, "cmc_cmc": 1, "single w/o TSF": 2, "single": 2, "csrt": 1, "kcf_rgbt": 1, "MDNet+RGBT": 1}


def test_methods_table_cells(study):
    tables = {t.name: t for t in compare.build_tables(compare.collect([study]))}
    table = tables["methods"]
    # others by MSR (MDNet+RGBT 0.62, CSR-DCF 0.55, KCF+RGBT 0.40), then our variants, Ours* last
    assert table.columns == ["MDNet+RGBT", "CSR-DCF", "KCF+RGBT", "单模", "CMC+CMC", "单模 w/o TSF", "Ours*"]
    assert table.index == ["MPR", "MSR", "FPS"]
    cells = _cells(table)
    # CMC*: MPR mean(0.80, 0.70) = 0.75, sample std sqrt(2 * 0.05^2 / 1) = 0.0707
    assert cells[("MPR", "Ours*")] == "0.75±0.07"
    assert cells[("MSR", "Ours*")] == "0.71±0.01"      # mean(0.72, 0.70), std 0.0141
    assert cells[("FPS", "Ours*")] == "25.00±7.07"     # e2e: mean(20, 30), std 7.071
    assert cells[("MPR", "CSR-DCF")] == "0.62"         # one run: no spread
    assert cells[("FPS", "MDNet+RGBT")] == "-"         # published results: no timing
    assert cells[("FPS", "KCF+RGBT")] == "80.00"


def test_ablation_table_keeps_the_seed_order(study):
    table = {t.name: t for t in compare.build_tables(compare.collect([study]))}["ablation"]
    assert table.columns == ["CMC+CMC", "CMC*"]
    assert _cells(table)[("MSR", "CMC+CMC")] == "0.68"
    assert _cells(table)[("FPS", "CMC+CMC")] == "17.50"


def test_tsf_table_cells(study):
    table = {t.name: t for t in compare.build_tables(compare.collect([study]))}["tsf"]
    assert table.index == ["synthetic"]
    cells = dict(zip(compare.TSF_COLUMNS, table.cells[0]))
    # SR@0.5 0.95 -> 0.95: equal, so no change printed (as the seed's "0.95/0.95")
    assert cells["SR@0.5"] == "0.95±0.00/0.95±0.00"
    # SR@0.75: before mean(0.70, 0.78) = 0.74 (std 0.0566), after 0.85: +14.86 % -> "+15%"
    assert cells["SR@0.75"] == "0.74±0.06/0.85±0.00(+15%)"
    # SR@0.9: before mean(0.40, 0.36) = 0.38 (std 0.0283), after 0.45: +18.4 % -> "+18%"
    assert cells["SR@0.9"] == "0.38±0.03/0.45±0.00(+18%)"
    # AOR 0.83 -> 0.86: +3.61 % -> "+3.6%"
    assert cells["AOR"] == "0.83±0.00/0.86±0.00(+3.6%)"
    # APE mean(9.50, 9.64) = 9.57 (std 0.099) -> 6.71: -29.9 % -> "-30%"
    assert cells["APE"] == "9.57±0.10/6.71±0.00(-30%)"


def test_robustness_tables(study):
    tables = {t.name: t for t in compare.build_tables(compare.collect([study]))}
    extreme = tables["extreme"]
    assert extreme.columns == ["单模", "CMC+CMC", "CMC*"]
    assert extreme.index == ["track_success", "max_ratio", "miss_count", "MPR", "MSR"]
    cells = _cells(extreme)
    assert cells[("track_success", "单模")] == "0.00±0.00"
    assert cells[("max_ratio", "单模")] == "0.0306±0.0008"    # mean(0.0312, 0.0300), std 0.000849
    assert cells[("miss_count", "单模")] == "2.0±1.4"         # mean(1, 3), std 1.414
    assert cells[("track_success", "CMC*")] == "0.75±0.35"    # mean(1.0, 0.5), std 0.354
    assert cells[("max_ratio", "CMC+CMC")] == "0.0112"
    assert cells[("miss_count", "CMC+CMC")] == "0"
    normal = tables["normal"]
    assert normal.columns == ["CMC*"]  # only CMC* has a normal subset in the fixture
    assert _cells(normal)[("MSR", "CMC*")] == "0.97±0.03"


@pytest.mark.parametrize("before, after, expected", [
    (0.98, 0.99, "(+1%)"), (0.74, 0.85, "(+15%)"), (0.83, 0.86, "(+3.6%)"), (9.57, 6.71, "(-30%)"),
    (0.58, 0.53, "(-8.6%)"), (0.0, 0.5, ""),
])
def test_relative_change_as_the_seed_prints_it(before, after, expected):
    assert compare.relative_change(before, after) == expected


def test_outputs_and_plots(study, tmp_path):
    records = compare.collect([study])
    tables, figures = compare.write_outputs(records, tmp_path / "out")
    out = tmp_path / "out"
    for t in tables:
        assert (out / f"{t.name}.md").read_text().startswith("### ")
        header = (out / f"{t.name}.csv").read_text().splitlines()[0]
        assert header == "," + ",".join(t.columns)
    assert "| MPR | " in (out / "tables.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic"]["CMC*"]["MPR"] == pytest.approx({"mean": 0.75, "std": 0.0707107, "n": 2})
    assert summary["synthetic"]["CMC*"]["seeds"] == [1, 2]
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + len(records)
    with open(out / "runs.csv") as handle:  # each run with the number of sequences behind it
        counts = {int(row["num_sequences"]) for row in csv.DictReader(handle)}
    assert counts == {len(records[0]["sequences"])}
    expected = {"synthetic_precision", "synthetic_success", "synthetic_radar_MPR", "synthetic_radar_MSR"}
    assert expected <= set(figures)
    assert all(p.stat().st_size > 1000 for p in figures.values())


def test_hydra_entry_point_and_wandb_summary(study, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "compare"
    cfg = compose_config("compare", overrides=[f"inputs=[{study}]", f"output_dir={out}",
                                                     "summary_group=study_fixture", "wandb_mode=offline"])
    tables = compare.run(cfg)
    assert {t.name for t in tables} == {"methods", "ablation", "tsf", "extreme", "normal", "significance"}
    run_files = list(out.rglob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    # W&B's core process may still be writing the offline log when wandb.finish() returns
    deadline = time.monotonic() + 30
    while compare._wandb_run_group(run_files[0]) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert compare._wandb_run_group(run_files[0]) == "study_fixture"


def test_wandb_group_finds_offline_training_runs(study, tmp_path, monkeypatch):
    """A training run keeps its W&B folder in its run directory: the group leads to its metrics.json."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = study / "train" / "0_cmc_s1"
    # its own process, as a training run is (W&B keeps per-process state between runs)
    code = (f"import wandb; wandb.init(project='rgbt-cmc', group='ablation_dual', dir={str(run_dir)!r}, "
            "mode='offline'); wandb.finish()")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    files = compare.find_wandb_group("ablation_dual", study)
    assert files == [run_dir / "metrics.json"]
    assert compare.find_wandb_group("another_group", study) == []


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        compare.find_metrics_files([tmp_path / "missing"])
    bad = tmp_path / "metrics.json"
    bad.write_text('{"metrics": {"MPR": 0.5},\n oops}')
    with pytest.raises(ValueError, match=r"metrics.json: not valid JSON \(line 2\)"):
        compare.load_record(bad)


def test_runs_on_different_sequence_sets_are_not_pooled(tmp_path, caplog):
    a = {**record("cmc", variant="cmc", seed=1), "path": "a/metrics.json",
         "sequences": [{"name": "seq1"}, {"name": "seq2"}]}
    b = {**record("cmc", variant="cmc", seed=2), "path": "b/metrics.json",
         "sequences": [{"name": "seq1"}], "skipped": ["seq2"]}
    pattern = (r"CMC\* on synthetic: runs scored on different sequence sets cannot be pooled "
               r"\(a/metrics.json: 2 sequences, b/metrics.json: 1; in one only: seq2\)")
    with pytest.raises(ValueError, match=pattern):
        compare.build_tables([a, b])
    # two methods on different sets: compared, with a warning
    kcf = {**record("kcf"), "path": "k/metrics.json"}
    with caplog.at_level("WARNING"):
        compare.build_tables([a, kcf])
    assert "synthetic: the methods were scored on different sequence sets" in caplog.text


def test_results_notebook_runs_on_a_fixture_study(study, tmp_path):
    """notebooks/results.ipynb executes top to bottom on a compare output folder."""
    import nbformat
    from nbclient import NotebookClient

    out = tmp_path / "compare"
    compare.write_outputs(compare.collect([study]), out)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["RESULTS_DIR"] = str(out)
    try:
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        del os.environ["RESULTS_DIR"]
    text = json.dumps([c.get("outputs", []) for c in notebook.cells])
    assert "Ours*" in text and "image/png" in text


def _seq_report(variant, *, seed, per_seq, tsf=True, align=None, extreme=None):
    """A run scored on len(per_seq) sequences: per_seq = [{figure: value}] one per sequence, the overall
    figures their means (as the protocol's averages over sequences are)."""
    names = [f"seq{i}" for i in range(len(per_seq))]
    figures = sorted({k for row in per_seq for k in row})
    metrics = {k: float(np.mean([row[k] for row in per_seq])) for k in figures}
    report = {"tracker": variant or "kcf_rgbt", "dataset": "synthetic", "protocol": "rgbt234",
              "metrics": metrics, "fps": {"model": None, "e2e": 50.0, "decode": None}, "subsets": {},
              "attributes": {}, "curves": {},
              "sequences": [{"name": n, **row} for n, row in zip(names, per_seq)],
              "variant": variant, "tsf": tsf if variant else None, "align": align, "seed": seed}
    if extreme is not None:  # the subset's sequences and its figures
        report["subset_sequences"] = {"extreme": [names[i] for i in extreme]}
        report["subsets"]["extreme"] = {k: float(np.mean([per_seq[i][k] for i in extreme])) for k in figures}
    return report


def test_sorted_align_tsf_table_and_its_paired_test():
    """CMC1 with fusion.align=sorted, TSF on vs off, two seeds, 8 sequences: on is better on SR@0.75 on every
    sequence (gaps 0.011 ... 0.081, all distinct), so the exact two-sided Wilcoxon p is 2 / 2^8 = 0.0078; on
    SR@0.9 the two are equal on every sequence, p = 1."""
    records = []
    for seed, shift in ((1, 0.0), (2, 0.02)):
        off = [{"SR@0.5": 0.9, "SR@0.75": 0.5 + shift, "SR@0.9": 0.2, "AOR": 0.7, "APE": 10.0, "MSR": 0.6}
               for _ in range(8)]
        on = [{**row, "SR@0.75": row["SR@0.75"] + 0.01 * (i + 1) + 0.001} for i, row in enumerate(off)]
        records += [_seq_report("cmc1", seed=seed, per_seq=off, tsf=False, align="sorted"),
                    _seq_report("cmc1", seed=seed, per_seq=on, tsf=True, align="sorted"),
                    _seq_report("cmc1", seed=seed, per_seq=on, tsf=True, align="recover")]
    methods = compare.group_methods(records)
    assert {key for _, key in methods} == {"cmc1 sorted w/o TSF", "cmc1 sorted", "cmc1"}
    assert compare.label("cmc1 sorted w/o TSF") == "CMC1 (sorted) w/o TSF"
    tables = {t.name: t for t in compare.build_tables(records)}
    assert "tsf" not in tables  # no single-modal runs
    table = tables["tsf_sorted"]
    assert table.index == ["CMC1 (sorted)"]
    cells = dict(zip(table.columns, table.cells[0]))
    # SR@0.75: off mean over seeds (0.50, 0.52) = 0.51, std 0.0141; on adds mean(0.011..0.081) = 0.046,
    # +9.02 % of 0.51 -> "+9%"
    assert cells["SR0.75 before/after"] == "0.51±0.01/0.56±0.01(+9%)"
    assert cells["p SR0.75"] == "0.008"
    assert cells["p SR0.9"] == "1.000"
    # the claims table tests the same pair
    significance = tables["significance"]
    rows = {(row, cells[1]): cells for row, cells in zip(significance.index, significance.cells)}
    sr75 = rows[("CMC1 (sorted) vs CMC1 (sorted) w/o TSF", "SR@0.75")]
    assert sr75[0] == "(c)" and sr75[4:] == ["+0.046", "0.014", "yes", "0.008", "8", "supported"]


def test_significance_table_of_the_claims():
    """CMC* against single-modal (all sequences and the extreme subset) and against the best classical
    tracker, with the gap, the seed spread, whether the gap exceeds it, the paired test and the verdict."""
    base = [0.30, 0.40, 0.50, 0.60, 0.35, 0.45, 0.55, 0.65]
    records = []
    for seed, noise in ((1, 0.0), (2, 0.04), (3, 0.08)):
        single = [{"MSR": v + noise} for v in base]
        # CMC* beats single-modal by 0.11 ... 0.18 (distinct) on every sequence
        cmc = [{"MSR": v + noise + 0.1 + 0.01 * (i + 1)} for i, v in enumerate(base)]
        records += [_seq_report("single", seed=seed, per_seq=single, extreme=[0, 1, 2, 3]),
                    _seq_report("cmc", seed=seed, per_seq=cmc, align="recover", extreme=[0, 1, 2, 3])]
    # a classical tracker: better on 6 sequences, worse on 2 (signed ranks: W- = 1 + 2 = 3, n = 8)
    kcf = [{"MSR": v + 0.04 + 0.25 + 0.001 * i} for i, v in enumerate(base)]
    kcf[0]["MSR"], kcf[1]["MSR"] = base[0] + 0.04 + 0.11 - 0.001, base[1] + 0.04 + 0.12 - 0.002
    records.append(_seq_report(None, seed=None, per_seq=kcf))
    table = {t.name: t for t in compare.build_tables(records)}["significance"]
    assert table.columns == ["claim", "figure", "A", "B", "gap", "spread", "gap > spread", "p", "n",
                             "verdict"]
    rows = {(row, cells[1]): cells for row, cells in zip(table.index, table.cells)}
    # all sequences: gap = mean(0.11 ... 0.18) = 0.145; seed spread: std of (0, 0.04, 0.08) + c = 0.04
    everything = rows[("CMC* vs 单模", "MSR")]
    assert everything[0] == "(a)" and everything[4:] == ["+0.145", "0.040", "yes", "0.008", "8", "supported"]
    # extreme subset (sequences 0-3): gap mean(0.11 ... 0.14) = 0.125; 4 pairs all positive: p = 2 / 16
    extreme = rows[("CMC* vs 单模", "MSR (extreme)")]
    assert extreme[4:] == ["+0.125", "0.040", "yes", "0.125", "4", "undecided"]
    # CMC* (seed means: base + 0.04 + 0.1 + 0.01 (i+1)) against KCF+RGBT: gaps -0.14 + 0.011 i on sequences
    # 2..7 (negative) and +0.001, +0.002 on 0 and 1: W+ = 1 + 2 = 3 of n = 8, exact two-sided p = 2 * 5/256
    classical = rows[("CMC* vs KCF+RGBT", "MSR")]
    assert classical[0] == "(d)" and classical[6:] == ["yes", "0.039", "8", "contradicted"]
    assert classical[5] == "0.040"  # KCF+RGBT is one run: the spread is CMC*'s


def _timed_run(folder: Path, variant: str | None, seconds: list[float], frames: int = 5) -> dict:
    """A speed-pass run: its metrics.json path and ``timing/<seq>.csv`` with ``seconds[i]`` per frame of
    sequence i (the initialisation frame 1 s: a figure that must not count)."""
    report = _seq_report(variant, seed=1, per_seq=[{"MSR": 0.5} for _ in seconds], align="recover")
    (folder / "timing").mkdir(parents=True)
    for row, t in zip(report["sequences"], seconds):
        row["frames"] = frames
        lines = ["e2e,model,decode,nonfinite", "1.0,nan,0.001,0"] + [f"{t},{t},0.001,0"] * (frames - 1)
        (folder / "timing" / f"{row['name']}.csv").write_text("\n".join(lines) + "\n")
    report["fps"] = {"model": None, "e2e": 1.0 / float(np.mean(seconds)), "decode": None}
    report["path"] = str(folder / "metrics.json")
    return report


def test_speed_pass_replaces_fps_and_decides_the_speed_claim(tmp_path):
    """A separate speed pass gives each run its method's FPS and per-sequence FPS (initialisation frame
    left out); a method it lacks gets no FPS; claim (b) then tests CMC* against another recipe in FPS,
    paired over the pass's sequences: faster on all 8, exact two-sided p = 2 / 2^8."""
    base = [0.30, 0.40, 0.50, 0.60, 0.35, 0.45, 0.55, 0.65]
    records = [_seq_report(v, seed=s, per_seq=[{"MSR": b} for b in base], align="recover")
               for v in ("cmc", "cmc_cmc") for s in (1, 2)]
    records.append(_seq_report(None, seed=None, per_seq=[{"MSR": b} for b in base]))  # not in the pass
    fast = [0.010 + 0.001 * i for i in range(8)]
    slow = [0.020 + 0.002 * i for i in range(8)]
    speed = [_timed_run(tmp_path / "cmc", "cmc", fast), _timed_run(tmp_path / "cmc_cmc", "cmc_cmc", slow)]
    compare.apply_speed_pass(records, speed)
    assert records[0]["fps"]["e2e"] == speed[0]["fps"]["e2e"] == records[1]["fps"]["e2e"]
    assert records[0]["fps_source"] == speed[0]["path"]
    assert records[0]["sequences"][3]["FPS"] == pytest.approx(1.0 / 0.013)  # 4 timed frames of 0.013 s
    assert records[-1]["fps"] == {}
    table = {t.name: t for t in compare.build_tables(records)}["significance"]
    rows = {(row, cells[1]): cells for row, cells in zip(table.index, table.cells)}
    fps = rows[("CMC* vs CMC+CMC", "FPS")]
    assert fps[0] == "(b)" and fps[7:] == ["0.008", "8", "supported"]
    # one speed-pass run per method: no seed spread is made up from its copies
    assert fps[5] == "-" and compare.group_methods(records)[("synthetic", "cmc")].stat("FPS")[1:] == (
        pytest.approx(float("nan"), nan_ok=True), 1)
    assert ("CMC* vs CMC+CMC", "MSR") in rows and rows[("CMC* vs CMC+CMC", "MSR")][-1] == "undecided"
    assert compare.verdict(-0.1, 0.01) == "contradicted" and compare.verdict(0.1, 0.05) == "undecided"


def test_the_seed_names_cover_the_config_folders():
    """Every variant (conf/variant/) and baseline (conf/tracker/) has the seed's label and its place in the
    tables: a config added or renamed cannot fall out of them unnoticed."""
    assert set(compare.VARIANT_LABELS) == set(variant_names())
    assert set(compare.BASELINE_LABELS) == set(baseline_names())
    assert set(compare.ROBUSTNESS_ORDER) == set(variant_names())
    assert compare.ABLATION_ORDER == ("cmc1_ceb_cmc", "cmc1_cmc", "cmc1", "cmc_ceb_cmc", "cmc_cmc", "cmc")
