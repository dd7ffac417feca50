"""The first N docs of a textcat DocBin, balanced over the labels: the learning curve's small
training sets (every model trains on exactly the same reviews)."""
from __future__ import annotations

from pathlib import Path

import typer


def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .spacy file with exclusive cats"),
    output_path: Path = typer.Argument(..., dir_okay=False),
    n_docs: int = typer.Option(..., "--n-docs", min=1, help="How many docs to keep, split evenly over the labels"),
):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(input_path).get_docs(nlp.vocab))
    labels = sorted({max(doc.cats, key=doc.cats.get) for doc in docs})
    per_label = n_docs // len(labels)
    if per_label * len(labels) != n_docs:
        raise SystemExit(f"--n-docs {n_docs} does not split evenly over the {len(labels)} labels {labels}")
    counts = {label: 0 for label in labels}
    kept = []
    for doc in docs:  # in file order: the conversion already shuffled with a fixed seed
        label = max(doc.cats, key=doc.cats.get)
        if counts[label] < per_label:
            counts[label] += 1
            kept.append(doc)
    if any(n < per_label for n in counts.values()):
        raise SystemExit(f"{input_path} has fewer than {per_label} docs of some label: {counts}")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=kept).to_disk(output_path)
    print(f"{input_path}: kept {len(kept)} of {len(docs)} docs ({counts}) -> {output_path}")


if __name__ == "__main__":
    typer.run(main)
