"""Pretraining on a machine with torch but no spaCy: pretrain --pretokenized, pretrain-eval and export
run in subprocesses where spaCy, thinc and spaCy's other dependencies cannot be imported."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

from .corpus_helpers import write_corpus

# spaCy and the packages only spaCy brings; importing any of them fails (and is logged) in the subprocess.
BLOCKED = ["spacy", "thinc", "confection", "srsly", "catalogue", "cymem", "preshed", "murmurhash",
           "wasabi", "weasel", "blis", "langcodes", "spacy_legacy", "spacy_loggers"]

BLOCKER = """
import os, sys

class _NoSpacy:
    blocked = set(os.environ["NO_SPACY_BLOCKED"].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            with open(os.environ["NO_SPACY_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NoSpacy())
"""


@pytest.fixture
def no_spacy(tmp_path):
    """Run ``python -m spacy_elmo ...`` (or ``python -c``) where spaCy cannot be imported."""
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "blocked_imports.txt"
    log.touch()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocker"), str(ROOT)]),
               NO_SPACY_BLOCKED=",".join(BLOCKED), NO_SPACY_LOG=str(log),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="200")

    def run(*args, code=None):
        argv = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "spacy_elmo", *map(str, args)]
        return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    run.attempts = lambda: log.read_text().split()
    return run


@pytest.mark.slow
def test_the_blocker_really_blocks_spacy(no_spacy):
    result = no_spacy(code="import spacy")
    assert result.returncode != 0 and "blocked by the test" in result.stderr
    assert no_spacy.attempts() == ["spacy"]


@pytest.mark.slow
def test_pretrain_eval_export_and_init_from_run_without_spacy(no_spacy, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", 120, seed=1)
    run_dir, out = tmp_path / "run", tmp_path / "exported"
    result = no_spacy("pretrain", corpus, run_dir, "--config", ROOT / "configs" / "pretrain" / "tiny.cfg", "--pretokenized",
                      "--no-progress", "--training.max_steps", "2", "--training.checkpoint_every_steps", "0")
    assert result.returncode == 0, result.stderr
    assert "done: step 2" in result.stdout
    assert "pretokenized = true" in (run_dir / "config.cfg").read_text(encoding="utf-8")

    result = no_spacy("pretrain-eval", run_dir, corpus, "--max-sentences", "20", "--output", tmp_path / "eval.json")
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert figures["sentences"] == 20 and 1 < figures["forward_ppl"] < figures["vocab_size"] * 2

    result = no_spacy("export", run_dir, out)
    assert result.returncode == 0, result.stderr
    assert (out / "options.json").is_file() and (out / "weights.hdf5").is_file() and (out / "vocab.txt").is_file()

    result = no_spacy("pretrain", corpus, tmp_path / "adapted", "--init-from", run_dir, "--config", ROOT / "configs" / "pretrain" / "tiny.cfg",
                      "--pretokenized", "--no-progress", "--training.max_steps", "1", "--training.checkpoint_every_steps", "0")
    assert result.returncode == 0, result.stderr
    assert "done: step 1" in result.stdout
    assert no_spacy.attempts() == [], "something on the spaCy-free path tried to import spaCy or its dependencies"


@pytest.mark.slow
def test_a_command_that_needs_spacy_says_what_to_install_in_one_line(no_spacy, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", 20)
    result = no_spacy("pretrain", corpus, tmp_path / "run", "--config", ROOT / "configs" / "pretrain" / "tiny.cfg", "--no-progress")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "pip install 'spacy>=3.7,<4'" in result.stderr and "--pretokenized" in result.stderr
    assert "spacy" in no_spacy.attempts()


@pytest.mark.slow
def test_help_lists_every_command_without_spacy(no_spacy):
    result = no_spacy("--help")
    assert result.returncode == 0, result.stderr
    for command in ["info", "export", "convert", "pretrain", "pretrain-eval", "embed", "similarity", "visualize"]:
        assert f" {command} " in result.stdout, command
