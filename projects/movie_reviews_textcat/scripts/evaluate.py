"""Score a trained text classifier on held-out reviews and time it with nlp.pipe.

Accuracy is the share of reviews whose highest-scoring label is the gold
label (the labels are exclusive); macro F1 comes from spaCy's textcat scorer.
Speed is words per second of ``nlp.pipe`` over the raw texts (tokenizer
included), after a short warm-up, timed apart from scoring.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import typer


def evaluate(model_path: Path, data_path: Path, output_path: Path, batch_size: int) -> None:
    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import DocBin
    from spacy.training import Example

    nlp = spacy.load(model_path)
    gold = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    if not gold:
        raise SystemExit(f"{data_path} holds no docs")
    texts = [g.text for g in gold]

    list(nlp.pipe(texts[:4], batch_size=batch_size))  # warm-up: lazy init, allocator, caches
    start = time.perf_counter()
    predicted = list(nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    n_words = sum(len(d) for d in predicted)

    correct = sum(max(p.cats, key=p.cats.get) == max(g.cats, key=g.cats.get) for p, g in zip(predicted, gold))
    scores = Scorer(nlp).score([Example(p, g) for p, g in zip(predicted, gold)])
    result = {
        "model": str(model_path),
        "data": str(data_path),
        "n_docs": len(gold),
        "n_words": n_words,
        "seconds": round(seconds, 3),
        "words_per_s": round(n_words / seconds, 1),
        "accuracy": correct / len(gold),
        "macro_f": scores["cats_macro_f"],
        "f_per_type": scores["cats_f_per_type"],
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    print(f"{model_path}: accuracy {100 * result['accuracy']:.2f} macro F1 {100 * result['macro_f']:.2f}  "
          f"{result['words_per_s']:.0f} words/s -> {output_path}")


def main(
    model_dir: Path = typer.Argument(..., file_okay=False, help="training/<model>: one seed*/ per run"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Gold .spacy file, e.g. test.spacy"),
    metrics_dir: Path = typer.Argument(..., file_okay=False, help="Scores go to <metrics_dir>/seed<N>.json"),
    batch_size: int = typer.Option(16, "--batch-size", help="nlp.pipe batch size (docs)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g"),
):
    """Evaluate each finished seed once; seeds with scores already written are skipped, so the
    test set is read once per final model however often the workflow is re-run."""
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
        evaluate(seed_dir / "model-best", data_path, out, batch_size)


if __name__ == "__main__":
    typer.run(main)
