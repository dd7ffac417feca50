"""The native format: one directory with ``options.json`` and ``weights.safetensors``.

Safetensors is safe to load (no pickle) and fast (memory-mapped). Weights may be
stored in float16 to halve the size; they are always loaded as float32.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import torch

from ..atomic import atomic_path
from .errors import OptionsError, WeightFileError
from .model import BiLM
from .options import BiLMOptions

OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.safetensors"
FORMAT = "spacy-elmo.native.v1"


def is_native_dir(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / WEIGHTS_NAME).is_file()


def save_native(bilm: BiLM, model_dir: Union[str, Path], half: bool = False) -> Path:
    from safetensors.torch import save_file

    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    bilm.options.to_file(out / OPTIONS_NAME)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bilm.state_dict().items()}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    return out


def load_native(model_dir: Union[str, Path]) -> BiLM:
    from safetensors.torch import load_file

    path = Path(model_dir)
    options_path, weights_path = path / OPTIONS_NAME, path / WEIGHTS_NAME
    if not options_path.is_file() or not weights_path.is_file():
        raise WeightFileError(
            f"{path} is not a spacy-elmo model directory: it needs {OPTIONS_NAME} and {WEIGHTS_NAME}. "
            "For original ELMo weights call load_bilm(options_file, weight_file)."
        )
    options = BiLMOptions.from_file(options_path)
    try:
        tensors = load_file(str(weights_path))
    except Exception as err:  # safetensors raises its own error types, which vary by version
        raise WeightFileError(f"Cannot read {weights_path} ({err}); the file is corrupt or truncated.") from err
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
