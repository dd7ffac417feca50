"""The native format: one directory with ``options.json`` and ``weights.safetensors``.

Safetensors is safe to load (no pickle) and fast (memory-mapped). Weights may be
stored in float16 to halve the size; they are always loaded as float32. A model whose character
vocabulary is a dictionary (ELMoForManyLangs) also has ``dictionaries.json``: its characters and
words in id order, plain JSON. This module knows the files; :func:`spacy_elmo.bilm.loading.load_native`
makes a checked ``BiLM`` of what it reads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Protocol, Tuple, Union

import torch

from ..atomic import atomic_path, write_text
from ..errors import WeightFileError
from ..layout import DICTIONARIES_NAME, OPTIONS_NAME, WEIGHTS_NAME
from .characters import CharacterVocabulary
from .options import BiLMOptions

FORMAT = "spacy-elmo.native.v1"
DICTIONARIES_FORMAT = "spacy-elmo.dictionaries.v1"


def is_native_dir(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / WEIGHTS_NAME).is_file()


class SavableBiLM(Protocol):
    """What :func:`save_native` reads of a ``BiLM`` (named here: ``model`` imports this module)."""

    @property
    def options(self) -> BiLMOptions: ...

    @property
    def vocabulary(self) -> CharacterVocabulary: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> Any: ...


def save_native(bilm: SavableBiLM, model_dir: Union[str, Path], half: bool = False) -> Path:
    """Write ``bilm`` (a ``BiLM``: its ``options``, ``state_dict`` and vocabulary) into ``model_dir``."""
    from safetensors.torch import save_file

    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    bilm.options.to_file(out / OPTIONS_NAME)
    dictionaries = bilm.vocabulary.to_dict()
    if dictionaries is not None:
        write_text(out / DICTIONARIES_NAME, json.dumps({"format": DICTIONARIES_FORMAT, **dictionaries}, ensure_ascii=False) + "\n")
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bilm.state_dict().items()}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    return out


def read_native_vocabulary(model_dir: Union[str, Path], options: BiLMOptions) -> Optional[CharacterVocabulary]:
    """The dictionary vocabulary of a native directory (None for the byte vocabulary: the options say all)."""
    if options.vocabulary == "bytes":
        return None
    from .dictionary_characters import vocabulary_from_dict

    path = Path(model_dir) / DICTIONARIES_NAME
    if not path.is_file():
        raise WeightFileError(
            f"{Path(model_dir) / OPTIONS_NAME} names a {options.vocabulary} character vocabulary, but {path} is missing; "
            "copy the whole model directory."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightFileError(f"{path} is not valid JSON ({err}); the file is corrupt or truncated.") from err
    if not isinstance(data, dict) or data.get("format") != DICTIONARIES_FORMAT:
        raise WeightFileError(f"{path}: 'format' is not {DICTIONARIES_FORMAT!r}; it is not a spacy-elmo dictionaries file.")
    return vocabulary_from_dict(options, data, str(path))


def native_tensor_shapes(model_dir: Union[str, Path]) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """Name -> (shape, dtype) of every tensor in ``weights.safetensors``, from its header alone (no tensor read)."""
    from safetensors import safe_open

    path = Path(model_dir) / WEIGHTS_NAME
    try:
        with safe_open(str(path), framework="pt") as f:
            out = {}
            for name in f.keys():
                info = f.get_slice(name)
                out[name] = (tuple(int(n) for n in info.get_shape()), str(info.get_dtype()))
            return out
    except Exception as err:  # safetensors raises its own error types, which vary by version
        raise WeightFileError(f"Cannot read {path} ({err}); the file is corrupt or truncated.") from err


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
