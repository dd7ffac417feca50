"""``load_bilm``: one entry point for both weight formats."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .errors import WeightFileError
from .io_native import is_native_dir, load_native
from .io_original import load_original
from .model import BiLM

PathLike = Union[str, Path]


def load_bilm(options_or_dir: PathLike, weight_file: Optional[PathLike] = None) -> BiLM:
    """``load_bilm(model_dir)`` for the native format, ``load_bilm(options.json, weights.hdf5)`` for the original.

    The model comes back in eval mode, on the CPU, in float32.
    """
    if weight_file is not None:
        return load_original(options_or_dir, weight_file)
    path = Path(options_or_dir)
    if is_native_dir(path):
        return load_native(path)
    if path.is_dir():
        hdf5 = sorted(path.glob("*.hdf5"))
        if (path / "options.json").is_file() and len(hdf5) == 1:
            return load_original(path / "options.json", hdf5[0])
        raise WeightFileError(
            f"{path} holds neither a native model (options.json + weights.safetensors) nor one original "
            "options.json + .hdf5 pair. Give load_bilm(options_file, weight_file) explicitly."
        )
    if path.suffix == ".json":
        raise WeightFileError(f"load_bilm({str(path)!r}) got only an options file; also give the .hdf5 weight file.")
    raise WeightFileError(f"No ELMo model at {path}: the path does not exist or is not a model directory.")
