"""Score a trained NER pipeline on a held-out DocBin and time it with nlp.pipe (``../common/scoring.py``).

Predictions run on the gold tokenisation (Doc objects built from the gold words), so the scores are
comparable with the CoNLL-2003 literature.
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common"))
from scoring import Scoring, evaluate_command  # noqa: E402


def gold_tokenisation(nlp, gold):
    from spacy.tokens import Doc

    return [Doc(nlp.vocab, words=[t.text for t in g], spaces=[bool(t.whitespace_) for t in g]) for g in gold]


SCORING = Scoring(
    inputs=gold_tokenisation,
    scores=lambda s, predicted, gold: {k: s[k] for k in ("ents_p", "ents_r", "ents_f", "ents_per_type")},
    summary=lambda r: f"P {100 * r['ents_p']:.2f} R {100 * r['ents_r']:.2f} F {100 * r['ents_f']:.2f}",
    warm_up_docs=8,
    batch_size=64,
    test_set="testb.spacy",
)

if __name__ == "__main__":
    typer.run(evaluate_command(SCORING))
