"""``similarity WORD SENTENCE...``: how a word's contextual vector changes from sentence to sentence."""
from pathlib import Path
from typing import List, Optional

import typer

from ..layer_choice import LAYERS_HELP
from ._app import app
from ._common import clean_errors, lang_option, model_option, options_option, precision_option, weights_option


@app.command()
@clean_errors
def similarity(
    word: str = typer.Argument(..., help="The word (or phrase) to compare, matched case-insensitively."),
    sentences: List[str] = typer.Argument(None, help="Two or more sentences that contain WORD."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read sentences from this file (one a line), after any given."),
    layers: str = typer.Option("mix", "--layers", "-l", help=LAYERS_HELP + "; several layers are concatenated."),
    model: Optional[Path] = model_option,
    options: Optional[Path] = options_option,
    weights: Optional[Path] = weights_option,
    lang: Optional[str] = lang_option,
    precision: str = precision_option,
) -> None:
    """Print the cosine similarity of WORD's vectors across the sentences, as a table.

    Example: similarity bank "The river bank was muddy." "The bank raised rates."
    """
    from ..application.analysis import cosine_matrix
    from ..application.word_vectors import collect_occurrences, read_sentences
    from ._common import warn

    texts = list(sentences or []) + (read_sentences(file) if file is not None else [])
    occurrences, missing = collect_occurrences(word, texts, layers, model, options, weights, lang, precision=precision)
    for index in missing:
        warn(f"Skipped sentence {index + 1}: {word!r} does not occur in {_short(texts[index])!r}.")
    if len(occurrences) < 2:
        from ..errors import ElmoError

        raise ElmoError(
            f"{word!r} occurs {len(occurrences)} time(s) in the sentences given; similarity needs at least two occurrences."
        )
    import numpy

    sims = cosine_matrix(numpy.stack([o.vector for o in occurrences]))
    typer.echo(format_table(word, layers, occurrences, sims))


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(word: str, layers: str, occurrences, sims) -> str:
    """Rows: each occurrence in context; columns: cosine similarity to every other occurrence."""
    contexts = [o.context(width=44) for o in occurrences]
    width = max(len(c) for c in contexts)
    header = f"{'#':>2}  {'sentence':<{width}}  " + "  ".join(f"{i + 1:>5}" for i in range(len(occurrences)))
    lines = [f"Cosine similarity of {word!r} in context (layers: {layers})", "", header, "-" * len(header)]
    for i, context in enumerate(contexts):
        cells = "  ".join(f"{sims[i, j]:5.3f}" for j in range(len(occurrences)))
        lines.append(f"{i + 1:>2}  {context:<{width}}  {cells}")
    return "\n".join(lines)
