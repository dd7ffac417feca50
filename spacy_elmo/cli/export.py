"""``export`` (native -> original options.json + weights.hdf5) and ``convert`` (original -> native).

Both check their own output: the written model is loaded back and must give the
same vectors as the source on a probe sentence, so a bad file is caught here,
not later inside another tool.
"""
from pathlib import Path

import typer

from ._app import app

PROBE = [["The", "biLM", "round", "trip", "must", "be", "exact", "."], ["Ünïcödé", "tokens", "too", "!"]]


def _resolve_native(model_dir: Path):
    """The biLM to export and the folder it came from (whose vocab.txt goes along): whatever the
    package's one rule accepts (:mod:`spacy_elmo.weights`), e.g. a native model dir or a pretrain run dir."""
    from ..weights import Names, resolve_weights

    chosen = resolve_weights(model_dir, names=Names("MODEL_DIR", "MODEL_DIR", "MODEL_DIR"))
    return (chosen.bilm_dir if chosen.bilm_dir is not None else chosen.folder), chosen.load()


def _max_difference(a, b) -> float:
    va, vb = a.embed_sentences(PROBE), b.embed_sentences(PROBE)
    return max(float(abs(x - y).max()) for x, y in zip(va, vb))


@app.command()
def export(
    model_dir: Path = typer.Argument(..., help="Native model dir (options.json + weights.safetensors) or a pretrain run dir."),
    out_dir: Path = typer.Argument(..., help="Where to write options.json + weights.hdf5 (original AllenNLP/bilm-tf layout)."),
    weight_name: str = typer.Option("weights.hdf5", "--weight-name", help="File name of the hdf5 weights."),
    native: bool = typer.Option(False, "--native", help="Write the native format instead (e.g. to ship a run's model)."),
    half: bool = typer.Option(False, "--half", help="With --native: store float16 weights (half the size)."),
) -> None:
    """Write a biLM in the original format that AllenNLP, bilm-tf and other ELMo tools read."""
    import shutil

    from ..bilm import load_bilm
    from ..bilm.errors import ElmoError
    from ..bilm.io_original import save_original

    try:
        source_dir, bilm = _resolve_native(model_dir)
        if native:
            bilm.save(out_dir, half=half)
            weights = out_dir / "weights.safetensors"
            reloaded = load_bilm(out_dir)
        else:
            weights = save_original(bilm, out_dir, weight_name=weight_name)
            reloaded = load_bilm(out_dir / "options.json", weights)
        if (source_dir / "vocab.txt").is_file():
            shutil.copyfile(source_dir / "vocab.txt", out_dir / "vocab.txt")
        diff = _max_difference(bilm, reloaded)
    except ElmoError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    _check_round_trip(diff, half, f"Exported weights give different vectors; do not use {weights}.")
    typer.echo(f"wrote {out_dir / 'options.json'} and {weights} (reloaded: max vector difference {diff:.1e})")



def _check_round_trip(diff: float, half: bool, problem: str) -> None:
    """Refuse a written model whose reloaded vectors differ from the source's (float16 storage rounds)."""
    limit = 5e-2 if half else 1e-6
    if diff > limit:
        typer.secho(f"{problem} (max difference {diff:.2e}, allowed {limit:.0e})", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
def convert(
    options: Path = typer.Argument(..., help="Original options.json."),
    weights: Path = typer.Argument(..., help="Original weights .hdf5."),
    out_dir: Path = typer.Argument(..., help="Where to write the native model (options.json + weights.safetensors)."),
    half: bool = typer.Option(False, "--half", help="Store float16 weights (half the size; loads as float32)."),
) -> None:
    """Turn original ELMo weights into the native format (fast, safe loading)."""
    from ..bilm import load_bilm
    from ..bilm.errors import ElmoError

    try:
        bilm = load_bilm(options, weights)
        bilm.save(out_dir, half=half)
        diff = _max_difference(bilm, load_bilm(out_dir))
    except ElmoError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    _check_round_trip(diff, half, f"Converted weights give different vectors; do not use {out_dir}.")
    typer.echo(f"wrote {out_dir} ({'float16' if half else 'float32'}; reloaded: max vector difference {diff:.1e})")
