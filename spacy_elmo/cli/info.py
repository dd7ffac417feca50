"""``info``: what a biLM is, how big, and where its weights are."""
from pathlib import Path
from typing import Optional

import typer

from ._app import app


@app.command()
def info(
    model: Optional[Path] = typer.Argument(None, help="Native model directory, or options.json (then give --weights)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Original .hdf5 weight file, with an options.json MODEL."),
) -> None:
    """Print a biLM's sizes, layers and output width."""
    from ..bilm import load_bilm
    from ..bilm.errors import ElmoError

    if model is None:
        from ..models import default_model_dir

        model = default_model_dir()
    try:
        bilm = load_bilm(model, weights) if weights else load_bilm(model)
    except ElmoError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    options = bilm.options
    n_params = sum(p.numel() for p in bilm.parameters())
    typer.echo(f"weights:        {weights or model}")
    typer.echo(f"architecture:   {options.describe()}")
    typer.echo(f"parameters:     {n_params:,}")
    typer.echo(f"output layers:  {options.n_output_layers} (token layer + {options.n_layers} LSTM layers)")
    typer.echo(f"vector width:   {options.output_dim}")
