"""The documentation: relative links resolve, README.md stays short, every command is documented.

Plain text checks (no torch, no project imports): a second or less.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200

# [text](target) and ![alt](target); the target may be <...> and may carry a "title"
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"                      # [text], one level of nested [..]
    r"\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")  # (target "title")
# [label]: target (reference definitions)
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ... (any scheme)


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [f for f in files if f.is_file()]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else re.sub(r"(`+)(?:(?!\1).)+?\1", "", line))
    return lines


def links(text: str) -> list[str]:
    prose = "\n".join(prose_lines(text))
    found = [m.group(1) for pattern in (INLINE_LINK, REFERENCE_LINK) for m in pattern.finditer(prose)]
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in found]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lowercased, punctuation removed (letters,
    digits, '_', '-' and spaces kept), each space turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)                         # inline HTML tags
    text = text.replace("`", "").replace("*", "")               # code spans, emphasis
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)              # _emphasis_ (snake_case stays)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def prose_lines_keep_code_spans(text: str) -> list[str]:
    """The lines outside fenced code blocks, as written (headings keep their code spans)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2, ... for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines_keep_code_spans(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if EXTERNAL.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part.split("?", 1)[0])
        dest = path if not file_part else (
            ROOT / file_part.lstrip("/") if file_part.startswith("/") else path.parent / file_part)
        if not dest.exists():
            problems.append(f"{target}: no such file or folder ({os.path.relpath(dest, ROOT)})")
            continue
        markdown = dest.is_file() and dest.suffix.lower() == ".md"
        if anchor and markdown and unquote(anchor) not in anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}")
    return problems


# -- the helpers follow GitHub's rules ----------------------------------------------------------------------
@pytest.mark.parametrize("heading, anchor", [
    ("Comparing runs: `python -m src.compare`", "comparing-runs-python--m-srccompare"),
    ("The network (`src/models/`)", "the-network-srcmodels"),
    ("Why does it drift? `scripts/diagnose_drift.py`", "why-does-it-drift-scriptsdiagnose_driftpy"),
    ("What one run on this machine shows (2026-11-24)", "what-one-run-on-this-machine-shows-2026-11-24"),
    ("Speed: fp32, bf16, channels-last, torch.compile", "speed-fp32-bf16-channels-last-torchcompile"),
    ("W&B: offline runs and syncing", "wb-offline-runs-and-syncing"),
    ("**Bold** and [a link](x.md)", "bold-and-a-link"),
])
def test_slug_follows_github(heading, anchor):
    assert slug(heading) == anchor


def test_link_helpers(tmp_path):
    text = ("[a](x.md) ![b](img/p.png \"title\") [c](<with space.md#top>) [d](https://e.org) `[e](code.md)`\n"
            "```\n[f](fenced.md)\n```\n[g]: ref.md#h\n")
    assert links(text) == ["x.md", "img/p.png", "with space.md#top", "https://e.org", "ref.md#h"]
    page = tmp_path / "p.md"
    page.write_text("# Top\n## Top\n```\n# not a heading\n```\n"
                    "[ok](#top-1) [bad](#not-a-heading) [gone](missing.md)\n")
    assert anchors(page) == {"top", "top-1"}
    assert len(broken_links(page)) == 2


# -- the checks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, \
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move text to docs/"


def documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def make_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return sorted({m.group(1) for m in re.finditer(r"^([a-zA-Z][\w-]*)\s*:(?!=)", text, re.MULTILINE)})


def test_every_make_target_is_documented():
    docs = documentation()
    targets = make_targets()
    assert {"train", "test"} <= set(targets)
    missing = [t for t in targets if not re.search(rf"\bmake {re.escape(t)}(?![\w-])", docs)]
    assert missing == [], f"Makefile targets not in README.md or docs/*.md: {missing}"


def has_main_guard(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)]
            consts = [n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)]
            if names == ["__name__"] and consts == ["__main__"]:
                return True
    return False


def entry_points() -> list[str]:
    """`python -m` modules of the package: modules with a main guard, packages with a __main__.py."""
    modules = set()
    for path in (ROOT / "src").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if path.name == "__main__.py":
            modules.add(".".join(parts[:-1]))
        elif path.name != "__init__.py" and has_main_guard(path):
            modules.add(".".join(parts))
    return sorted(modules)


def test_every_command_is_documented():
    docs = documentation()
    commands = entry_points()
    assert "src.train" in commands and "src.evaluate" in commands
    missing = [m for m in commands if not re.search(rf"python -m {re.escape(m)}(?![\w.])", docs)]
    scripts = sorted(p.name for p in (ROOT / "scripts").glob("*.py") if has_main_guard(p))
    missing += [f"scripts/{s}" for s in scripts if f"scripts/{s}" not in docs]
    assert missing == [], f"commands not in README.md or docs/*.md: {missing}"
