"""What a newcomer types first: ``--version`` and ``--help``."""
import re
import subprocess
import sys

import pytest

import spacy_elmo


def test_version_names_the_package_and_what_it_runs_on(cli):
    result = cli("--version")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"spacy-elmo (\S+) \(torch \S+, spaCy \S+, Python \d+\.\d+\.\d+\)\n", result.stdout), result.stdout
    assert result.stdout.split()[1] == spacy_elmo.__version__


@pytest.mark.slow
def test_version_from_the_shell():
    proc = subprocess.run([sys.executable, "-m", "spacy_elmo", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"spacy-elmo {spacy_elmo.__version__} (torch ")


def test_embed_usage_names_its_arguments_in_capitals(cli):
    result = cli("embed", "--help")
    assert result.exit_code == 0
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    # both in capitals, as the README writes them (typer >= 0.2x puts required arguments in braces)
    assert re.search(r"embed \[OPTIONS\] \{?INPUT\}? \{?OUTPUT\}?$", usage.strip()), usage
