"""What every command shares: the weight options and how errors are shown.

How the weights named by ``--model`` / ``--options`` + ``--weights`` are loaded is the
application layer's business (:mod:`spacy_elmo.application.loading`), not the CLI's.
"""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import typer

from ..errors import ElmoError

F = TypeVar("F", bound=Callable)

MODEL_HELP = (
    "A packaged biLM's name (en_elmo_small), a published model's name (allennlp-en-original, efml-de; fetched and "
    "cached on first use; `models` lists them), a native model dir, a pretraining run, a spaCy pipeline dir or an "
    "installed spaCy pipeline package with an 'elmo' component. Default: the packaged model."
)
OPTIONS_HELP = "Original options.json (with --weights)."
WEIGHTS_HELP = "Original .hdf5 weight file (with --options)."
LANG_HELP = ("Language of the spaCy tokenizer for plain text (default: en). A spaCy pipeline --model brings its own "
             "tokenizer, and a .spacy input its own tokens: --lang with them is an error (unless it names the pipeline's "
             "own language), never silently ignored.")
PRECISION_HELP = ("Inference precision on the CPU: fp32 (exact), bf16 (bf16 products, float32 outputs; needs a CPU with "
                  "AVX512-BF16 or AMX-BF16) or auto (bf16 only where the model's products measured >= 1.2x faster here; `info` says what it chose). "
                  "See docs/performance.md.")

model_option = typer.Option(None, "--model", "-m", help=MODEL_HELP)
options_option = typer.Option(None, "--options", help=OPTIONS_HELP)
weights_option = typer.Option(None, "--weights", help=WEIGHTS_HELP)
lang_option = typer.Option(None, "--lang", help=LANG_HELP)
precision_option = typer.Option("fp32", "--precision", help=PRECISION_HELP)


def fail(message: str) -> "typer.Exit":
    """Print one red line on stderr; the caller raises the returned ``typer.Exit(1)``."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def warn(message: str) -> None:
    typer.secho(message, fg=typer.colors.YELLOW, err=True)


def clean_errors(func: F) -> F:
    """Show an :class:`ElmoError` (or a bad value) as one red line with exit code 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ElmoError as err:
            raise fail(f"Error: {err}")
        except KeyboardInterrupt:
            raise fail("Interrupted.")

    return wrapper  # type: ignore[return-value]
