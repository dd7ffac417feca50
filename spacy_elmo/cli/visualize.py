"""``visualize word`` (a word's vectors across sentences, in 2-D) and ``visualize mix`` (listeners' mix weights)."""
from pathlib import Path
from typing import Optional

import typer

from ..errors import ElmoError
from ..layer_choice import LAYERS_HELP
from ._app import app
from ._common import clean_errors, lang_option, model_option, options_option, precision_option, weights_option

visualize_app = typer.Typer(
    help="Pictures (PNG; needs matplotlib: pip install 'spacy-elmo\\[viz]').", no_args_is_help=True, add_completion=False
)
app.add_typer(visualize_app, name="visualize")


@visualize_app.command("word")
@clean_errors
def visualize_word(
    word: str = typer.Argument(..., help="The word (or phrase) whose occurrences to plot."),
    sentences: Path = typer.Argument(..., help="Text file (one sentence a line) or .csv/.tsv with a header row."),
    output: Path = typer.Option(None, "--output", "-o", help="PNG to write (default: WORD.png)."),
    text_column: str = typer.Option("text", "--text-column", help="Column with the sentence (.csv/.tsv)."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Column that colours the points, e.g. a sense label."),
    layers: str = typer.Option("mix", "--layers", "-l", help=LAYERS_HELP + "; several layers are concatenated."),
    annotate: Optional[bool] = typer.Option(None, "--annotate/--no-annotate", help="Write each point's context beside it (default: up to 40 points)."),
    model: Optional[Path] = model_option,
    options: Optional[Path] = options_option,
    weights: Optional[Path] = weights_option,
    lang: Optional[str] = lang_option,
    precision: str = precision_option,
) -> None:
    """Plot WORD's contextual vectors across SENTENCES in 2-D (PCA), coloured by a label column."""
    from ..errors import ElmoError
    from ..application.plots import check_png_path, plot_word_pca, require_matplotlib
    from ..application.word_vectors import collect_occurrences, read_labelled
    from ._common import warn

    require_matplotlib()  # before any slow work
    output = check_png_path(output or Path(f"{_file_safe(word)}.png"))
    texts, labels = read_labelled(sentences, text_column, label_column)
    occurrences, missing = collect_occurrences(word, texts, layers, model, options, weights, lang, labels=labels, precision=precision)
    if missing:
        warn(f"{len(missing)} of {len(texts)} sentences do not contain {word!r} and are left out.")
    if len(occurrences) < 2:
        raise ElmoError(f"{word!r} occurs {len(occurrences)} time(s) in {sentences}; a plot needs at least two occurrences.")
    ratio = plot_word_pca(word, occurrences, output, layers=layers, annotate=annotate)
    typer.echo(f"{len(occurrences)} occurrences of {word!r}; PCA keeps {ratio.sum():.0%} of the variance "
               f"({ratio[0]:.0%} + {ratio[1]:.0%}).")
    if labels is not None:
        import numpy

        from ..application.analysis import label_separation

        within, across = label_separation(numpy.stack([o.vector for o in occurrences]), [str(o.label) for o in occurrences])
        typer.echo(f"Mean cosine similarity within a label: {within:.3f}; across labels: {across:.3f}.")
    typer.secho(f"Wrote {output}", fg=typer.colors.GREEN)


@visualize_app.command("mix")
@clean_errors
def visualize_mix(
    pipeline: Path = typer.Argument(..., help="A trained spaCy pipeline directory with an 'elmo' component and listeners."),
    output: Path = typer.Option(Path("mix_weights.png"), "--output", "-o", help="PNG to write."),
) -> None:
    """Plot the learned scalar-mix weights of every ElmoListener in a trained pipeline."""
    from ..application.plots import check_png_path, listener_mixes, plot_mix_weights, require_matplotlib

    require_matplotlib()
    check_png_path(output)
    mixes = listener_mixes(pipeline)
    if all(mix.untrained for mix in mixes):
        raise ElmoError(
            f"{pipeline} holds listeners that were never updated ({', '.join(m.name for m in mixes)}): their layer "
            "weights are still the initial ones (equal, gamma 1), not a learned result. spaCy's model-best is the "
            "pipeline of the best evaluation; when that was the first one, before any update, use model-last or "
            "train longer."
        )
    for mix in mixes:
        weights = "  ".join(f"{w:.3f}" for w in mix.weights)
        note = "  (untrained: the initial values)" if mix.untrained else ""
        typer.echo(f"{mix.name:<24} gamma={mix.gamma:.3f}  layer weights: {weights}{note}")
    plot_mix_weights(mixes, output)
    typer.secho(f"Wrote {output}", fg=typer.colors.GREEN)


def _file_safe(word: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in word.strip())
    return safe[:40] or "word"
