"""Score a trained text classifier on held-out reviews and time it with nlp.pipe (``../common/scoring.py``).

Accuracy is the share of reviews whose highest-scoring label is the gold label (the labels are
exclusive); macro F1 comes from spaCy's textcat scorer. ``nlp.pipe`` reads the raw texts (tokenizer
included).
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common"))
from scoring import Scoring, evaluate_command  # noqa: E402


def kept_scores(scores, predicted, gold):
    correct = sum(max(p.cats, key=p.cats.get) == max(g.cats, key=g.cats.get) for p, g in zip(predicted, gold))
    return {"accuracy": correct / len(gold), "macro_f": scores["cats_macro_f"], "f_per_type": scores["cats_f_per_type"]}


SCORING = Scoring(
    inputs=lambda nlp, gold: [g.text for g in gold],
    scores=kept_scores,
    summary=lambda r: f"accuracy {100 * r['accuracy']:.2f} macro F1 {100 * r['macro_f']:.2f}",
    warm_up_docs=4,
    batch_size=16,
    test_set="test.spacy",
)

if __name__ == "__main__":
    typer.run(evaluate_command(SCORING))
