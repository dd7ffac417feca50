"""Issue 28, part 6: a reference to a section of the docs names a section that exists.

Sections move (README's "Performance" went to docs/performance.md, "When ELMo pays off" to
docs/training.md) and the words that cite them stay behind. Two kinds of citation are checked, in every
text file of the repository (code, help texts, configs, project files, docs, model cards):

- by name, as this package writes them: ``README, "Section"``, ``README's "Section"``,
  ``docs/usage.md, "Section"``, ``BENCHMARKS.md "Section"`` (``README`` is the nearest README.md above
  the file: a project's own, else the repository's); the name must start a heading of that file;
- markdown links with an anchor, ``[text](page.md#anchor)``: the anchor must be one GitHub makes for a
  heading of that page.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

from tests.helpers import ROOT

CITATION = re.compile(r"""(README|BENCHMARKS|docs/[a-z-]+)(?:\.md)?(?:'s)?,? (?:section )?["“']([^"”'\n]{3,80})["”']""")
ANCHOR_LINK = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")
SKIP = {".git", ".venv", "node_modules", "__pycache__", "build", "dist"}
EXTENSIONS = ("py", "md", "cfg", "yml", "toml", "sh")


def text_files() -> List[Path]:
    """The repository's own text files: not in SKIP's folders and not in any virtual environment (a folder
    with ``pyvenv.cfg``, wherever it is: CI makes ``.ci/venv``), so installed packages' docs are not checked."""
    venvs = [p.parent for p in ROOT.rglob("pyvenv.cfg")]
    files = []
    for ext in EXTENSIONS:
        files += [p for p in ROOT.rglob(f"*.{ext}") if not SKIP & set(p.relative_to(ROOT).parts)
                  and "egg-info" not in str(p) and not any(v in p.parents for v in venvs)]
    return sorted(files)


def headings(page: Path) -> List[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)  # not comments in code blocks
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", ""))
    return text.replace(" ", "-")


def cited_page(source: Path, name: str) -> Optional[Path]:
    if name != "README":
        return ROOT / f"{name}.md"
    for folder in [source.parent, *source.parent.parents]:
        if (folder / "README.md").is_file():
            return folder / "README.md"
        if folder == ROOT:
            break
    return None


def test_every_section_cited_by_name_exists():
    stale, n = [], 0
    for path in text_files():
        if path == Path(__file__):
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            page, section = cited_page(path, match.group(1)), match.group(2)
            n += 1
            if page is None or not page.is_file() or not any(h.startswith(section) for h in headings(page)):
                stale.append(f"{path.relative_to(ROOT)}: {match.group(0)} (no such heading in {page and page.relative_to(ROOT)})")
    assert n > 10  # the pattern finds the citations
    assert not stale, "sections cited that do not exist (moved?):\n" + "\n".join(stale)


def test_every_anchor_link_resolves():
    broken = []
    for path in text_files():
        if path.suffix != ".md":
            continue
        for target, anchor in ANCHOR_LINK.findall(path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            page = (path.parent / target) if target else path
            if not page.is_file() or anchor not in {slug(h) for h in headings(page)}:
                broken.append(f"{path.relative_to(ROOT)} -> {target}#{anchor}")
    assert not broken, broken


PACKAGE_PATH = re.compile(r"\b((?:spacy_elmo|docs)/[\w/.-]+\.(?:py|md|cfg|json|yml|sh))\b")
#: records of what was true when they were written, not guides to today's tree
HISTORY = {"BENCHMARKS.md", "CHANGELOG.md"}


def test_every_file_path_cited_exists():
    """``spacy_elmo/bilm/batched_lstm.py`` moved to ``bilm/fast/`` and docs/pretraining.md kept the old path."""
    missing = []
    for path in text_files():
        if path.name in HISTORY or path == Path(__file__):
            continue
        for cited in PACKAGE_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (ROOT / cited).exists() and not (path.parent / cited).exists():
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert not missing, "files cited that do not exist (moved?):\n" + "\n".join(sorted(set(missing)))


def test_the_check_catches_a_moved_section(tmp_path):
    """The section the issue found stale, cited the old way, is reported."""
    assert not any(h.startswith("Performance") for h in headings(ROOT / "README.md"))
    assert not any(h.startswith("When ELMo pays off") for h in headings(ROOT / "README.md"))
    assert CITATION.search("See README, 'Performance'.").group(2) == "Performance"
    assert slug("Memory: every cache and copy") == "memory-every-cache-and-copy"


#: words a newcomer tripped on in the user-facing text (issue 28): jargon of the team, not of the reader
JARGON = re.compile(r"\bmain job\b|\brooms?\b", re.I)


def user_facing() -> List[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("projects/*/README.md")),
            *sorted(ROOT.glob("spacy_elmo/models/*/MODEL_CARD.md")), *sorted(ROOT.glob("spacy_elmo/cli/*.py"))]


def test_no_team_jargon_in_user_facing_text():
    found = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in user_facing() for m in JARGON.finditer(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_route_is_explained_where_the_docs_use_it():
    assert "a *route* is one of several implementations" in (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
