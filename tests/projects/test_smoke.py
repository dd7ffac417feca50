"""Smoke runs of the benchmark projects: the whole `weasel run all` workflow on a few docs.

Each project is copied into a temporary directory and run end to end (convert, spacy
pretrain on a few lines of the LM corpus, the three models with a few training steps,
evaluation, report) with a tiny random biLM in place of the default model, so the test
checks the wiring, not the scores. The full runs are in BENCHMARKS.md, not here.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import DATA, ROOT, needs_shared, tiny_options

PROJECTS = ROOT / "projects"


def needs_data(name: str):
    return needs_shared(DATA / name, DATA / "lm-corpus" / "train.txt")


@pytest.fixture
def tiny_bilm_dir(tmp_path):
    import torch

    from spacy_elmo.bilm import BiLM

    torch.manual_seed(0)
    path = tmp_path / "tiny_bilm"
    BiLM(tiny_options()).save(path)
    return path


def run_project(name: str, tmp_path: Path, elmo_config: str, bilm_dir: Path, **overrides) -> Path:
    project = tmp_path / name
    shutil.copytree(PROJECTS / name, project, ignore=shutil.ignore_patterns(
        "corpus", "pretrain", "training", "metrics", "project.lock", "results.*", "__pycache__"))
    variables = {
        "lm_corpus": DATA / "lm-corpus" / "train.txt",
        "elmo_config": ROOT / "configs" / elmo_config,
        "elmo_model": bilm_dir,
        "seeds": "1",
        "lm_limit": 40,
        "max_steps": 4,
        "eval_frequency": 2,
        **overrides,
    }
    cmd = [sys.executable, "-m", "weasel", "run", "all", str(project)]
    cmd += [f"--vars.{key}={value}" for key, value in variables.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return project


def result_rows(results_md: Path) -> dict:
    """Table rows of results.md keyed by model label: {label: [cells]}."""
    rows = {}
    for line in results_md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 2 and cells[0] != "Model":
            rows.setdefault(cells[0], cells[1:])
    return rows


def check_chart(project: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in (project / "results.md").read_text()
    else:
        assert (project / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_data("conll2003")
def test_conll2003_ner_project_smoke(tmp_path, tiny_bilm_dir):
    project = run_project("conll2003_ner", tmp_path, "ner_elmo.cfg", tiny_bilm_dir,
                          data_dir=DATA / "conll2003", limit=3)
    rows = result_rows(project / "results.md")
    for label in ("CNN tok2vec (baseline)", "CNN tok2vec + `spacy pretrain`",
                  "CNN tok2vec + ELMo listener (ner_elmo.cfg)"):
        assert label in rows, f"{label!r} missing from results.md: {sorted(rows)}"
        seeds, p, r, f = rows[label][:4]
        assert seeds == "1"
        assert all(0.0 <= float(x) <= 100.0 for x in (p, r, f))
    for model in ("baseline", "pretrain", "elmo"):
        scores = json.loads((project / "metrics" / model / "seed1.json").read_text())
        assert scores["n_docs"] == 3 and scores["words_per_s"] > 0
        assert set(scores) >= {"ents_p", "ents_r", "ents_f", "ents_per_type"}
    assert (project / "pretrain" / "model-last.bin").stat().st_size > 0
    check_chart(project)


@needs_data("movie_reviews")
def test_movie_reviews_textcat_project_smoke(tmp_path, tiny_bilm_dir):
    project = run_project("movie_reviews_textcat", tmp_path, "textcat_elmo.cfg", tiny_bilm_dir,
                          data_dir=DATA / "movie_reviews", limit=3)
    rows = result_rows(project / "results.md")
    for label in ("ensemble, CNN tok2vec (baseline)", "ensemble, CNN tok2vec + `spacy pretrain`",
                  "ensemble, CNN tok2vec + ELMo listener (textcat_elmo.cfg)"):
        assert label in rows, f"{label!r} missing from results.md: {sorted(rows)}"
        seeds, accuracy, macro_f = rows[label][:3]
        assert seeds == "1"
        assert 0.0 <= float(accuracy) <= 100.0 and 0.0 <= float(macro_f) <= 100.0
    for model in ("baseline", "pretrain", "elmo"):
        scores = json.loads((project / "metrics" / model / "seed1.json").read_text())
        assert scores["n_docs"] == 6 and scores["words_per_s"] > 0
    check_chart(project)
    # the dev-only bag-of-words reference: one dev macro F1 per epoch
    proc = subprocess.run([sys.executable, "-m", "weasel", "run", "bow-reference", str(project)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    scores = [float(m) for m in re.findall(r"epoch \d+: loss [\d.]+, dev macro F1 ([\d.]+)", proc.stdout)]
    assert len(scores) == 5 and all(0.0 <= f <= 100.0 for f in scores), proc.stdout[-2000:]
