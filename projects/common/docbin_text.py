"""The text of a .spacy file, for ``spacy_elmo adapt``: only the split given (the training docs), never dev or test.

``--tokens`` writes one sentence a line as space-separated tokens (for ``adapt --pretokenized``: the gold
tokenisation of CoNLL stays as it is); without it, one doc's text a line (the adapt tokenizer splits it).
"""
from __future__ import annotations

from pathlib import Path

import typer


def main(
    docbin: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .spacy file (the training split)"),
    output: Path = typer.Argument(..., dir_okay=False, help="Plain text, one line per sentence (--tokens) or doc"),
    tokens: bool = typer.Option(False, "--tokens", help="One sentence a line, tokens separated by spaces"),
) -> None:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    lines = []
    for doc in DocBin().from_disk(docbin).get_docs(nlp.vocab):
        if tokens:
            sents = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
            lines.extend(" ".join(t.text for t in sent if not t.is_space) for sent in sents)
        else:
            lines.append(" ".join(doc.text.split()))
    lines = [line for line in lines if line]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{output}: {len(lines)} lines, {sum(len(l.split()) for l in lines)} words")


if __name__ == "__main__":
    typer.run(main)
