"""The CLI imports a command's module only when that command is used; ``import spacy_elmo`` needs no spaCy;
spaCy still finds the component through the package's entry points."""
import importlib
import json
import os
import subprocess
import sys

import pytest
import typer

from spacy_elmo.cli import _app, app


def fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return its stdout."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_command_table_names_exactly_the_registered_commands():
    for module in set(_app.COMMANDS.values()):
        importlib.import_module(f"spacy_elmo.cli.{module}")
    assert set(typer.main.get_group(app).commands) == set(_app.COMMANDS)


@pytest.mark.slow
def test_importing_the_package_and_the_cli_loads_no_spacy_and_no_command_module():
    loaded = json.loads(fresh_python(
        "import json, sys, spacy_elmo, spacy_elmo.cli\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('spacy', 'thinc') or m.startswith('spacy_elmo.cli.'))))"
    ))
    assert loaded == ["spacy_elmo.cli._app", "spacy_elmo.cli._common"]  # the app and how every command prints errors


@pytest.mark.slow
def test_running_a_command_imports_only_its_own_module():
    loaded = json.loads(fresh_python(
        "import json, sys\nfrom spacy_elmo.cli import app\n"
        "try:\n    app(['pretrain', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('spacy_elmo.cli.'))))"
    ).splitlines()[-1])
    assert loaded == ["spacy_elmo.cli._app", "spacy_elmo.cli._common", "spacy_elmo.cli.pretrain"]


@pytest.mark.slow
def test_spacy_finds_the_component_through_entry_points_in_a_fresh_process():
    out = fresh_python(
        "import spacy\nnlp = spacy.blank('en')\nnlp.add_pipe('elmo')\ndoc = nlp('Hello world .')\n"
        "print(type(nlp.get_pipe('elmo')).__module__, doc[0].vector.shape[0])"
    )
    module, width = out.split()
    assert module == "spacy_elmo.pipeline.pipe" and int(width) > 0
