"""Convert CoNLL-2003 column files (token POS chunk tag, IOB) to spaCy DocBin.

Sentences are grouped into docs of ``--n-sents`` (the NER model sees a little
cross-sentence context, as in spaCy's own ``convert -n 10``); ``-DOCSTART-``
lines, where present, also start a new doc. Tokens are kept exactly as given,
so every model is scored on the gold tokenisation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import typer

Sentence = List[Tuple[str, str]]  # (word, IOB tag)


def read_conll(path: Path) -> Iterator[List[Sentence]]:
    """Yield documents (lists of sentences) from a CoNLL-2003 file."""
    doc: List[Sentence] = []
    sent: Sentence = []
    with path.open(encoding="utf8") as f:
        for lineno, line in enumerate(f, 1):
            cols = line.split()
            if not cols:
                if sent:
                    doc.append(sent)
                    sent = []
                continue
            if cols[0] == "-DOCSTART-":
                if sent:
                    doc.append(sent)
                    sent = []
                if doc:
                    yield doc
                    doc = []
                continue
            if len(cols) < 2:
                raise ValueError(f"{path}:{lineno}: expected 'token ... tag' columns, got {line!r}")
            sent.append((cols[0], cols[-1]))
    if sent:
        doc.append(sent)
    if doc:
        yield doc


def to_docs(vocab, documents, n_sents: int):
    from spacy.tokens import Doc
    from spacy.training import biluo_tags_to_spans, iob_to_biluo

    for document in documents:
        for start in range(0, len(document), n_sents):
            group = document[start : start + n_sents]
            words = [w for sent in group for w, _ in sent]
            iob = [t for sent in group for _, t in sent]
            sent_starts = [i == 0 for sent in group for i in range(len(sent))]
            doc = Doc(vocab, words=words, sent_starts=sent_starts)
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(iob))
            yield doc


def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-2003 file, e.g. eng.train"),
    output_path: Path = typer.Argument(..., dir_okay=False, help="Output .spacy file"),
    n_sents: int = typer.Option(10, "--n-sents", "-n", help="Sentences per doc"),
    limit: int = typer.Option(0, "--limit", help="Keep only the first N docs (0 = all); for smoke runs"),
):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = list(to_docs(nlp.vocab, read_conll(input_path), n_sents))
    if limit:
        docs = docs[:limit]
    if not docs:
        raise SystemExit(f"No sentences found in {input_path}; is it a CoNLL-2003 column file?")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(output_path)
    n_words = sum(len(d) for d in docs)
    n_ents = sum(len(d.ents) for d in docs)
    print(f"{input_path.name}: {len(docs)} docs, {n_words} words, {n_ents} entities -> {output_path}")


if __name__ == "__main__":
    typer.run(main)
