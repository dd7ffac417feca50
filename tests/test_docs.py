"""README.md is the front door and docs/ the manual: every link resolves, every page is linked, and the
code blocks marked ``<!-- doctest -->`` (the cheap ones: the packaged model, files in examples/) run
as written. A marked ``python`` block runs in one fresh interpreter; a marked ``bash`` block runs line
by line in a scratch folder that sees ``examples/`` and ``configs/``."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = "<!-- doctest -->"
BLOCK = re.compile(r"^" + re.escape(MARK) + r"\s*\n```(python|bash)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def marked_blocks():
    for page in PAGES:
        for n, match in enumerate(BLOCK.finditer(page.read_text(encoding="utf-8"))):
            yield pytest.param(match.group(1), match.group(2), id=f"{page.relative_to(ROOT)}-{n}")


def test_every_relative_link_resolves_and_every_docs_page_is_linked_from_the_readme():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
    readme_links = {(ROOT / t).resolve() for t in LINK.findall((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert {p.resolve() for p in PAGES[1:]} <= readme_links, "a docs page the README does not link to"


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    assert len(list(BLOCK.finditer("\n".join(lines) + "\n"))) >= 2  # the quickstart is checked


@pytest.mark.slow
@pytest.mark.parametrize("language, code", list(marked_blocks()))
def test_marked_code_blocks_run(language, code, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    for name in ("examples", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    if language == "python":
        result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return
    for line in code.splitlines():
        command = line.split(" #")[0].strip()
        if not command or command.startswith("#") or command.startswith(("pip ", "python -m venv")):
            continue  # installs are the set-up's business (tests/test_install_docs.py checks them)
        command = re.sub(r"^python ", f"{sys.executable} ", command)
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
