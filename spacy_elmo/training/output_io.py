"""The LM's output layer on disk, beside a native biLM: ``output_layer.safetensors`` + ``vocab.txt``.

The biLM alone is enough to embed text; the output layer and its vocabulary are what make the model an LM
again, so that ``adapt`` can measure perplexity on new text before it changes anything and continue
training without a random softmax. Safetensors (no pickle), with the layer's shape in the metadata, so it
is read without knowing the run that wrote it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch

from ..atomic import atomic_path
from ..errors import WeightFileError
from ..layout import OUTPUT_LAYER_NAME, VOCAB_NAME
from .lm import OutputLayer
from .vocab import Vocabulary

FORMAT = "spacy-elmo.output-layer.v1"


def has_output_layer(model_dir: Union[str, Path]) -> bool:
    model_dir = Path(model_dir)
    return (model_dir / OUTPUT_LAYER_NAME).is_file() and (model_dir / VOCAB_NAME).is_file()


def save_output_layer(layer: OutputLayer, vocab: Vocabulary, model_dir: Union[str, Path], half: bool = False) -> None:
    """Write the layer (float16 with ``half``) and its vocabulary into ``model_dir``."""
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in layer.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "dim": str(layer.dim),
        "vocab_size": str(layer.vocab_size),
        "cutoffs": json.dumps(layer.cutoffs),
        "div_value": str(layer.div_value),
    }
    with atomic_path(model_dir / OUTPUT_LAYER_NAME) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    vocab.to_file(model_dir / VOCAB_NAME)


def load_output_layer(model_dir: Union[str, Path], dim: int) -> Tuple[OutputLayer, Vocabulary]:
    """The output layer and vocabulary saved in ``model_dir``, checked against the biLM's output ``dim``."""
    from safetensors import safe_open

    path = Path(model_dir) / OUTPUT_LAYER_NAME
    vocab = Vocabulary.from_file(Path(model_dir) / VOCAB_NAME)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except Exception as err:  # safetensors' error types vary by version
        raise WeightFileError(f"Cannot read {path} ({err}); the file is corrupt or truncated.") from err
    if meta.get("format") != FORMAT:
        raise WeightFileError(f"{path} is not a spacy-elmo output layer (format {meta.get('format')!r}, expected {FORMAT!r}).")
    stored_dim, vocab_size = int(meta["dim"]), int(meta["vocab_size"])
    if stored_dim != dim:
        raise WeightFileError(f"{path} predicts from {stored_dim}-wide states, but the biLM's top layer is {dim} wide.")
    if vocab_size != len(vocab):
        raise WeightFileError(
            f"{path} has {vocab_size} outputs but {Path(model_dir) / VOCAB_NAME} lists {len(vocab)} words; "
            "the two files must come from the same run."
        )
    cutoffs: List[int] = json.loads(meta["cutoffs"])
    layer = OutputLayer(dim, vocab_size, cutoffs, float(meta["div_value"]))
    try:
        layer.load_state_dict(tensors)
    except RuntimeError as err:
        raise WeightFileError(f"{path} does not match its own metadata: {err}") from err
    return layer, vocab


def find_output_layer(model_dir: Optional[Union[str, Path]], dim: int) -> Optional[Tuple[OutputLayer, Vocabulary]]:
    """The saved output layer of a native model directory, or None when it has none."""
    if model_dir is None or not has_output_layer(model_dir):
        return None
    return load_output_layer(model_dir, dim)
