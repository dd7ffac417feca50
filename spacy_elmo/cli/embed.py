"""``embed INPUT OUTPUT``: contextual vectors for every token of a file, resumable."""
from pathlib import Path
from typing import Any, Dict, Optional

import typer

from ..application.bulk import DEFAULT_CHUNK_SIZE
from ..bilm.batching import DEFAULT_BATCH_SIZE
from ..errors import ElmoError
from ..layer_choice import LAYERS_HELP
from ._app import app
from ._common import clean_errors, lang_option, model_option, options_option, precision_option, weights_option


@app.command()
@clean_errors
def embed(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Text file (one document per line) or a .spacy DocBin."),
    output: Path = typer.Argument(..., metavar="OUTPUT", help="Output: .npz, .npy, .hdf5/.h5 (one dataset per line) or .spacy (DocBin with vectors)."),
    layers: str = typer.Option("mix", "--layers", "-l", help=LAYERS_HELP + "; all and layer numbers keep a layer axis."),
    model: Optional[Path] = model_option,
    options: Optional[Path] = options_option,
    weights: Optional[Path] = weights_option,
    lang: Optional[str] = lang_option,
    precision: str = precision_option,
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", "-b", help="Sentences per biLM call."),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Worker processes (each loads the model once)."),
    chunk_size: int = typer.Option(DEFAULT_CHUNK_SIZE, "--chunk-size", help="Documents per saved part: the most an interruption can lose."),
    restart: bool = typer.Option(False, "--restart", help="Discard an interrupted run of this OUTPUT instead of resuming it."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run the chunks on the Dask cluster of this scheduler (tcp://HOST:8786); OUTPUT and the model must be on a filesystem shared with every worker."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="local:N: run the chunks on a Dask cluster of N worker processes on this machine."),
    stop_after: Optional[int] = typer.Option(None, "--stop-after", hidden=True, help="Stop after this many chunks (to test resuming)."),
) -> None:
    """Embed every document of INPUT into OUTPUT.

    Work is saved in chunks under OUTPUT.partial/; if the run is interrupted, the same command
    continues where it stopped. OUTPUT appears only once every document is done.
    """
    from ..application.bulk import embed_file

    settings: Dict[str, Any] = dict(layers=layers, model=model, options=options, weights=weights, lang=lang, precision=precision, batch_size=batch_size,
                    chunk_size=chunk_size, restart=restart, overwrite=overwrite, stop_after=stop_after)
    try:
        if scheduler is None and cluster is None:
            summary = embed_file(input_path, output, n_process=n_process, **settings)
        else:
            from ..application.distributed import connect, embed_on_cluster

            if n_process != 1:
                raise ElmoError("--n-process is for one machine; on a Dask cluster each worker process is one process.")
            with connect(scheduler, cluster) as client:
                summary = embed_on_cluster(client, input_path, output, **settings)
    except KeyboardInterrupt:
        from ._common import fail

        raise fail(f"Interrupted. Finished chunks are kept in {output}.partial/: run the same command again to continue.")
    if summary.resumed_chunks:
        typer.echo(f"Resumed: {summary.resumed_chunks} of {summary.n_chunks} chunks were already done.")
    if summary.finished:
        typer.secho(f"Wrote {summary.n_docs} documents to {output}", fg=typer.colors.GREEN)
    else:
        typer.echo(f"Stopped early; run the same command again to continue ({output}.partial/ keeps the work).")
