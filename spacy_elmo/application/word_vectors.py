"""A word's contextual vectors across many sentences (for ``similarity`` and ``visualize``).

Sentences go through spaCy's tokenizer and the "elmo" component; every case-insensitive
occurrence of the word (one or more tokens) gives one vector, the mean of its tokens.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..errors import ElmoError
from ..layer_choice import parse_layers, token_vectors
from .analysis import Occurrence, find_spans


def check_text(text: str, where: str) -> str:
    """Refuse text that spaCy's tokenizer cannot hash (lone surrogates), naming where it is.

    Such characters come from bytes that were not valid UTF-8 (Python maps them to
    U+DC80..U+DCFF in command-line arguments) and would otherwise crash inside spaCy.
    """
    for i, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            raise ElmoError(
                f"{where} holds a lone surrogate (U+{ord(char):04X}) at character {i}: that is not valid Unicode, "
                "usually bytes that were not UTF-8. Re-encode the text as UTF-8."
            )
    return text


def read_sentences(path: Path) -> List[str]:
    """Non-blank lines of a UTF-8 text file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError as err:
        raise ElmoError(f"Sentence file not found: {path}") from err
    except UnicodeDecodeError as err:
        raise ElmoError(f"{path} is not valid UTF-8 (byte offset {err.start}); re-encode it as UTF-8.") from err
    return [line.rstrip("\r") for line in lines if line.strip()]


def read_labelled(path: Path, text_column: str = "text", label_column: Optional[str] = None) -> Tuple[List[str], Optional[List[str]]]:
    """Texts (and labels) from a ``.csv``/``.tsv`` with a header row, or a plain text file (no labels)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".tsv"):
        if label_column is not None:
            raise ElmoError(f"--label-column needs a .csv or .tsv file with a header row; {path} is read as plain text.")
        if text_column != "text":  # a column of a plain text file: it would be ignored
            raise ElmoError(f"--text-column needs a .csv or .tsv file with a header row; {path} is read as plain text "
                            "(one sentence a line). Drop --text-column, or give the table as .csv / .tsv.")
        return read_sentences(path), None
    if not path.is_file():
        raise ElmoError(f"Sentence file not found: {path}")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        columns = reader.fieldnames or []
        for name in [text_column] + ([label_column] if label_column else []):
            if name not in columns:
                raise ElmoError(f"{path} has no column {name!r}; its columns are: {', '.join(columns) or '(none)'}.")
        rows = [row for row in reader if (row.get(text_column) or "").strip()]
    texts = [row[text_column] for row in rows]
    labels = [row[label_column] or "" for row in rows] if label_column else None
    return texts, labels


def collect_occurrences(
    word: str,
    texts: Sequence[str],
    layers: str = "mix",
    model: Optional[Path] = None,
    options: Optional[Path] = None,
    weights: Optional[Path] = None,
    lang: Optional[str] = None,
    labels: Optional[Sequence[str]] = None,
    nlp=None,
    precision: str = "fp32",
) -> Tuple[List[Occurrence], List[int]]:
    """Every occurrence of ``word`` in ``texts`` with its vector; also the indices of texts without it."""
    from .loading import elmo_pipe, load_nlp

    if not word.strip():
        raise ElmoError("The word to look for is empty.")
    check_text(word, "The word")
    for i, text in enumerate(texts):
        check_text(text, f"Sentence {i + 1}")
    if nlp is None:
        nlp = load_nlp(model, options, weights, lang, elmo_settings={"precision": precision})
    spec = parse_layers(layers, elmo_pipe(nlp).bilm.options.n_output_layers)
    word_tokens = [t.text for t in nlp.make_doc(word.strip()) if not t.is_space]
    occurrences: List[Occurrence] = []
    missing: List[int] = []
    for i, doc in enumerate(nlp.pipe(texts)):
        tokens = [t.text for t in doc]
        spans = find_spans(tokens, word_tokens)
        if not spans:
            missing.append(i)
            continue
        data = doc._.elmo_data
        vectors = token_vectors(data.layers, spec, data.vectors)
        for start, end in spans:
            span = doc[start:end]
            occurrences.append(
                Occurrence(
                    i, start, end, tokens, vectors[start:end].mean(axis=0), None if labels is None else labels[i],
                    doc.text, span.start_char, span.end_char,
                )
            )
    return occurrences, missing
