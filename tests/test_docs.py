"""The repository explains its own design: no file cites a document outside it.

Code, tests, scripts, netlists, docs, README and Makefile cite ``docs/design.md §N``
and ``docs/architecture.md``; these tests fail when a citation points outside the
repository (the old design notes were never part of it), at a file that does not
exist, at a section that ``docs/design.md`` does not have, or when a markdown link
in README.md or docs/ points at a missing file or heading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
DESIGN = ROOT / "docs" / "design.md"

SCANNED_DIRS = ("resbench", "tests", "scripts", "netlists", "docs")
SCANNED_FILES = ("README.md", "Makefile")
SKIPPED_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache"}

# The outside notes' name, spelled so that this file does not match itself.
_OUTSIDE = "DESIGN"
OUTSIDE_CITATION = re.compile(_OUTSIDE + r"(?:\.md\b|\s*§|\s+section\b)")
DOCS_PATH = re.compile(r"\bdocs/[\w./-]*?\.md\b")
SECTION_CITATION = re.compile(r"\bdesign\.md\s*§\s*(\d+)((?:\s*,\s*§\s*\d+)*)")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _files(dirs: tuple[str, ...], files: tuple[str, ...]) -> list[Path]:
    out = [ROOT / f for f in files if (ROOT / f).is_file()]
    for d in dirs:
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts):
                out.append(p)
    return out


def _hits(paths: list[Path], pattern: re.Pattern[str]) -> list[tuple[Path, int, str]]:
    found = []
    for p in paths:
        text = _text(p)
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for m in pattern.finditer(line):
                found.append((p, n, m))
    return found


def _where(p: Path, n: int) -> str:
    return f"{p.relative_to(ROOT)}:{n}"


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(path.read_text(encoding="utf-8"))}


def design_sections() -> set[int]:
    return {int(m) for m in re.findall(r"^## (\d+)\. ", DESIGN.read_text("utf-8"), re.M)}


def test_no_file_cites_the_outside_design_notes():
    paths = [p for p in _files(SCANNED_DIRS, SCANNED_FILES) if p != THIS]
    hits = _hits(paths, OUTSIDE_CITATION)
    if hits:
        pytest.fail(
            "cite docs/design.md §N instead:\n"
            + "\n".join(f"{_where(p, n)}: {m.group(0)!r}" for p, n, m in hits)
        )


def test_cited_docs_files_exist():
    paths = _files(("resbench",), ("README.md",))
    hits = _hits(paths, DOCS_PATH)
    assert any(m.group(0) == "docs/design.md" for _, _, m in hits)
    missing = [(p, n, m) for p, n, m in hits if not (ROOT / m.group(0)).is_file()]
    if missing:
        pytest.fail(
            "cited but not in the repository:\n"
            + "\n".join(f"{_where(p, n)}: {m.group(0)}" for p, n, m in missing)
        )


def test_cited_design_sections_exist():
    sections = design_sections()
    assert sections == set(range(1, max(sections) + 1)), f"sections not 1..N: {sections}"
    paths = _files(SCANNED_DIRS, SCANNED_FILES)
    bad = []
    for p, n, m in _hits(paths, SECTION_CITATION):
        cited = [int(m.group(1))] + [int(x) for x in re.findall(r"\d+", m.group(2))]
        bad += [f"{_where(p, n)}: §{k}" for k in cited if k not in sections]
    if bad:
        pytest.fail("docs/design.md has no such section:\n" + "\n".join(bad))


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_markdown_links_resolve(doc: str):
    path = ROOT / doc
    bad = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for target in MD_LINK.findall(line):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                bad.append(f"{doc}:{n}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                bad.append(f"{doc}:{n}: {target} (no such heading)")
    if bad:
        pytest.fail("broken links:\n" + "\n".join(bad))


def test_slug_follows_github():
    assert slug("5. ngspice through PySpice") == "5-ngspice-through-pyspice"
    assert slug("8. The paper's networks and reference numbers") == (
        "8-the-papers-networks-and-reference-numbers"
    )
    assert slug("Netlist dialect (the SPICE subset ngspice reads for `.op`)") == (
        "netlist-dialect-the-spice-subset-ngspice-reads-for-op"
    )
