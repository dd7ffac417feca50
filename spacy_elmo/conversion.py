"""A biLM written in the other weight format, and proved by reading it back (``export``, ``convert``).

Both directions check their own output: the written model is loaded again and must give the
source's vectors on a probe sentence, so a bad file is caught here, not later inside another tool.
Needs torch, h5py and safetensors only (no spaCy), like pretraining.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .atomic import atomic_path
from .bilm import BiLM, load_bilm, save_original
from .bilm.options import LANG_KEY
from .errors import ElmoError
from .layout import OPTIONS_NAME, ORIGINAL_WEIGHTS_NAME, VOCAB_NAME, WEIGHTS_NAME
from .weights import Names, resolve_weights

PathLike = Union[str, Path]
PROBE = [["The", "biLM", "round", "trip", "must", "be", "exact", "."], ["Ünïcödé", "tokens", "too", "!"]]
EXPORT_NAMES = Names("MODEL_DIR", "MODEL_DIR", "MODEL_DIR")
CONVERT_NAMES = Names("SOURCE", "SOURCE", "SECOND")


class RoundTripError(ElmoError):
    """The written model, read back, gives other vectors than its source."""


@dataclass(frozen=True)
class Written:
    """What was written: the options file, the weight file, and the largest vector difference on reading back."""

    options_file: Path
    weight_file: Path
    max_difference: float


def export_bilm(
    model_dir: PathLike, out_dir: PathLike, weight_name: str = ORIGINAL_WEIGHTS_NAME, native: bool = False, half: bool = False
) -> Written:
    """Write the biLM that ``model_dir`` names (a native model, a pretraining run, ...; see
    :func:`spacy_elmo.weights.resolve_weights`) in the original layout (or, ``native``, the native one),
    with the source's ``vocab.txt`` beside it."""
    out_dir = Path(out_dir)
    chosen = resolve_weights(model_dir, names=EXPORT_NAMES)
    source_dir = chosen.bilm_dir if chosen.bilm_dir is not None else chosen.folder
    if not native:
        chosen.read_options().require_bytes(f"export of {chosen.describe()} to the original hdf5 layout (use export --native)")
    bilm = chosen.load()
    if native:
        bilm.save(out_dir, half=half)
        weights = out_dir / WEIGHTS_NAME
        reloaded = load_bilm(out_dir)
    else:
        weights = save_original(bilm, out_dir, weight_name=weight_name)
        reloaded = load_bilm(out_dir / OPTIONS_NAME, weights)
    if (source_dir / VOCAB_NAME).is_file():
        with atomic_path(out_dir / VOCAB_NAME) as tmp:
            shutil.copyfile(source_dir / VOCAB_NAME, tmp)
    written = Written(out_dir / OPTIONS_NAME, weights, _max_difference(bilm, reloaded))
    _check_round_trip(written, half, f"Exported weights give different vectors; do not use {weights}.")
    return written


def convert_bilm(options: PathLike, weights: PathLike, out_dir: PathLike, half: bool = False, lang: Optional[str] = None) -> Written:
    """Original ``options.json`` + ``.hdf5`` -> a native model directory (float16 weights with ``half``;
    ``lang``: the model's language, recorded as in :func:`convert_folder`)."""
    out_dir = Path(out_dir)
    bilm = _with_lang(load_bilm(options, weights), lang)
    bilm.save(out_dir, half=half)
    written = Written(out_dir / OPTIONS_NAME, out_dir / WEIGHTS_NAME, _max_difference(bilm, load_bilm(out_dir)))
    _check_round_trip(written, half, f"Converted weights give different vectors; do not use {out_dir}.")
    return written


def convert_folder(model_dir: PathLike, out_dir: PathLike, half: bool = False, lang: Optional[str] = None) -> Written:
    """A model folder that :func:`spacy_elmo.bilm.load_bilm` reads (an ELMoForManyLangs folder; a folder of
    original files) -> a native model directory, its dictionaries included (no pickle). ``lang``: recorded
    as the model's language (a top-level ``"lang"`` in options.json), which the 'elmo' component checks."""
    out_dir = Path(out_dir)
    if Path(model_dir).exists():
        bilm = _with_lang(load_bilm(model_dir), lang)
    else:  # a name: a published model (fetched and cached first), a packaged one, an installed pipeline
        bilm = _with_lang(resolve_weights(str(model_dir), names=CONVERT_NAMES).load(), lang)
    bilm.save(out_dir, half=half)
    written = Written(out_dir / OPTIONS_NAME, out_dir / WEIGHTS_NAME, _max_difference(bilm, load_bilm(out_dir)))
    _check_round_trip(written, half, f"Converted weights give different vectors; do not use {out_dir}.")
    return written


def _with_lang(bilm: BiLM, lang: Optional[str]) -> BiLM:
    """The biLM with ``lang`` recorded in its options (checked there), or as it is."""
    if lang is not None:
        bilm.options = dataclasses.replace(bilm.options, extra={**bilm.options.extra, LANG_KEY: lang})
    return bilm


def _max_difference(a: BiLM, b: BiLM) -> float:
    va, vb = a.embed_sentences(PROBE), b.embed_sentences(PROBE)
    return max(float(abs(x - y).max()) for x, y in zip(va, vb))


def _check_round_trip(written: Written, half: bool, problem: str) -> None:
    """Refuse a written model whose reloaded vectors differ from the source's (float16 storage rounds)."""
    limit = 5e-2 if half else 1e-6
    if written.max_difference > limit:
        raise RoundTripError(f"{problem} (max difference {written.max_difference:.2e}, allowed {limit:.0e})")
