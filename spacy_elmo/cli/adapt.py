"""``adapt BASE TEXT OUTPUT_DIR``: continue a biLM's LM training briefly on a task's unlabelled text."""
from pathlib import Path
from typing import Any, Dict, Optional

import typer

from ._app import app
from ._common import clean_errors, warn


@app.command()
@clean_errors
def adapt(
    base: str = typer.Argument(..., help="The biLM to adapt: a packaged model name, a native model dir, a run dir, a saved spaCy pipeline, or a dir with original options.json + .hdf5."),
    text: Path = typer.Argument(..., help="The task's unlabelled text (training text only, never dev or test): a UTF-8 file, a .gz, or a directory of them."),
    output_dir: Path = typer.Argument(..., help="New directory for the adapted model (biLM, output layer, vocab.txt, adapt.json)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Held-out task text for the perplexity; default: the last sentences of TEXT (not trained on)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Updates of the whole LM (0: only fit a missing output layer)."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Peak learning rate (cosine decay)."),
    head_steps: Optional[int] = typer.Option(None, "--head-steps", help="Output-layer updates with the biLM frozen, for a model that has none."),
    batch_tokens: Optional[int] = typer.Option(None, "--batch-tokens", help="Tokens per update."),
    lang: Optional[str] = typer.Option(None, "--lang", help="spaCy language whose tokenizer splits TEXT."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="TEXT is already tokenised: split on whitespace."),
    autocast: Optional[str] = typer.Option(None, "--autocast", help="none, bfloat16 (matmuls in bf16), or auto (bf16 only where the training products measured >= 1.2x faster on this CPU, once per machine)."),
    half: bool = typer.Option(False, "--half", help="Store the adapted model in float16 (half the size)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1 for the CPU."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Adapt BASE to TEXT as the ELMo paper does before training a task model: held-out perplexity before and
    after, the model's own output layer and vocabulary kept (fitted first with the biLM frozen when BASE has none).

    Example: adapt en_elmo_medium reviews_train.txt models/elmo_reviews
    """
    import dataclasses

    from ..training.adapt import AdaptSettings, adapt as run_adapt
    from ..training.distributed import choose_device
    from ..training.output_io import has_output_layer
    from ..weights import INIT_NAMES, resolve_weights

    given: Dict[str, Any] = {"steps": steps, "learning_rate": learning_rate, "head_steps": head_steps, "batch_tokens": batch_tokens,
             "lang": lang, "autocast": autocast, "seed": seed}
    settings = dataclasses.replace(AdaptSettings(), **{k: v for k, v in given.items() if v is not None},
                                   pretokenized=pretokenized, half=half)
    device = choose_device(gpu_id)
    weights = resolve_weights(base, names=INIT_NAMES._replace(weights="BASE"))
    options = weights.read_options()
    options.require_bytes(f"adapt of {weights.describe()}")
    if head_steps is not None and weights.bilm_dir is not None and has_output_layer(weights.bilm_dir):
        warn(f"--head-steps {head_steps} is not used: {weights.describe()} has its own output layer, which is kept "
             "and adapted with the biLM (--head-steps fits a new one for a model without).")
    record = run_adapt(weights.load(), text, output_dir, settings, model_dir=weights.bilm_dir, dev=dev, device=device,
                       progress=progress, log=lambda m: typer.echo(m, err=True), source=weights.describe())
    before, after = record["before"], record["after"]
    typer.echo(
        f"held-out perplexity forward {before['forward_ppl']:.2f} -> {after['forward_ppl']:.2f}, backward "
        f"{before['backward_ppl']:.2f} -> {after['backward_ppl']:.2f} in {record['seconds']:.0f} s; "
        f"the adapted model is in {output_dir} (use it as --model {output_dir} or weights = \"{output_dir}\")"
    )
