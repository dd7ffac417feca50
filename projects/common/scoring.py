"""What the projects' ``evaluate.py`` share: score each finished seed once on the test set, and time it.

Speed is words per second of ``nlp.pipe`` over the whole set after a short warm-up, timed apart
from scoring. A seed counts as finished once ``train_seeds.py`` wrote its ``train_time.json``;
seeds with scores already written are skipped, so the test set is read once per final model
however often the workflow is re-run. A project says what it feeds ``nlp.pipe`` and what it keeps
of the scores (:class:`Scoring`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List

import typer


@dataclass
class Scoring:
    inputs: Callable[[Any, List[Any]], List[Any]]  # (nlp, gold docs) -> fresh inputs for nlp.pipe
    scores: Callable[[Dict[str, Any], List[Any], List[Any]], Dict[str, Any]]  # (spaCy scores, predicted, gold) -> kept
    summary: Callable[[Dict[str, Any]], str]  # one line of the kept scores
    warm_up_docs: int
    batch_size: int
    test_set: str  # e.g. "testb.spacy", for --help


def evaluate(scoring: Scoring, model_path: Path, data_path: Path, output_path: Path, batch_size: int, precision: str = "") -> None:
    """``precision``: the "elmo" component's inference precision (fp32 / bf16 / auto); "" keeps the pipeline's own."""
    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import DocBin
    from spacy.training import Example

    nlp = spacy.load(model_path, config={"components": {"elmo": {"precision": precision}}} if precision else {})
    gold = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    if not gold:
        raise SystemExit(f"{data_path} holds no docs")
    list(nlp.pipe(scoring.inputs(nlp, gold)[: scoring.warm_up_docs], batch_size=batch_size))  # lazy init, allocator, caches
    inputs = scoring.inputs(nlp, gold)
    start = time.perf_counter()
    predicted = list(nlp.pipe(inputs, batch_size=batch_size))
    seconds = time.perf_counter() - start
    n_words = sum(len(d) for d in predicted)
    scores = Scorer(nlp).score([Example(p, g) for p, g in zip(predicted, gold)])
    result = {
        "model": str(model_path),
        "data": str(data_path),
        "n_docs": len(gold),
        "n_words": n_words,
        "seconds": round(seconds, 3),
        "words_per_s": round(n_words / seconds, 1),
        **scoring.scores(scores, predicted, gold),
        "elmo_precision": precision or "as saved",
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    print(f"{model_path}: {scoring.summary(result)}  {result['words_per_s']:.0f} words/s -> {output_path}")


def evaluate_command(scoring: Scoring) -> Callable:
    """The ``evaluate.py`` command of a project."""

    def main(
        model_dir: Path = typer.Argument(..., file_okay=False, help="training/<model>: one seed*/ per run"),
        data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help=f"Gold .spacy file, e.g. {scoring.test_set}"),
        metrics_dir: Path = typer.Argument(..., file_okay=False, help="Scores go to <metrics_dir>/seed<N>.json"),
        batch_size: int = typer.Option(scoring.batch_size, "--batch-size", help="nlp.pipe batch size (docs)"),
        gpu_id: int = typer.Option(-1, "--gpu-id", "-g"),
        precision: str = typer.Option("", "--precision", help="the elmo component's inference precision: fp32, bf16 or auto (default: as saved)"),
    ):
        """Evaluate each finished seed once (see the module docstring)."""
        import spacy

        if gpu_id >= 0:
            spacy.require_gpu(gpu_id)
        # train_time.json is written only once `spacy train` has finished; model-best exists from the first
        # evaluation on, so it alone would let a run still in progress be scored on the test set.
        seeds = sorted(p for p in model_dir.glob("seed*")
                       if (p / "train_time.json").is_file() and (p / "model-best" / "meta.json").is_file())
        if not seeds:
            print(f"{model_dir}: no finished seed to evaluate")
        for seed_dir in seeds:
            out = metrics_dir / f"{seed_dir.name}.json"
            if out.is_file():
                print(f"{out} exists, not evaluating {seed_dir} again")
                continue
            evaluate(scoring, seed_dir / "model-best", data_path, out, batch_size, precision)

    return main
