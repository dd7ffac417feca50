"""A spaCy pipeline (or the biLM alone) from the weights a user names on the command line.

Which weights ``--model`` / ``--options`` + ``--weights`` (or nothing) mean is decided by
:func:`spacy_elmo.weights.resolve_weights`, the same rule the component and ``pretrain --init-from``
use; this module only builds what a command needs from that answer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..bilm.fast.precision import check_precision
from ..errors import ElmoError
from ..weights import CLI_NAMES, Manifest, Weights, is_spacy_pipeline_dir, resolve_weights

__all__ = ["resolve_cli_weights", "model_source", "load_bilm_from_args", "load_nlp", "elmo_pipe", "is_spacy_pipeline_dir"]


def resolve_cli_weights(model: Optional[Path], options: Optional[Path], weights: Optional[Path]) -> Weights:
    return resolve_weights(model, options, weights, names=CLI_NAMES)


def model_source(model: Optional[Path], options: Optional[Path], weights: Optional[Path]) -> Manifest:
    """A JSON-able description of the chosen weights: shown to the user and pinned by resumable runs."""
    return resolve_cli_weights(model, options, weights).manifest()


def load_bilm_from_args(model: Optional[Path], options: Optional[Path], weights: Optional[Path]):
    """The biLM alone (no spaCy), for commands that only inspect weights."""
    return resolve_cli_weights(model, options, weights).load()


def load_nlp(
    model: Optional[Path],
    options: Optional[Path],
    weights: Optional[Path],
    lang: Optional[str] = None,
    elmo_only: bool = True,
    elmo_settings: Optional[dict] = None,
):
    """A spaCy pipeline whose "elmo" component holds the chosen weights.

    A spaCy pipeline dir is loaded as it is (with only its tokenizer and "elmo" when
    ``elmo_only``); any other weights go into ``spacy.blank(lang)`` + ``add_pipe("elmo")``.
    ``elmo_settings`` override the component's settings (e.g. ``batch_size``) either way.
    ``lang`` (default: English) is for the blank pipeline; a spaCy pipeline has its own tokenizer, so
    a ``lang`` other than its language is an error rather than silently ignored.
    """
    import spacy

    elmo_settings = dict(elmo_settings or {})
    if "precision" in elmo_settings:  # a wrong value is one clean line, before any weights are read
        check_precision(elmo_settings["precision"])
    chosen = resolve_cli_weights(model, options, weights)
    if chosen.kind == "spacy" and chosen.pipeline_dir is not None:
        from ..weights import pipeline_components

        others = [name for name in pipeline_components(chosen.pipeline_dir) if name != chosen.component]
        overrides = {"components": {chosen.component: elmo_settings}} if elmo_settings else {}
        try:
            loaded = spacy.load(chosen.pipeline_dir, exclude=others if elmo_only else [], config=overrides)
        except ElmoError:
            raise
        except (OSError, ValueError, KeyError) as err:
            raise ElmoError(f"Cannot load the spaCy pipeline {chosen.pipeline_dir}: {err}") from err
        if lang is not None and lang != loaded.lang:
            raise ElmoError(
                f"--lang {lang!r} does not apply to the spaCy pipeline {chosen.pipeline_dir}: it tokenizes with its own "
                f"{loaded.lang!r} tokenizer. Drop --lang, or give plain weights (a biLM) as --model to tokenize as {lang!r}."
            )
        return loaded
    if options is not None:
        config = {"options_file": str(options), "weight_file": str(weights)}
    else:
        config = {} if model is None else {"weights": str(model)}
    try:
        nlp = spacy.blank(lang or "en")
    except ImportError as err:
        raise ElmoError(f"--lang {lang!r}: spaCy has no tokenizer for this language code ({err}).") from err
    nlp.add_pipe("elmo", config={**config, **elmo_settings})
    elmo_pipe(nlp).bilm  # read the weights now, so that a bad file fails here with its own message
    return nlp


def elmo_pipe(nlp):
    """The pipeline's "elmo" component, whatever it is named."""
    names = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == "elmo"]
    if not names:
        raise ElmoError("The pipeline has no 'elmo' component.")
    return nlp.get_pipe(names[0])
