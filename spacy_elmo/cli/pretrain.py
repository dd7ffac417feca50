"""``pretrain``: train a biLM on raw text (optionally from an existing one), resumably."""
from pathlib import Path
from typing import Optional

import typer

from ._app import app
from ..errors import ElmoError
from ._common import clean_errors


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@clean_errors
def pretrain(
    ctx: typer.Context,
    corpus: Path = typer.Argument(..., help="Raw text: a UTF-8 file, a .gz, or a directory of them; one sentence or paragraph a line."),
    output_dir: Path = typer.Argument(..., help="Run directory: config, vocab, checkpoints, and the biLM in model/."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Training config (.cfg); default: the built-in defaults, the shipped small model's settings (written out in configs/pretrain/default.cfg)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Dev text for perplexity; default: hold out the corpus's last sentences."),
    lang: Optional[str] = typer.Option(None, "--lang", help="spaCy language whose tokenizer splits the text (overrides [corpus] lang)."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="Text is already tokenised: split on whitespace."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT_DIR from its last checkpoint."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this biLM: a packaged model name, a native model dir, a run dir, a saved spaCy pipeline, or options.json (with --init-weights)."),
    init_weights: Optional[Path] = typer.Option(None, "--init-weights", help="Original weights.hdf5 for --init-from options.json."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1 for the CPU. Under torchrun, each process uses LOCAL_RANK's GPU."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (overrides [training] seed)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train forward and backward LMs on CORPUS; the biLM lands in OUTPUT_DIR/model.

    Extra ``--section.key value`` arguments override the config, e.g. ``--training.max_steps 500``.
    Ctrl-C (or SIGTERM) checkpoints before exiting; ``--resume`` continues exactly.
    """
    from ..layout import RUN_MODEL_DIR
    from ..training.config import PretrainConfig, parse_overrides
    from ..training.distributed import choose_device
    from ..training.trainer import Trainer
    from ..weights import resolve_init

    overrides = parse_overrides(ctx.args)
    if resume:
        _check_resume_options(output_dir, config, overrides, lang, pretokenized, init_from)
    # With --resume, the run's own config.cfg; only [training] overrides apply.
    cfg = None if resume else PretrainConfig.from_command(config, overrides, lang=lang, pretokenized=pretokenized)
    device = choose_device(gpu_id)
    init_bilm = None
    if init_from is not None:  # needs no spaCy
        chosen = resolve_init(init_from, init_weights)
        chosen.read_options().require_bytes(f"pretrain --init-from {chosen.describe()}")
        init_bilm = chosen.load()
    trainer = Trainer(corpus, output_dir, cfg, dev_path=dev, resume=resume, init_from=init_bilm, device=device,
                      seed=seed, progress=progress, log=lambda m: typer.echo(m, err=True),
                      resume_overrides=overrides if resume else None)
    metrics = trainer.train()
    if trainer.dist.is_main:
        typer.echo(
            f"done: step {metrics['step']}, dev perplexity forward {metrics['dev_forward_ppl']:.2f}, "
            f"backward {metrics['dev_backward_ppl']:.2f}; biLM in {output_dir / RUN_MODEL_DIR}"
        )


@app.command("pretrain-eval")
@clean_errors
def pretrain_eval(
    run_dir: Path = typer.Argument(..., help="A pretrain run directory (its latest checkpoint is evaluated)."),
    text: Path = typer.Argument(..., help="Held-out text, read and tokenised as the run's training text was."),
    max_sentences: int = typer.Option(0, "--max-sentences", help="Evaluate only the first N sentences (0 = all)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the figures to this JSON file."),
) -> None:
    """Forward and backward perplexity of a run's biLM on TEXT (full softmax over the run's vocabulary)."""
    from ..training.heldout import evaluate_run

    result = evaluate_run(run_dir, text, max_sentences, output)
    typer.echo(
        f"forward perplexity {result['forward_ppl']:.2f}, backward {result['backward_ppl']:.2f} "
        f"over {result['tokens']} predictions ({result['sentences']} sentences, OOV {100 * result['oov_rate']:.2f}%)"
    )


def _check_resume_options(output_dir: Path, config: Optional[Path], overrides: dict, lang: Optional[str], pretokenized: bool,
                          init_from: Optional[Path]) -> None:
    """``--resume`` reads the run's own config.cfg, vocabulary and checkpoint, so the options that chose those at the
    start cannot change them: the same command again with ``--resume`` is fine, a different value is an error
    (it was silently ignored), and ``--init-from`` is said to be unused."""
    from ..layout import RUN_CONFIG_NAME
    from ..training.config import PretrainConfig

    run_config = output_dir / RUN_CONFIG_NAME
    if not run_config.is_file():
        return  # no run to resume: the trainer says so
    run = PretrainConfig.from_file(run_config)
    differ = []
    if lang is not None and lang != run.corpus.lang:
        differ.append(f"--lang {lang} (the run tokenizes as {run.corpus.lang!r})")
    if pretokenized and not run.corpus.pretokenized:
        differ.append("--pretokenized (the run's text was tokenized by spaCy)")
    if config is not None:
        given = PretrainConfig.from_file(config, {k: v for k, v in overrides.items() if not k.startswith("training.")}).to_dict()
        # [training] may change on resume; [model] comes from --init-from where the run started from a biLM
        sections = ("corpus",) if init_from is not None else ("model", "corpus")
        differ += [f"--config {config} (its [{name}] is not the run's)" for name in sections if given[name] != run.to_dict()[name]]
    if differ:
        raise ElmoError(
            f"--resume continues the run in {output_dir} with its own config.cfg, vocabulary and weights, which "
            f"{'; '.join(differ)} would not change. Drop {'it' if len(differ) == 1 else 'them'}, or start a new run in "
            "another OUTPUT_DIR; only [training] settings may change on resume (e.g. --training.max_steps 20000)."
        )
    if init_from is not None:
        from ._common import warn

        warn(f"--resume: --init-from {init_from} is not used; the run continues from its own checkpoint.")
