"""A reference point on dev: spaCy's bag-of-words textcat alone (``TextCatBOW.v3``).

The ensemble that all three models of this project share learns slowly on these
long reviews; this script shows what its bag-of-words half reaches by itself with
batches of about the same size (8 reviews; spaCy's default optimizer), so the
project's dev scores can be read against it. It reads only train and dev (never
test) and prints dev macro F1 after each epoch.
"""
from __future__ import annotations

import random
from pathlib import Path

import typer


def main(
    train_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    dev_path: Path = typer.Argument(..., exists=True, dir_okay=False),
    epochs: int = typer.Option(4, "--epochs"),
    batch_docs: int = typer.Option(8, "--batch-docs", help="Reviews per update (the project's 6000-word batches hold about 8)"),
    seed: int = typer.Option(1, "--seed"),
):
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Example
    from spacy.util import fix_random_seed

    fix_random_seed(seed)
    nlp = spacy.blank("en")
    nlp.add_pipe("textcat", config={"model": {
        "@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 1,
        "no_output_layer": False, "length": 262144, "nO": None}})

    def examples(path: Path):
        docs = DocBin().from_disk(path).get_docs(nlp.vocab)
        return [Example(nlp.make_doc(doc.text), doc) for doc in docs]

    train, dev = examples(train_path), examples(dev_path)
    optimizer = nlp.initialize(lambda: train)
    rng = random.Random(seed)
    for epoch in range(1, epochs + 1):
        rng.shuffle(train)
        losses: dict = {}
        for start in range(0, len(train), batch_docs):
            nlp.update(train[start:start + batch_docs], sgd=optimizer, losses=losses, drop=0.1)
        macro_f = nlp.evaluate(dev)["cats_macro_f"] * 100
        print(f"epoch {epoch}: loss {losses['textcat']:.3f}, dev macro F1 {macro_f:.2f}", flush=True)


if __name__ == "__main__":
    typer.run(main)
