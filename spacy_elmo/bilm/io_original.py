"""Read and write the original ELMo weight layout (bilm-tf / AllenNLP ``.hdf5``).

Layout (TensorFlow conventions, ``x @ W``):
  char_embed [261, char_dim]; CNN/W_cnn_i [1, width, char_dim, n]; CNN/b_cnn_i [n];
  CNN_high_k/{W_transform, W_carry} [F, F], {b_transform, b_carry} [F];
  CNN_proj/W_proj [F, P], CNN_proj/b_proj [P];
  RNN_d/RNN/MultiRNNCell/Cell{l}/LSTMCell/{W_0 [P + P, 4H], B [4H], W_P_0 [H, P]}
  with d = 0 forward, 1 backward, gates in TF order (i, j, f, o).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple, Union

import numpy
import torch

from ..atomic import atomic_path
from ..errors import WeightFileError
from ..layout import OPTIONS_NAME, ORIGINAL_WEIGHTS_NAME
from .model import BiLM
from .options import BiLMOptions

FORGET_BIAS = 1.0  # TF's LSTMCell adds this at run time; we store it inside the bias.


def _lstm_prefix(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def expected_shapes(options: BiLMOptions) -> Dict[str, Tuple[int, ...]]:
    """Every dataset of the original layout and its shape for these options."""
    F, P, H = options.n_filters, options.projection_dim, options.lstm_dim
    shapes: Dict[str, Tuple[int, ...]] = {"char_embed": (261, options.char_embedding_dim)}
    for i, (width, num) in enumerate(options.filters):
        shapes[f"CNN/W_cnn_{i}"] = (1, width, options.char_embedding_dim, num)
        shapes[f"CNN/b_cnn_{i}"] = (num,)
    for k in range(options.n_highway):
        for part in ("transform", "carry"):
            shapes[f"CNN_high_{k}/W_{part}"] = (F, F)
            shapes[f"CNN_high_{k}/b_{part}"] = (F,)
    shapes["CNN_proj/W_proj"] = (F, P)
    shapes["CNN_proj/b_proj"] = (P,)
    for d in (0, 1):
        for layer in range(options.n_lstm_layers):
            prefix = _lstm_prefix(d, layer)
            shapes[f"{prefix}/W_0"] = (2 * P, 4 * H)
            shapes[f"{prefix}/B"] = (4 * H,)
            shapes[f"{prefix}/W_P_0"] = (H, P)
    return shapes


def _open_h5(path: Path, mode: str):
    import h5py

    if mode == "r" and not path.is_file():
        raise WeightFileError(f"ELMo weight file not found: {path}. Give the .hdf5 that came with options.json.")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise WeightFileError(
            f"Cannot read {path} as HDF5 ({err}). The file is corrupt, truncated or not an ELMo weight file; "
            "download or export it again."
        ) from err


def read_original_arrays(weight_file: Union[str, Path], options: BiLMOptions) -> Dict[str, numpy.ndarray]:
    """All datasets of ``weight_file``, checked against ``options``' shapes."""
    import h5py

    path = Path(weight_file)
    options.require_bytes("Reading the original hdf5 layout")
    arrays: Dict[str, numpy.ndarray] = {}
    with _open_h5(path, "r") as h5:
        for name, shape in expected_shapes(options).items():
            try:
                node = h5.get(name)
            except (OSError, KeyError, ValueError) as err:
                raise WeightFileError(f"{path}: dataset {name!r} cannot be read ({err}); the file is corrupt.") from err
            if node is None:
                raise WeightFileError(
                    f"{path}: dataset {name!r} is missing (expected shape {shape}). "
                    "The weights do not match the options: check that options.json belongs to this weight file."
                )
            if not isinstance(node, h5py.Dataset):
                raise WeightFileError(
                    f"{path}: {name!r} is a {type(node).__name__}, not a dataset of numbers (expected shape {shape}); "
                    "the file is not an ELMo weight file."
                )
            stored = tuple(node.shape or ())
            if name == "char_embed" and stored == (262, shape[1]):
                stored = shape  # some exports already include the zero padding row (dropped below)
            if stored != shape:  # checked before reading: a wrong size never allocates
                raise WeightFileError(
                    f"{path}: dataset {name!r} has shape {tuple(node.shape or ())}, but the options expect {shape}. "
                    "The weights do not match the options: check that options.json belongs to this weight file."
                )
            if node.dtype.kind not in "fiu":
                raise WeightFileError(f"{path}: dataset {name!r} holds {node.dtype} values, not numbers; the file is not an ELMo weight file.")
            try:
                data = numpy.asarray(node[...], dtype=numpy.float32)
            except (OSError, KeyError, TypeError, ValueError) as err:
                raise WeightFileError(f"{path}: dataset {name!r} cannot be read ({err}); the file is corrupt.") from err
            if name == "char_embed" and data.shape == (262, shape[1]):
                data = data[1:]
            if not numpy.isfinite(data).all():
                raise WeightFileError(f"{path}: dataset {name!r} holds NaN or infinite values; the file is corrupt.")
            arrays[name] = data
    return arrays


def bilm_from_original_arrays(options: BiLMOptions, arrays: Dict[str, numpy.ndarray]) -> BiLM:
    bilm = BiLM(options)
    t = lambda a: torch.from_numpy(numpy.ascontiguousarray(a))  # noqa: E731
    P, H = options.projection_dim, options.lstm_dim
    with torch.no_grad():
        cnn = bilm.char_cnn
        cnn.char_embedding.weight[0].zero_()
        cnn.char_embedding.weight[1:] = t(arrays["char_embed"])
        for i, (conv, conv_bias) in enumerate(zip(cnn.conv_layers, cnn.conv_biases)):
            conv.weight.copy_(t(arrays[f"CNN/W_cnn_{i}"][0].transpose(2, 1, 0)))
            conv_bias.copy_(t(arrays[f"CNN/b_cnn_{i}"]))
        for k, highway in enumerate(cnn.highway_layers):
            weight = numpy.concatenate([arrays[f"CNN_high_{k}/W_transform"].T, arrays[f"CNN_high_{k}/W_carry"].T])
            bias = numpy.concatenate([arrays[f"CNN_high_{k}/b_transform"], arrays[f"CNN_high_{k}/b_carry"]])
            highway.linear.weight.copy_(t(weight))
            highway.linear.bias.copy_(t(bias))
        cnn.projection.weight.copy_(t(arrays["CNN_proj/W_proj"].T))
        cnn.projection.bias.copy_(t(arrays["CNN_proj/b_proj"]))
        for d, stack in enumerate(bilm.lstm.directions()):
            for layer, lstm in enumerate(stack):
                prefix = _lstm_prefix(d, layer)
                w = arrays[f"{prefix}/W_0"]
                bias = arrays[f"{prefix}/B"].copy()
                bias[2 * H : 3 * H] += FORGET_BIAS
                lstm.input_linearity.weight.copy_(t(w[:P].T))
                lstm.state_linearity.weight.copy_(t(w[P:].T))
                lstm.state_linearity.bias.copy_(t(bias))
                lstm.projection.weight.copy_(t(arrays[f"{prefix}/W_P_0"].T))
    return bilm


def bilm_to_original_arrays(bilm: BiLM) -> Dict[str, numpy.ndarray]:
    """The inverse of :func:`bilm_from_original_arrays`: float32 arrays in the original layout."""
    options = bilm.options
    options.require_bytes("Writing the original hdf5 layout")
    H = options.lstm_dim
    a = lambda p: p.detach().float().cpu().numpy()  # noqa: E731
    cnn = bilm.char_cnn
    F = options.n_filters
    arrays: Dict[str, numpy.ndarray] = {"char_embed": a(cnn.char_embedding.weight)[1:]}
    for i, conv in enumerate(cnn.conv_layers):
        arrays[f"CNN/W_cnn_{i}"] = a(conv.weight).transpose(2, 1, 0)[None]
        arrays[f"CNN/b_cnn_{i}"] = a(conv.bias)
    for k, highway in enumerate(cnn.highway_layers):
        weight, bias = a(highway.linear.weight), a(highway.linear.bias)
        arrays[f"CNN_high_{k}/W_transform"] = weight[:F].T
        arrays[f"CNN_high_{k}/W_carry"] = weight[F:].T
        arrays[f"CNN_high_{k}/b_transform"] = bias[:F]
        arrays[f"CNN_high_{k}/b_carry"] = bias[F:]
    arrays["CNN_proj/W_proj"] = a(cnn.projection.weight).T
    arrays["CNN_proj/b_proj"] = a(cnn.projection.bias)
    for d, stack in enumerate(bilm.lstm.directions()):
        for layer, lstm in enumerate(stack):
            prefix = _lstm_prefix(d, layer)
            arrays[f"{prefix}/W_0"] = numpy.concatenate([a(lstm.input_linearity.weight).T, a(lstm.state_linearity.weight).T])
            bias = a(lstm.state_linearity.bias).copy()
            bias[2 * H : 3 * H] -= FORGET_BIAS
            arrays[f"{prefix}/B"] = bias
            arrays[f"{prefix}/W_P_0"] = a(lstm.projection.weight).T
    return {k: numpy.ascontiguousarray(v, dtype=numpy.float32) for k, v in arrays.items()}


def load_original(options_file: Union[str, Path], weight_file: Union[str, Path]) -> BiLM:
    """A :class:`BiLM` from an original ``options.json`` + ``.hdf5`` pair."""
    options = BiLMOptions.from_file(options_file)
    bilm = bilm_from_original_arrays(options, read_original_arrays(weight_file, options))
    return bilm.eval()


def save_original(bilm: BiLM, out_dir: Union[str, Path], weight_name: str = ORIGINAL_WEIGHTS_NAME) -> Path:
    """Write ``options.json`` + ``weight_name`` in the original layout; returns the weight path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bilm.options.to_file(out / OPTIONS_NAME)
    path = out / weight_name
    with atomic_path(path) as tmp, _open_h5(tmp, "w") as h5:
        for name, data in bilm_to_original_arrays(bilm).items():
            h5.create_dataset(name, data=data)
    return path
