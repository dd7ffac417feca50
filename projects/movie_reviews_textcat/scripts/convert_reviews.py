"""Convert the movie-review CSV files (label,text) into textcat DocBins.

``train.csv`` is split into train and a fixed, stratified dev set (every
setting is chosen on dev); ``test.csv`` is converted whole and only read for
the final scores. Labels are exclusive: each doc gets ``cats`` with 1.0 for
its label and 0.0 for every other label seen in the file.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import List, Tuple

import typer

app = typer.Typer(add_completion=False)


def read_csv(path: Path) -> List[Tuple[str, str]]:
    with path.open(encoding="utf8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"label", "text"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: expected columns 'label,text', missing {sorted(missing)}")
        rows = [(r["label"].strip(), r["text"]) for r in reader]
    if not rows:
        raise SystemExit(f"{path} has no rows")
    return rows


def to_docbin(nlp, rows, labels):
    from spacy.tokens import DocBin

    db = DocBin(store_user_data=False)
    for label, text in rows:
        doc = nlp.make_doc(text)
        doc.cats = {name: float(name == label) for name in labels}
        db.add(doc)
    return db


def take(rows, limit):
    """The first ``limit`` rows of each label (all if 0), keeping the classes balanced in smoke runs."""
    if not limit:
        return rows
    per_label = {}
    for row in rows:
        per_label.setdefault(row[0], []).append(row)
    return [row for group in per_label.values() for row in group[:limit]]


@app.command()
def main(
    train_csv: Path = typer.Argument(..., exists=True, dir_okay=False),
    test_csv: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", help="Share of train.csv held out as dev, per label"),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the fixed train/dev split"),
    limit: int = typer.Option(0, "--limit", help="Keep only N rows per label of each file (0 = all); smoke runs"),
):
    import spacy

    nlp = spacy.blank("en")
    train_rows = take(read_csv(train_csv), limit)
    test_rows = take(read_csv(test_csv), limit)
    labels = sorted({label for label, _ in train_rows})
    unknown = {label for label, _ in test_rows} - set(labels)
    if unknown:
        raise SystemExit(f"{test_csv} has labels not in {train_csv}: {sorted(unknown)}")

    rng = random.Random(split_seed)
    train, dev = [], []
    for label in labels:
        group = [row for row in train_rows if row[0] == label]
        rng.shuffle(group)
        n_dev = max(1, round(dev_fraction * len(group)))
        dev.extend(group[:n_dev])
        train.extend(group[n_dev:])
    rng.shuffle(train)

    output_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("dev", dev), ("test", test_rows)):
        to_docbin(nlp, rows, labels).to_disk(output_dir / f"{name}.spacy")
        n_words = sum(len(text.split()) for _, text in rows)
        print(f"{name}: {len(rows)} docs, ~{n_words} words -> {output_dir / (name + '.spacy')}")


if __name__ == "__main__":
    app()
