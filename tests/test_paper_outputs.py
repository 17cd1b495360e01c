"""src.compare's outputs for a paper: booktabs LaTeX tables (best bold, second underlined), PDF plots, radar
colours that never repeat within a figure. No LaTeX engine is needed: the .tex files are parsed here."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from src import compare
from src.compare.tables import BEST, SECOND, emphasis, latex_escape
from src.metrics import plots
from tests.helpers.compare import record, write_fixture_runs
from tests.helpers.configs import compose_config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture
def study(tmp_path):
    return write_fixture_runs(tmp_path / "study")


# -- best and second ---------------------------------------------------------------------------------------
def test_emphasis_marks_the_best_and_the_second_as_printed():
    assert emphasis([0.5, 0.7, 0.6], "MSR") == ["", BEST, SECOND]
    assert emphasis([9.0, 6.7, 7.2], "APE") == ["", BEST, SECOND]  # less is better
    assert emphasis([0.701, 0.699, 0.5], "MSR") == [BEST, BEST, SECOND]  # 0.70 and 0.70 as printed: a tie
    assert emphasis([math.nan, 0.4, 0.3], "MPR") == ["", BEST, SECOND]
    assert emphasis([math.nan, 0.4], "MPR") == ["", ""]  # one value: nothing to compare
    assert emphasis([0.4, 0.4], "MPR") == [BEST, BEST]


def test_latex_escape():
    assert latex_escape("a_b & 10% #1 {x} ~ ^ \\") == (r"a\_b \& 10\% \#1 \{x\} \textasciitilde{} "
                                                       r"\textasciicircum{} \textbackslash{}")
    assert latex_escape("0.75±0.07") == r"0.75$\pm$0.07"
    assert latex_escape("<0.001") == r"\textless{}0.001"
    assert latex_escape("单模 w/o TSF") == "Single w/o TSF"


# -- parsing the LaTeX ---------------------------------------------------------------------------------------
def strip_escapes(text: str) -> str:
    return re.sub(r"\\[{}&%$#_]", "", text)


def check_balanced(tex: str) -> None:
    depth = 0
    for char in strip_escapes(tex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a } closes nothing"
    assert depth == 0, "an unclosed {"
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} without its \\begin"
    assert not stack, f"unclosed environments {stack}"


def unbrace(cell: str) -> tuple[str, str]:
    """A cell's mark (BEST for \\textbf, SECOND for \\underline) and its text."""
    for command, mark in ((r"\textbf", BEST), (r"\underline", SECOND)):
        if cell.startswith(command + "{") and cell.endswith("}"):
            return mark, cell[len(command) + 1:-1]
    return "", cell


def parse_table(tex: str) -> dict:
    """A table environment as src.compare writes it: caption, label, column count, header, rows of cells."""
    check_balanced(tex)
    assert tex.isascii(), "pdflatex reads ASCII (inputenc aside)"
    caption = re.search(r"\\caption\{(.*)\}\n", tex).group(1)
    label = re.search(r"\\label\{tab:([\w-]+)\}", tex).group(1)
    spec = re.search(r"\\begin\{tabular\}\{([lc]+)\}", tex).group(1)
    body = tex[tex.index(r"\toprule"):tex.index(r"\bottomrule")]
    assert body.count(r"\midrule") == 1
    lines = [ln for ln in body.splitlines() if ln.endswith(r"\\")]
    rows = []
    for line in lines:
        cells = [c.strip() for c in re.split(r"(?<!\\)&", line[:-2])]
        assert len(cells) == len(spec), f"{len(cells)} cells for {len(spec)} columns: {line}"
        rows.append(cells)
    # no special character left unescaped in the cells
    for cells in rows:
        for cell in cells:
            assert not re.search(r"(?<!\\)[_%#]", cell), cell
    return {"caption": caption, "label": label, "columns": len(spec), "header": rows[0], "rows": rows[1:]}


def number(text: str) -> float:
    return float(re.match(r"[\d.]+", text).group(0))


def test_latex_tables_parse_and_mark_the_best(study, tmp_path):
    records = compare.collect([study])
    tables, _ = compare.write_outputs(records, tmp_path / "out", plots=False, fmt="latex")
    out = tmp_path / "out"
    for table in tables:
        parsed = parse_table((out / f"{table.name}.tex").read_text())
        assert parsed["label"] == table.name and parsed["columns"] == 1 + len(table.columns)
        assert len(parsed["rows"]) == len(table.index)
    every = (out / "tables.tex").read_text()
    assert every.count(r"\begin{table}") == len(tables)
    check_balanced(every)
    methods = parse_table((out / "methods.tex").read_text())
    assert methods["header"][1:] == ["MDNet+RGBT", "CSR-DCF", "KCF+RGBT", "Single", "CMC+CMC",
                                     "Single w/o TSF", "Ours*"]
    rows = {cells[0]: [unbrace(c) for c in cells[1:]] for cells in methods["rows"]}
    for name in ("MPR", "MSR", "FPS"):
        values = [(mark, number(text)) for mark, text in rows[name] if text != "-"]
        distinct = sorted({v for _, v in values}, reverse=True)
        assert {v for m, v in values if m == BEST} == {distinct[0]}, name
        assert {v for m, v in values if m == SECOND} == {distinct[1]}, name
    # MPR: MDNet+RGBT 0.72 is the second, CMC* 0.75±0.07 the best; FPS: KCF+RGBT's 80 the best
    assert rows["MPR"][6] == (BEST, r"0.75$\pm$0.07") and rows["MPR"][0] == (SECOND, "0.72")
    assert rows["FPS"][2] == (BEST, "80.00")
    # tables of paired comparisons and before/after cells carry no marks
    significance = parse_table((out / "significance.tex").read_text())
    assert not any(unbrace(c)[0] for cells in significance["rows"] for c in cells)


def test_compare_format_option(study, tmp_path):
    out = tmp_path / "compare"
    cfg = compose_config("compare", [f"inputs=[{study}]", f"output_dir={out}", "log_wandb=false",
                                     "plots=false", "format=latex"])
    compare.run(cfg)
    assert (out / "tables.tex").is_file() and (out / "methods.tex").is_file()
    cfg = compose_config("compare", [f"inputs=[{study}]", f"output_dir={tmp_path / 'x'}", "log_wandb=false",
                                     "format=html"])
    with pytest.raises(SystemExit, match="format=html: expected one of markdown, latex"):
        compare.run(cfg)


# -- plots ---------------------------------------------------------------------------------------------------
def test_plots_are_saved_as_pdf_too(study, tmp_path):
    _, figures = compare.write_outputs(compare.collect([study]), tmp_path / "out")
    assert figures
    for png in figures.values():
        pdf = png.with_suffix(".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert b"/FontFile2" in pdf.read_bytes()  # TrueType fonts embedded (pdf.fonttype 42)


@pytest.mark.parametrize("n", [3, 10, 11, 20, 21, 40])
def test_palette_never_repeats(n):
    assert len(set(plots.palette(n))) == n


def test_radar_colours_never_repeat_within_a_figure():
    trackers = {f"tracker{i}": record(f"tracker{i}", mpr=0.3 + 0.02 * i, msr=0.25 + 0.02 * i)
                for i in range(14)}
    fig = plots.attribute_radar(trackers, "MSR")
    colours = [line.get_color() for line in fig.axes[0].lines]
    assert len(colours) == 14 and len(set(colours)) == 14
    curves = plots.curve_plot(trackers, "success")
    lines = [line for line in curves.axes[0].lines if line.get_label().split(" [")[0] in trackers]
    colours = [line.get_color() for line in lines]
    assert len(colours) == 14 and len(set(colours)) == 14
