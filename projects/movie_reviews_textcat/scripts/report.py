"""Collect the per-seed test.csv scores of every model into results.md and a bar chart (accuracy and
macro F1); the machinery is ``../common/results.py``."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common"))
from results import Task, report_command  # noqa: E402

TASK = Task(
    title="Movie reviews (pos/neg): scores on test.csv",
    selection="Model selection (model-best) uses the dev split held out from train.csv only; test.csv is read "
              "once per final model.",
    best_by="dev macro F1",
    models={
        "baseline": "ensemble, CNN tok2vec (baseline)",
        "pretrain": "ensemble, CNN tok2vec + `spacy pretrain`",
        "elmo": "ensemble, CNN tok2vec + ELMo listener (textcat_elmo.cfg)",
    },
    columns={"Accuracy": lambda r: r["accuracy"], "Macro F1": lambda r: r["macro_f"]},
    chart_groups={"Accuracy": lambda r: r["accuracy"], "Macro F1": lambda r: r["macro_f"]},
    chart_ylabel="score on test.csv (%)",
    chart_title="Movie reviews (pos/neg), mean ± sd over seeds",
    chart_alt="Accuracy and macro F1 per model",
)

if __name__ == "__main__":
    typer.run(report_command(TASK))
