"""Smoke runs of the benchmark projects: the whole `weasel run all` workflow on a few docs.

Each project is copied into a temporary directory and run end to end (convert, spacy
pretrain on a few lines of the LM corpus, the three models with a few training steps,
evaluation, report) with a tiny random biLM in place of the default model, so the test
checks the wiring, not the scores: each model was trained as its config says (ELMo only in the
ELMo model, the pretrained tok2vec only in the pretrain model), the scores are consistent in
themselves, and results.md reports exactly what the per-seed files hold. The full runs are in
BENCHMARKS.md, not here.
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
    shutil.copytree(PROJECTS / "common", tmp_path / "common", ignore=shutil.ignore_patterns("__pycache__"))  # ../common
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


def check_models_were_trained_as_configured(project: Path, metric: str) -> None:
    """ELMo in the ELMo model only, the pretrained tok2vec in the pretrain model only; each run timed, and the
    metrics file of each seed names the model it scored."""
    from spacy.util import load_config

    for model in ("baseline", "pretrain", "elmo"):
        seed = project / "training" / model / "seed1"
        config = load_config(seed / "model-best" / "config.cfg", interpolate=False)
        assert ("elmo" in config["nlp"]["pipeline"]) == (model == "elmo"), (model, config["nlp"]["pipeline"])
        init_tok2vec = config["paths"].get("init_tok2vec")
        assert (init_tok2vec not in (None, "null", "")) == (model == "pretrain"), (model, init_tok2vec)
        assert json.loads((seed / "train_time.json").read_text())["wall_s"] > 0
        scores = json.loads((project / "metrics" / model / "seed1.json").read_text())
        assert Path(scores["model"]).parts[-3:] == (model, "seed1", "model-best")
        assert scores["n_words"] > 0 and 0.0 <= scores[metric] <= 1.0


def check_report_holds_the_metrics(project: Path, rows: dict, labels: dict, keys: list) -> None:
    """Each results.md cell is the per-seed file's value, in percent (one seed: no sd)."""
    for model, label in labels.items():
        scores = json.loads((project / "metrics" / model / "seed1.json").read_text())
        cells = rows[label]
        assert cells[0] == "1"
        assert [float(c) for c in cells[1 : 1 + len(keys)]] == [float(f"{100 * scores[k]:.2f}") for k in keys], (label, cells)
        assert float(cells[-1]) == round(scores["words_per_s"])


def check_project(project: Path, labels: dict, table_keys: list, metric: str, n_docs: int) -> dict:
    """What both projects must show; returns each model's scores for the project's own checks."""
    rows = result_rows(project / "results.md")
    assert set(labels.values()) <= set(rows), f"models missing from results.md: {sorted(rows)}"
    check_report_holds_the_metrics(project, rows, labels, table_keys)
    check_models_were_trained_as_configured(project, metric)
    scores = {model: json.loads((project / "metrics" / model / "seed1.json").read_text()) for model in labels}
    assert all(s["n_docs"] == n_docs and s["words_per_s"] > 0 for s in scores.values())
    check_chart(project)
    return scores


def check_chart(project: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in (project / "results.md").read_text()
    else:
        assert (project / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@needs_data("conll2003")
def test_conll2003_ner_project_smoke(tmp_path, tiny_bilm_dir):
    project = run_project("conll2003_ner", tmp_path, "ner_elmo.cfg", tiny_bilm_dir,
                          data_dir=DATA / "conll2003", limit=3)
    labels = {"baseline": "CNN tok2vec (baseline)", "pretrain": "CNN tok2vec + `spacy pretrain`",
              "elmo": "CNN tok2vec + ELMo listener (ner_elmo.cfg)"}
    for scores in check_project(project, labels, ["ents_p", "ents_r", "ents_f"], "ents_f", n_docs=3).values():
        p, r, f = scores["ents_p"], scores["ents_r"], scores["ents_f"]
        assert f == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-9)  # F1 of its own P and R
        assert set(scores["ents_per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    assert (project / "pretrain" / "model-last.bin").stat().st_size > 0


@pytest.mark.slow
@needs_data("movie_reviews")
def test_movie_reviews_textcat_project_smoke(tmp_path, tiny_bilm_dir):
    project = run_project("movie_reviews_textcat", tmp_path, "textcat_elmo.cfg", tiny_bilm_dir,
                          data_dir=DATA / "movie_reviews", limit=3)
    labels = {"baseline": "ensemble, CNN tok2vec (baseline)", "pretrain": "ensemble, CNN tok2vec + `spacy pretrain`",
              "elmo": "ensemble, CNN tok2vec + ELMo listener (textcat_elmo.cfg)"}
    for scores in check_project(project, labels, ["accuracy", "macro_f"], "accuracy", n_docs=6).values():
        assert scores["accuracy"] * 6 == pytest.approx(round(scores["accuracy"] * 6))  # a share of 6 reviews
        assert set(scores["f_per_type"]) == {"pos", "neg"}
    # the dev-only bag-of-words reference: one dev macro F1 per epoch
    proc = subprocess.run([sys.executable, "-m", "weasel", "run", "bow-reference", str(project)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    scores = [float(m) for m in re.findall(r"epoch \d+: loss [\d.]+, dev macro F1 ([\d.]+)", proc.stdout)]
    assert len(scores) == 5 and all(0.0 <= f <= 100.0 for f in scores), proc.stdout[-2000:]
