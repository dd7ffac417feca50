"""A spaCy pipeline (or the biLM alone) from the weights a user names.

One rule for every command and for bulk embedding: ``model`` (a native model directory, or a
spaCy pipeline directory with an "elmo" component), or ``options`` + ``weights`` (original
AllenNLP / bilm-tf files), or nothing for the packaged default model.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..bilm.errors import ElmoError


def check_weights_args(model: Optional[Path], options: Optional[Path], weights: Optional[Path]) -> None:
    if (options is None) != (weights is None):
        missing = "--weights" if weights is None else "--options"
        raise ElmoError(f"Original ELMo weights need both --options and --weights; {missing} is missing.")
    if model is not None and options is not None:
        raise ElmoError("Give either --model or --options/--weights, not both.")


def is_spacy_pipeline_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.cfg").is_file() and (path / "meta.json").is_file()


def model_source(model: Optional[Path], options: Optional[Path], weights: Optional[Path]) -> dict:
    """A JSON-able description of the chosen weights: shown to the user and pinned by resumable runs."""
    check_weights_args(model, options, weights)
    if options is not None:
        files = [Path(options), Path(weights)]  # type: ignore[arg-type]
        kind = "original"
    else:
        if model is None:
            from ..models import default_model_dir

            model = default_model_dir()
        model = Path(model)
        if not model.exists():
            raise ElmoError(f"--model {model}: no such directory.")
        kind = "spacy" if is_spacy_pipeline_dir(model) else "native"
        files = [p for p in sorted(model.rglob("*")) if p.is_file()] if model.is_dir() else [model]
    return {
        "kind": kind,
        "paths": [str(p.resolve()) for p in ([Path(options), Path(weights)] if options is not None else [model])],  # type: ignore[arg-type]
        "files": {str(p.resolve()): p.stat().st_size for p in files if p.exists()},
    }


def load_bilm_from_args(model: Optional[Path], options: Optional[Path], weights: Optional[Path]):
    """The biLM alone (no spaCy), for commands that only inspect weights."""
    from ..bilm import load_bilm

    check_weights_args(model, options, weights)
    if options is not None:
        return load_bilm(options, weights)
    if model is None:
        from ..models import default_model_dir

        model = default_model_dir()
    model = Path(model)
    if is_spacy_pipeline_dir(model):
        return elmo_pipe(load_nlp(model, None, None)).bilm
    return load_bilm(model)


def load_nlp(
    model: Optional[Path],
    options: Optional[Path],
    weights: Optional[Path],
    lang: str = "en",
    elmo_only: bool = True,
    elmo_settings: Optional[dict] = None,
):
    """A spaCy pipeline whose "elmo" component holds the chosen weights.

    A spaCy pipeline dir is loaded as it is (with only its tokenizer and "elmo" when
    ``elmo_only``); native or original weights go into ``spacy.blank(lang)`` + ``add_pipe("elmo")``.
    ``elmo_settings`` override the component's settings (e.g. ``batch_size``) either way.
    """
    elmo_settings = dict(elmo_settings or {})
    import spacy

    check_weights_args(model, options, weights)
    if model is not None and is_spacy_pipeline_dir(Path(model)):
        config = spacy.util.load_config(Path(model) / "config.cfg")
        names: List[str] = list(config["nlp"]["pipeline"])
        if "elmo" not in names:
            raise ElmoError(f"{model} is a spaCy pipeline without an 'elmo' component (its components: {', '.join(names) or 'none'}).")
        exclude = [n for n in names if n != "elmo"] if elmo_only else []
        try:
            return spacy.load(model, exclude=exclude, config={"components": {"elmo": elmo_settings}} if elmo_settings else {})
        except ElmoError:
            raise
        except (OSError, ValueError, KeyError) as err:
            raise ElmoError(f"Cannot load the spaCy pipeline {model}: {err}") from err
    if options is not None:
        config = {"options_file": str(options), "weight_file": str(weights)}
    else:
        # No weights: the component's own default (the packaged model, or its clear error).
        config = {} if model is None else {"weights": str(model)}
    try:
        nlp = spacy.blank(lang)
    except ImportError as err:
        raise ElmoError(f"--lang {lang!r}: spaCy has no tokenizer for this language code ({err}).") from err
    if model is None and options is None:
        from ..models import default_model_dir

        default_model_dir()  # the clear "not installed" error before spaCy wraps it
    if model is not None and not Path(model).exists():
        raise ElmoError(f"--model {model}: no such directory.")
    nlp.add_pipe("elmo", config={**config, **elmo_settings})
    elmo_pipe(nlp).bilm  # read the weights now, so that a bad file fails here with its own message
    return nlp


def elmo_pipe(nlp):
    if "elmo" not in nlp.pipe_names:
        raise ElmoError("The pipeline has no 'elmo' component.")
    return nlp.get_pipe("elmo")


