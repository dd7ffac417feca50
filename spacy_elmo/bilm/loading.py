"""``load_bilm``: read a biLM in any weight format (``load_native`` / ``load_original`` /
``load_elmoformanylangs`` for one).

This module knows the *formats* (a native directory; original ``options.json`` + ``.hdf5``; an
ELMoForManyLangs folder).
Which weights a user means (a packaged model by name, a pretraining run, a saved spaCy
pipeline, ...) is decided once, above the biLM, by :func:`spacy_elmo.weights.resolve_weights`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

from ..errors import OptionsError, WeightFileError
from ..layout import OPTIONS_NAME, WEIGHTS_NAME
from .io_elmoformanylangs import is_elmoformanylangs_dir, load_elmoformanylangs
from .io_elmoformanylangs import read_options as read_elmoformanylangs_options
from .io_native import is_native_dir, native_tensor_shapes, read_native, read_native_vocabulary
from .io_original import load_original
from .model import BiLM, state_shapes
from .options import BiLMOptions

FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")  # safetensors' names

PathLike = Union[str, Path]


def load_native(model_dir: PathLike) -> BiLM:
    """A :class:`BiLM` from a native directory, its tensors checked against its options by name, shape and
    kind before the model is built (a claimed size that the file does not hold never allocates)."""
    path = Path(model_dir)
    options_path, weights_path = path / OPTIONS_NAME, path / WEIGHTS_NAME
    if not options_path.is_file() or not weights_path.is_file():
        raise WeightFileError(
            f"{path} is not a spacy-elmo model directory: it needs {OPTIONS_NAME} and {WEIGHTS_NAME}. "
            "For original ELMo weights call load_bilm(options_file, weight_file)."
        )
    options = BiLMOptions.from_file(options_path)
    vocabulary = read_native_vocabulary(path, options)
    expected = state_shapes(options, vocabulary)
    stored = native_tensor_shapes(path)
    check_tensors({k: v[0] for k, v in stored.items()}, expected, weights_path, f"{options_path}")
    not_float = [k for k in expected if stored[k][1] not in FLOAT_DTYPES]
    if not_float:
        raise WeightFileError(f"{weights_path}: tensor {not_float[0]!r} holds {stored[not_float[0]][1]} values, not floats; "
                              "the file is not an ELMo weight file.")
    _, tensors = read_native(path)
    bilm = BiLM(options, vocabulary=vocabulary)
    values = {k: tensors[k].float() for k in expected}
    check_finite(values, weights_path)
    try:
        bilm.load_state_dict(values)
    except RuntimeError as err:  # pragma: no cover - shapes were checked above
        raise OptionsError(f"{path}: {err}") from err
    return bilm.eval()


def check_tensors(found: Dict[str, Tuple[int, ...]], expected: Dict[str, Tuple[int, ...]], weights_path: PathLike, options_path: str) -> None:
    """Every expected tensor is in ``found`` with its shape; else an error naming the file and the tensor."""
    missing = [k for k in expected if k not in found]
    if missing:
        raise WeightFileError(
            f"{weights_path}: tensor {missing[0]!r} is missing (expected shape {expected[missing[0]]}); "
            f"{len(missing)} missing in all. The weights do not match {options_path}."
        )
    for name, shape in expected.items():
        if tuple(found[name]) != tuple(shape):
            raise WeightFileError(
                f"{weights_path}: tensor {name!r} has shape {tuple(found[name])}, but {options_path} "
                f"expects {tuple(shape)}. The weights do not match the options."
            )


def check_finite(tensors: Dict[str, torch.Tensor], weights_path: PathLike) -> None:
    for name, value in tensors.items():
        if not bool(torch.isfinite(value).all()):
            raise WeightFileError(f"{weights_path}: tensor {name!r} holds NaN or infinite values; the file is corrupt.")


def read_options(options_or_dir: PathLike) -> BiLMOptions:
    """A model's architecture without its weights: an options.json, a native directory's, an ELMoForManyLangs folder's."""
    path = Path(options_or_dir)
    if is_elmoformanylangs_dir(path) and not is_native_dir(path):
        return read_elmoformanylangs_options(path)
    return BiLMOptions.from_file(path / OPTIONS_NAME if path.is_dir() else path)


def find_original_files(path: PathLike) -> Optional[Tuple[Path, Path]]:
    """``(options.json, weights.hdf5)`` of a directory of original files; None if it has no ``options.json``.

    A directory with ``options.json`` but not exactly one ``.hdf5`` is an error that names the choice.
    """
    path = Path(path)
    if not (path.is_dir() and (path / OPTIONS_NAME).is_file()):
        return None
    hdf5 = sorted(path.glob("*.hdf5"))
    if len(hdf5) != 1:
        raise WeightFileError(
            f"{path} has options.json but {len(hdf5)} .hdf5 files ({', '.join(p.name for p in hdf5) or 'none'}) "
            "and no weights.safetensors; name the weight file explicitly."
        )
    return path / OPTIONS_NAME, hdf5[0]


def load_bilm(options_or_dir: PathLike, weight_file: Optional[PathLike] = None, *, precision: str = "fp32") -> BiLM:
    """``load_bilm(model_dir)`` for the native format (or a directory holding one original pair, or an
    ELMoForManyLangs model folder), ``load_bilm(options.json, weights.hdf5)`` for the original.

    The model comes back in eval mode, on the CPU, in float32. ``precision``: its inference precision
    on the CPU (``BiLM.precision``: ``"fp32"``, ``"bf16"`` or ``"auto"``); the weights stay float32.
    """
    bilm = _load(options_or_dir, weight_file)
    bilm.precision = precision
    return bilm


def _load(options_or_dir: PathLike, weight_file: Optional[PathLike]) -> BiLM:
    if weight_file is not None:
        return load_original(options_or_dir, weight_file)
    path = Path(options_or_dir)
    if is_native_dir(path):
        return load_native(path)
    if is_elmoformanylangs_dir(path):
        return load_elmoformanylangs(path)
    if path.is_dir():
        pair = find_original_files(path)
        if pair is not None:
            return load_original(*pair)
        raise WeightFileError(
            f"{path} holds neither a native model (options.json + weights.safetensors), nor one original "
            "options.json + .hdf5 pair, nor an ELMoForManyLangs model (config.json, char.dic, word.dic, "
            "token_embedder.pkl, encoder.pkl). Give load_bilm(options_file, weight_file) explicitly."
        )
    if path.suffix == ".json":
        raise WeightFileError(f"load_bilm({str(path)!r}) got only an options file; also give the .hdf5 weight file.")
    raise WeightFileError(f"No ELMo model at {path}: the path does not exist or is not a model directory.")
