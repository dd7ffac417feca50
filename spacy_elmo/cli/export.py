"""``export`` (native -> original options.json + weights.hdf5) and ``convert`` (original or ELMoForManyLangs -> native).

Both check their own output (:mod:`spacy_elmo.conversion`): the written model is read back and must
give the source's vectors, so a bad file is an error here, not later inside another tool.
"""
from pathlib import Path
from typing import Optional

import typer

from ..layout import ORIGINAL_WEIGHTS_NAME
from ._app import app
from ._common import clean_errors


@app.command()
@clean_errors
def export(
    model_dir: Path = typer.Argument(..., help="Native model dir (options.json + weights.safetensors) or a pretrain run dir."),
    out_dir: Path = typer.Argument(..., help="Where to write options.json + weights.hdf5 (original AllenNLP/bilm-tf layout)."),
    weight_name: str = typer.Option(ORIGINAL_WEIGHTS_NAME, "--weight-name", help="File name of the hdf5 weights."),
    native: bool = typer.Option(False, "--native", help="Write the native format instead (e.g. to ship a run's model)."),
    half: bool = typer.Option(False, "--half", help="With --native: store float16 weights (half the size)."),
) -> None:
    """Write a biLM in the original format that AllenNLP, bilm-tf and other ELMo tools read."""
    from ..conversion import export_bilm
    from ..errors import ElmoError

    if half and not native:  # the original layout is float32: --half would change nothing
        raise ElmoError("--half applies to --native only: the original hdf5 layout stores float32. Add --native, or drop --half.")
    if native and weight_name != ORIGINAL_WEIGHTS_NAME:
        raise ElmoError("--weight-name names the hdf5 file of the original layout; --native writes weights.safetensors. Drop one of them.")
    written = export_bilm(model_dir, out_dir, weight_name=weight_name, native=native, half=half)
    typer.echo(f"wrote {written.options_file} and {written.weight_file} (reloaded: max vector difference {written.max_difference:.1e})")


@app.command()
@clean_errors
def convert(
    source: Path = typer.Argument(..., help="Original options.json, or a model folder (ELMoForManyLangs: config.json, char.dic, word.dic, *.pkl), or a published model's name (python -m spacy_elmo models)."),
    second: Path = typer.Argument(..., help="With options.json: its weights .hdf5. With a folder: OUT_DIR."),
    out_dir: Optional[Path] = typer.Argument(None, help="Where to write the native model (options.json + weights.safetensors)."),
    half: bool = typer.Option(False, "--half", help="Store float16 weights (half the size; loads as float32)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Record the model's language (e.g. de) in options.json; the 'elmo' component warns when nlp.lang differs."),
) -> None:
    """Turn original ELMo weights (OPTIONS WEIGHTS OUT_DIR) or an ELMoForManyLangs model folder (FOLDER OUT_DIR)
    into the native format (fast, safe loading; no pickle)."""
    from ..conversion import convert_bilm, convert_folder

    if out_dir is None:
        if source.is_file():  # OPTIONS WEIGHTS without OUT_DIR: the format loader would ask for the weights, given already
            from ..errors import ElmoError

            raise ElmoError(f"OUT_DIR is missing: original weights take three arguments, convert {source} {second} OUT_DIR "
                            "(a model folder or a published model's name takes two: convert SOURCE OUT_DIR).")
        written = convert_folder(source, second, half=half, lang=lang)
        out_dir = second
    else:
        written = convert_bilm(source, second, out_dir, half=half, lang=lang)
    typer.echo(f"wrote {out_dir} ({'float16' if half else 'float32'}; reloaded: max vector difference {written.max_difference:.1e})")
