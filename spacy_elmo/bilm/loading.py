"""``load_bilm``: read a biLM in either weight format (``load_native`` / ``load_original`` for one).

This module knows the two *formats* (a native directory; original ``options.json`` + ``.hdf5``).
Which weights a user means (a packaged model by name, a pretraining run, a saved spaCy
pipeline, ...) is decided once, above the biLM, by :func:`spacy_elmo.weights.resolve_weights`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

from ..errors import OptionsError, WeightFileError
from ..layout import OPTIONS_NAME, WEIGHTS_NAME
from .io_native import is_native_dir, read_native
from .io_original import load_original
from .model import BiLM

PathLike = Union[str, Path]


def load_native(model_dir: PathLike) -> BiLM:
    """A :class:`BiLM` from a native directory, its tensors checked against its options by name and shape."""
    path = Path(model_dir)
    options, tensors = read_native(path)
    options_path, weights_path = path / OPTIONS_NAME, path / WEIGHTS_NAME
    bilm = BiLM(options)
    expected = bilm.state_dict()
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise WeightFileError(
            f"{weights_path}: tensor {missing[0]!r} is missing (expected shape {tuple(expected[missing[0]].shape)}); "
            f"{len(missing)} missing in all. The weights do not match {options_path}."
        )
    for name, value in expected.items():
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise WeightFileError(
                f"{weights_path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, but {options_path} "
                f"expects {tuple(value.shape)}. The weights do not match the options."
            )
    try:
        bilm.load_state_dict({k: tensors[k].float() for k in expected})
    except RuntimeError as err:  # pragma: no cover - shapes were checked above
        raise OptionsError(f"{path}: {err}") from err
    return bilm.eval()


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
    """``load_bilm(model_dir)`` for the native format (or a directory holding one original pair),
    ``load_bilm(options.json, weights.hdf5)`` for the original.

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
    if path.is_dir():
        pair = find_original_files(path)
        if pair is not None:
            return load_original(*pair)
        raise WeightFileError(
            f"{path} holds neither a native model (options.json + weights.safetensors) nor one original "
            "options.json + .hdf5 pair. Give load_bilm(options_file, weight_file) explicitly."
        )
    if path.suffix == ".json":
        raise WeightFileError(f"load_bilm({str(path)!r}) got only an options file; also give the .hdf5 weight file.")
    raise WeightFileError(f"No ELMo model at {path}: the path does not exist or is not a model directory.")
