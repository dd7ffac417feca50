"""The native format: one directory with ``options.json`` and ``weights.safetensors``.

Safetensors is safe to load (no pickle) and fast (memory-mapped). Weights may be
stored in float16 to halve the size; they are always loaded as float32. This module knows the
files; :func:`spacy_elmo.bilm.loading.load_native` makes a checked ``BiLM`` of what it reads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Protocol, Tuple, Union

import torch

from ..atomic import atomic_path
from ..errors import WeightFileError
from ..layout import OPTIONS_NAME, WEIGHTS_NAME
from .options import BiLMOptions

FORMAT = "spacy-elmo.native.v1"


def is_native_dir(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / WEIGHTS_NAME).is_file()


class SavableBiLM(Protocol):
    """What :func:`save_native` reads of a ``BiLM`` (named here: ``model`` imports this module)."""

    @property
    def options(self) -> BiLMOptions: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> Any: ...


def save_native(bilm: SavableBiLM, model_dir: Union[str, Path], half: bool = False) -> Path:
    """Write ``bilm`` (a ``BiLM``: its ``options`` and ``state_dict``) into ``model_dir``."""
    from safetensors.torch import save_file

    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    bilm.options.to_file(out / OPTIONS_NAME)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bilm.state_dict().items()}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    return out


def read_native(model_dir: Union[str, Path]) -> Tuple[BiLMOptions, Dict[str, torch.Tensor]]:
    """The options and the stored tensors of a native directory, as saved (float16 or float32)."""
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
        return options, load_file(str(weights_path))
    except Exception as err:  # safetensors raises its own error types, which vary by version
        raise WeightFileError(f"Cannot read {weights_path} ({err}); the file is corrupt or truncated.") from err
