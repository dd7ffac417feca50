"""``pretrain``: train a biLM on raw text (optionally from an existing one), resumably."""
from pathlib import Path
from typing import Optional

import typer

from ._app import app


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
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
    import os

    import torch

    from ..bilm.errors import ElmoError
    from ..training.config import PretrainConfig
    from ..training.trainer import Trainer

    try:
        overrides = _parse_overrides(ctx.args)
        if resume:
            cfg = None  # the run's own config.cfg; only [training] overrides apply
        elif config is not None:
            cfg = PretrainConfig.from_file(config, overrides)
        else:
            cfg = PretrainConfig.from_dict(_apply(PretrainConfig().to_dict(), overrides))
        if cfg is not None and lang is not None:
            cfg.corpus.lang = lang
        if cfg is not None and pretokenized:
            cfg.corpus.pretokenized = True
        device = "cpu"
        if gpu_id >= 0:
            if not torch.cuda.is_available():
                raise ElmoError(f"--gpu-id {gpu_id} given but torch sees no CUDA GPU. Use --gpu-id -1 to train on the CPU.")
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', gpu_id))}"
            torch.cuda.set_device(device)
        init_bilm = _load_init(init_from, init_weights) if init_from is not None else None
        trainer = Trainer(corpus, output_dir, cfg, dev_path=dev, resume=resume, init_from=init_bilm, device=device,
                          seed=seed, progress=progress, log=lambda m: typer.echo(m, err=True),
                          resume_overrides=overrides if resume else None)
        metrics = trainer.train()
    except ElmoError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if trainer.dist.is_main:
        typer.echo(
            f"done: step {metrics['step']}, dev perplexity forward {metrics['dev_forward_ppl']:.2f}, "
            f"backward {metrics['dev_backward_ppl']:.2f}; biLM in {output_dir / 'model'}"
        )


def _load_init(path: Path, weights: Optional[Path]):
    """The biLM to start from: whatever the package's one rule accepts (:mod:`spacy_elmo.weights`):
    a packaged model's name, a native model dir, a run dir, a saved spaCy pipeline, a dir with one
    original options.json + .hdf5, or options.json with ``--init-weights``. Needs no spaCy."""
    from ..weights import INIT_NAMES, resolve_weights

    if weights is not None:
        return resolve_weights(None, path, weights, names=INIT_NAMES).load()
    return resolve_weights(path, names=INIT_NAMES).load()


def _parse_overrides(args):
    """``--training.max_steps 10`` style overrides, values parsed as JSON where possible."""
    import json

    from ..training.config import ConfigError

    out = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or "." not in arg:
            raise ConfigError(f"Unexpected argument {arg!r}. Config overrides look like --training.max_steps 100.")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"Override {arg} has no value.")
            value = args[i + 1]
            i += 2
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _apply(data, overrides):
    from ..training.config import ConfigError

    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in data:
            raise ConfigError(f"Unknown config section in override --{key}.")
        data[section][name] = value
    return data


@app.command("pretrain-eval")
def pretrain_eval(
    run_dir: Path = typer.Argument(..., help="A pretrain run directory (its latest checkpoint is evaluated)."),
    text: Path = typer.Argument(..., help="Held-out text, read and tokenised as the run's training text was."),
    max_sentences: int = typer.Option(0, "--max-sentences", help="Evaluate only the first N sentences (0 = all)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the figures to this JSON file."),
) -> None:
    """Forward and backward perplexity of a run's biLM on TEXT (full softmax over the run's vocabulary)."""
    import json
    import time

    from ..bilm.errors import ElmoError
    from ..training.trainer import evaluate, load_run, prepare_corpus
    from ..training.batching import BatchMaker

    try:
        start = time.time()
        lm, vocab, cfg = load_run(run_dir)
        corpus = prepare_corpus(text, cfg, run_dir / "cache", progress=False)
        result = evaluate(lm, BatchMaker(corpus, vocab, cfg.model.max_characters_per_token), max_sentences)
    except ElmoError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    result.update({"text": str(text), "run_dir": str(run_dir), "vocab_size": len(vocab),
                   "oov_rate": 1 - vocab.coverage(corpus.types, corpus.counts), "seconds": round(time.time() - start, 1)})
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"forward perplexity {result['forward_ppl']:.2f}, backward {result['backward_ppl']:.2f} "
        f"over {result['tokens']} predictions ({result['sentences']} sentences, OOV {100 * result['oov_rate']:.2f}%)"
    )
