"""Collect the per-seed eng.testb scores of every model into results.md and a bar chart (F1 overall and
per entity type); the machinery is ``../common/results.py``."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common"))
from results import Task, mean_sd, report_command  # noqa: E402

TYPES = ["PER", "LOC", "ORG", "MISC"]


def type_f1(entity_type: str):
    return lambda run: run["ents_per_type"].get(entity_type, {}).get("f", 0.0)


def per_type_section(rows, models):
    lines = ["", "## F1 per entity type", "", "| Model | " + " | ".join(TYPES) + " |", "|---|" + "---|" * len(TYPES)]
    for model, label in models.items():
        if rows[model]:
            lines.append(f"| {label} | " + " | ".join(mean_sd([type_f1(t)(r) for r in rows[model]], 100) for t in TYPES) + " |")
    return lines


TASK = Task(
    title="CoNLL-2003 NER: scores on eng.testb",
    selection="Model selection (model-best) uses eng.testa only; eng.testb is read once per final model.",
    best_by="eng.testa F1",
    models={
        "baseline": "CNN tok2vec (baseline)",
        "pretrain": "CNN tok2vec + `spacy pretrain`",
        "elmo": "CNN tok2vec + ELMo listener (ner_elmo.cfg)",
    },
    columns={"Precision": lambda r: r["ents_p"], "Recall": lambda r: r["ents_r"], "F1": lambda r: r["ents_f"]},
    chart_groups={"overall": lambda r: r["ents_f"], **{t: type_f1(t) for t in TYPES}},
    chart_floor=["overall"],
    chart_ylabel="F1 on eng.testb",
    chart_title="CoNLL-2003 NER, mean ± sd over seeds",
    chart_alt="F1 per model",
    chart_size=(8, 4),
    extra_sections=[per_type_section],
)

if __name__ == "__main__":
    typer.run(report_command(TASK, extra_models=True))
