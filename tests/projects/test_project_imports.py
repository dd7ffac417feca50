"""Issue 28, part 6: every project command runs after the install its README names.

For each command of each ``projects/*/project.yml``, the Python it runs (``python SCRIPT`` and the
local modules that script imports, or ``python -m MODULE``) is read with ``ast``, and every top-level
module it imports must be the standard library, spacy_elmo, a local module of the projects, or a
distribution of ``pip install "spacy-elmo[projects]"`` (the package's dependencies plus the
``projects`` extra). A new import without its line in the extra fails here, not in a user's
``weasel run`` (``No module named 'floret'`` was how it was found).
"""
from __future__ import annotations

import ast
import re
import shlex
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest
import srsly

from tests.helpers import ROOT

PROJECTS = ROOT / "projects"
COMMON = PROJECTS / "common"
EXTRA = "projects"
INSTALL = f'pip install "spacy-elmo[{EXTRA}]"'
CHECKOUT_INSTALL = f'pip install -e ".[{EXTRA}]"'
#: distribution name -> the top-level module it provides, where they differ
MODULE_OF = {"pyyaml": "yaml", "scikit-learn": "sklearn"}
#: executables a command may start, and the distribution that provides each
EXECUTABLES = {"python": None, "python3": None, "weasel": "weasel", "spacy": "spacy", "spacy-elmo": "spacy-elmo"}


def requirement_names(requirements: List[str]) -> Set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def provided_modules() -> Set[str]:
    """Top-level modules of ``pip install "spacy-elmo[projects]"``."""
    project = _toml()["project"]
    names = requirement_names(project["dependencies"]) | requirement_names(project["optional-dependencies"][EXTRA])
    return {MODULE_OF.get(n, n.replace("-", "_")) for n in names} | {"spacy_elmo"}


def _toml() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def commands() -> Iterator[Tuple[Path, str, List[str]]]:
    """``(project dir, command name, argv)`` for every line of every command's script."""
    for yml in sorted(PROJECTS.glob("*/project.yml")):
        for command in srsly.read_yaml(yml).get("commands", []):
            for line in command.get("script", []):
                yield yml.parent, command["name"], shlex.split(line)


def imports_of(path: Path) -> Set[str]:
    """Top-level modules that ``path`` imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def outside_modules(script: Path) -> Dict[str, Path]:
    """Every module that ``script`` needs from outside: local modules (beside it, or in projects/common,
    which the scripts put on sys.path) are followed; -> ``{module: the file that imports it}``."""
    needed: Dict[str, Path] = {}
    todo, seen = [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports_of(path):
            local = [d / f"{module}.py" for d in (path.parent, COMMON) if (d / f"{module}.py").is_file()]
            if local:
                todo.append(local[0])
            elif module not in sys.stdlib_module_names and module != "__future__":
                needed.setdefault(module, path)
    return needed


def test_every_project_command_imports_only_what_the_projects_extra_installs():
    provided = provided_modules()
    missing, n_scripts = [], 0
    for project, name, argv in commands():
        executable = argv[0]
        assert executable in EXECUTABLES, f"{project.name}: command {name!r} starts {executable!r}; add it to the check"
        if EXECUTABLES[executable] is not None:
            if EXECUTABLES[executable].replace("-", "_") not in provided:
                missing.append(f"{project.name} {name}: the executable {executable}")
            continue
        if argv[1] == "-m":
            needed = {argv[2].split(".")[0]: project / "project.yml"}
        else:
            script = (project / argv[1]).resolve()
            assert script.is_file(), f"{project.name}: command {name!r} runs {argv[1]}, which does not exist"
            needed, n_scripts = outside_modules(script), n_scripts + 1
        missing += [f"{project.name} {name}: {module} (imported by {path.relative_to(ROOT)})"
                    for module, path in needed.items() if module not in provided]
    assert n_scripts > 10  # the parsing found the projects' scripts
    assert not missing, f"not installed by {INSTALL}; add them to the {EXTRA!r} extra in pyproject.toml:\n" + "\n".join(missing)


def test_floret_and_weasel_are_in_the_extra():
    """What `weasel run vectors` needed and nothing named (the issue's report)."""
    extra = requirement_names(_toml()["project"]["optional-dependencies"][EXTRA])
    assert {"floret", "weasel"} <= extra


@pytest.mark.parametrize("readme", sorted(PROJECTS.glob("*/README.md")), ids=lambda p: p.parent.name)
def test_every_project_readme_names_the_install(readme):
    text = readme.read_text(encoding="utf-8")
    assert INSTALL in text and CHECKOUT_INSTALL in text, f"{readme} does not say `{INSTALL}` and `{CHECKOUT_INSTALL}`"


def test_the_check_finds_a_missing_module(tmp_path):
    """The check can fail: a script importing a module nobody installs is reported."""
    script = tmp_path / "new_step.py"
    script.write_text("import json\nimport no_such_dependency.sub\nfrom . import x\n", encoding="utf-8")
    assert set(outside_modules(script)) == {"no_such_dependency"}
    assert "no_such_dependency" not in provided_modules()
