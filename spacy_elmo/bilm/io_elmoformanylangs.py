"""Read an ELMoForManyLangs model folder (HIT-SCIR) as a :class:`BiLM` that gives its outputs.

Their folder: ``config.json`` (training options; ``config_path`` names the architecture JSON),
that JSON, ``char.dic`` and ``word.dic`` (``key<TAB>id`` lines), ``token_embedder.pkl`` and
``encoder.pkl`` (torch state dicts of tensors, read with ``torch.load(weights_only=True)`` only:
never unpickled as code). Where their model differs from the AllenNLP one, and how it is mapped:

- characters: a per-model dictionary (:mod:`.dictionary_characters`), read with their reader's own
  line splitting (:func:`read_dictionary`);
- a word embedding whose vector goes before the highway output into the projection
  (``CharCNN.word_embedding``);
- the highway gate the other way round (``g * x + (1 - g) * relu(Ax)``): stored here with the gate's
  weights negated, since ``1 - sigmoid(z) = sigmoid(-z)``;
- AllenNLP's LSTM gate order (input, forget, cell, output) with no forget-bias shift: reordered to
  this package's (input, cell, forget, output), biases as they are.

Their encoder is stateful (states carry over between batches); this model is stateless, which is
what theirs computes on its first batch after a reset. Every field that is read is checked first
(:mod:`.fields`), and every tensor's name, shape and kind before the model is built.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..errors import OptionsError, WeightFileError
from . import fields
from .dictionary_characters import DictionaryVocabulary
from .model import BiLM
from .options import VOCABULARY_KEY, BiLMOptions

PathLike = Union[str, Path]

CONFIG_NAME = "config.json"
CHAR_DICT_NAME = "char.dic"
WORD_DICT_NAME = "word.dic"
TOKEN_EMBEDDER_NAME = "token_embedder.pkl"
ENCODER_NAME = "encoder.pkl"
REQUIRED = (CONFIG_NAME, TOKEN_EMBEDDER_NAME, ENCODER_NAME)
KIND = "elmoformanylangs"

MAX_DICT_BYTES = 1 << 30

# The architecture their package ships in its own configs/ folder, which a released model's
# config.json may name without including it (the English model does): the same numbers under both names.
_SAMPLE_ARCHITECTURE: Dict[str, Any] = {
    "encoder": {"name": "elmo", "projection_dim": 512, "cell_clip": 3, "proj_clip": 3, "dim": 4096, "n_layers": 2},
    "token_embedder": {
        "name": "cnn", "activation": "relu", "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
        "n_highway": 2, "word_dim": 100, "char_dim": 50, "max_characters_per_token": 50,
    },
}
BUILT_IN_ARCHITECTURES = {"cnn_50_100_512_4096_sample.json": _SAMPLE_ARCHITECTURE, "cnn_0_100_512_4096_sample.json": _SAMPLE_ARCHITECTURE}


def is_elmoformanylangs_dir(path: PathLike) -> bool:
    """A folder with their ``config.json``, ``token_embedder.pkl`` and ``encoder.pkl``."""
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in REQUIRED)


def load_elmoformanylangs(path: PathLike) -> BiLM:
    """The model in ``path`` as a :class:`BiLM` (eval mode, CPU, float32) that gives its outputs."""
    folder = Path(path)
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise WeightFileError(
            f"{folder} is not a complete ELMoForManyLangs model: {', '.join(missing)} missing. Unzip the whole model "
            f"archive into one folder ({', '.join(REQUIRED)}, {CHAR_DICT_NAME}, {WORD_DICT_NAME} and the architecture JSON)."
        )
    architecture, where = read_architecture(folder)
    characters = read_dictionary(folder / CHAR_DICT_NAME)
    words = read_dictionary(folder / WORD_DICT_NAME) if architecture["word_dim"] > 0 else None
    options = options_of(architecture, len(characters), None if words is None else len(words), where)
    vocabulary = DictionaryVocabulary(characters, words, options.max_characters_per_token,
                                      (str(folder / CHAR_DICT_NAME), str(folder / WORD_DICT_NAME)))
    token_embedder = read_state(folder / TOKEN_EMBEDDER_NAME, token_embedder_shapes(options))
    encoder = read_state(folder / ENCODER_NAME, encoder_shapes(options))
    bilm = BiLM(options, vocabulary=vocabulary)
    bilm.load_state_dict(_mapped(options, token_embedder, encoder))
    return bilm.eval()


def read_options(path: PathLike) -> BiLMOptions:
    """The model's :class:`BiLMOptions` without reading its weights (the dictionaries give two sizes)."""
    folder = Path(path)
    architecture, where = read_architecture(folder)
    n_words = len(read_dictionary(folder / WORD_DICT_NAME)) if architecture["word_dim"] > 0 else None
    return options_of(architecture, len(read_dictionary(folder / CHAR_DICT_NAME)), n_words, where)


# -- config.json and the architecture JSON ---------------------------------------------------------
def _read_json(path: Path) -> Dict[str, Any]:
    return fields.json_object_file(path, "ELMoForManyLangs configuration",
                                   "The file is corrupt or not an ELMoForManyLangs configuration.")


def read_architecture(folder: Path) -> Tuple[Dict[str, Any], str]:
    """The checked architecture fields, and where they came from (for errors). Found as their
    package finds it, but never outside ``folder``: ``config_path`` inside the folder, then its file
    name in the folder, then the architectures their package ships, by file name."""
    config = _read_json(folder / CONFIG_NAME)
    named = config.get("config_path")
    if not isinstance(named, str) or not named.strip():
        raise OptionsError(f"{folder / CONFIG_NAME}: config_path is {named!r}; expected the file name of the architecture JSON.")
    if "\x00" in named:
        raise OptionsError(f"{folder / CONFIG_NAME}: config_path {named!r} holds a NUL character; it is not a file name.")
    base = PureWindowsPath(named).name if "\\" in named else PurePosixPath(named).name
    candidates = []
    inside = (folder / named).resolve()
    if inside.is_relative_to(folder.resolve()):
        candidates.append(inside)
    if base:
        candidates.append(folder / base)
    for candidate in candidates:
        if candidate.is_file():
            return _architecture(_read_json(candidate), candidate.name), str(candidate)
    if base in BUILT_IN_ARCHITECTURES:
        return _architecture(BUILT_IN_ARCHITECTURES[base], base), f"the architecture {base} of the ELMoForManyLangs package"
    raise OptionsError(
        f"{folder / CONFIG_NAME}: config_path names {named!r}, which is neither in {folder} nor one of the architectures the "
        f"ELMoForManyLangs package ships ({', '.join(BUILT_IN_ARCHITECTURES)}). Put that architecture JSON into the model folder."
    )


def _architecture(data: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Every field their model reads, checked; unsupported variants refused with the reason."""
    try:
        encoder = fields.section(data, "encoder", "")
        embedder = fields.section(data, "token_embedder", "")
        fields.choice(encoder, "name", "encoder", ("elmo", "lstm"), fold_case=True)
        if encoder["name"].lower() != "elmo":
            raise OptionsError("encoder.name is 'lstm': only the 'elmo' encoder (the released models') is supported.")
        fields.choice(embedder, "name", "token_embedder", ("cnn", "lstm"), fold_case=True)
        if embedder["name"].lower() != "cnn":
            raise OptionsError("token_embedder.name is 'lstm': only the 'cnn' token embedder (the released models') is supported.")
        max_chars = fields.integer(embedder, "max_characters_per_token", "token_embedder", 3, fields.MAX_CHARS_PER_TOKEN)
        out = {
            "projection_dim": fields.integer(encoder, "projection_dim", "encoder", 1, fields.MAX_DIM),
            "dim": fields.integer(encoder, "dim", "encoder", 1, fields.MAX_DIM),
            "n_layers": fields.integer(encoder, "n_layers", "encoder", 1, fields.MAX_LAYERS),
            "cell_clip": fields.number(encoder, "cell_clip", "encoder", 0.0, fields.MAX_CLIP, none_as=0.0),
            "proj_clip": fields.number(encoder, "proj_clip", "encoder", 0.0, fields.MAX_CLIP, none_as=0.0),
            "activation": fields.choice(embedder, "activation", "token_embedder", ("relu", "tanh")),
            "filters": fields.filters(embedder, "filters", "token_embedder", max_chars),
            "n_highway": fields.integer(embedder, "n_highway", "token_embedder", 0, fields.MAX_LAYERS),
            "word_dim": fields.integer(embedder, "word_dim", "token_embedder", 0, fields.MAX_DIM),
            "char_dim": fields.integer(embedder, "char_dim", "token_embedder", 0, fields.MAX_DIM),
            "max_characters_per_token": max_chars,
        }
        if out["char_dim"] == 0:
            raise OptionsError("token_embedder.char_dim is 0: models without characters (word embedding only) are not supported.")
        return out
    except OptionsError as err:
        raise OptionsError(f"{where}: {err}") from None


def options_of(architecture: Dict[str, Any], n_characters: int, n_words: Optional[int], where: str) -> BiLMOptions:
    """The :class:`BiLMOptions` of their architecture and dictionary sizes (rows include the zero row)."""
    vocabulary = {"kind": KIND, "word_embedding_dim": architecture["word_dim"] if n_words else 0, "n_words": n_words + 1 if n_words else 0}
    try:
        return BiLMOptions(
            char_embedding_dim=architecture["char_dim"], filters=architecture["filters"], n_highway=architecture["n_highway"],
            n_characters=n_characters + 1, max_characters_per_token=architecture["max_characters_per_token"],
            activation=architecture["activation"], lstm_dim=architecture["dim"], projection_dim=architecture["projection_dim"],
            n_lstm_layers=architecture["n_layers"], cell_clip=architecture["cell_clip"], proj_clip=architecture["proj_clip"],
            use_skip_connections=True, extra={VOCABULARY_KEY: vocabulary},
        )
    except OptionsError as err:
        raise OptionsError(f"{where}: {err}") from None


# -- char.dic / word.dic --------------------------------------------------------------------------
def read_dictionary(path: Path) -> List[str]:
    """The keys of a ``.dic`` file in id order, read exactly as their reader reads it.

    Their reader: lines as Python's ``splitlines`` cuts them (so also at ``\\x1c``-``\\x1e``, ``\\x85``,
    ``\\u2028``...), each stripped of surrounding whitespace and split at tabs; a line left with one
    field is the key U+3000 (a whitespace key); a later line with the same key wins. The ids must
    then be exactly 0 .. n-1, one per key (the embedding's rows): anything else is an error naming
    the file, the line and the fix.
    """
    if not path.is_file():
        raise WeightFileError(f"{path} is missing: an ELMoForManyLangs model folder needs it. Unzip the whole model archive.")
    if path.stat().st_size > MAX_DICT_BYTES:
        raise WeightFileError(f"{path} is {path.stat().st_size:,} bytes, far more than a dictionary; it is not one.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WeightFileError(f"{path}: byte {err.start} is not UTF-8; the dictionary is corrupt or truncated.") from err
    ids: Dict[str, int] = {}
    lines: Dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.strip().split("\t")
        if len(parts) == 1:
            parts.insert(0, "\u3000")
        if len(parts) != 2:
            raise WeightFileError(f"{path}, line {number}: {line!r} has {len(parts)} tab-separated fields; expected 'key<TAB>id'.")
        key, value = parts
        try:
            ids[key] = int(value)
        except ValueError:
            raise WeightFileError(f"{path}, line {number}: the id {value!r} of {key!r} is not an integer; the dictionary is corrupt.") from None
        lines[key] = number
    keys: List[Optional[str]] = [None] * len(ids)
    for key, i in ids.items():
        if not 0 <= i < len(ids):
            raise WeightFileError(
                f"{path}, line {lines[key]}: id {i} of {key!r} is out of range: {len(ids)} entries need ids 0 to {len(ids) - 1}. "
                "The dictionary is corrupt or does not belong to this model."
            )
        if keys[i] is not None:
            raise WeightFileError(
                f"{path}, line {lines[key]}: id {i} is given to both {keys[i]!r} and {key!r}; every entry needs its own id. "
                "The dictionary is corrupt or does not belong to this model."
            )
        keys[i] = key
    return [k for k in keys if k is not None]


# -- token_embedder.pkl / encoder.pkl -------------------------------------------------------------
def token_embedder_shapes(options: BiLMOptions) -> Dict[str, Tuple[int, ...]]:
    """Their ``ConvTokenEmbedder``'s state dict: name -> shape."""
    F, dim = options.n_filters, options.char_embedding_dim
    shapes: Dict[str, Tuple[int, ...]] = {}
    if options.word_embedding_dim:
        shapes["word_emb_layer.embedding.weight"] = (options.n_words - 1, options.word_embedding_dim)
    shapes["char_emb_layer.embedding.weight"] = (options.n_characters - 1, dim)
    for i, (width, num) in enumerate(options.filters):
        shapes[f"convolutions.{i}.weight"] = (num, dim, width)
        shapes[f"convolutions.{i}.bias"] = (num,)
    for k in range(options.n_highway):
        shapes[f"highways._layers.{k}.weight"] = (2 * F, F)
        shapes[f"highways._layers.{k}.bias"] = (2 * F,)
    shapes["projection.weight"] = (options.projection_dim, options.word_embedding_dim + F)
    shapes["projection.bias"] = (options.projection_dim,)
    return shapes


def encoder_shapes(options: BiLMOptions) -> Dict[str, Tuple[int, ...]]:
    """Their ``ElmobiLm``'s state dict: name -> shape."""
    P, H = options.projection_dim, options.lstm_dim
    shapes: Dict[str, Tuple[int, ...]] = {}
    for layer in range(options.n_lstm_layers):
        for direction in ("forward", "backward"):
            prefix = f"{direction}_layer_{layer}"
            shapes[f"{prefix}.input_linearity.weight"] = (4 * H, P)
            shapes[f"{prefix}.state_linearity.weight"] = (4 * H, P)
            shapes[f"{prefix}.state_linearity.bias"] = (4 * H,)
            shapes[f"{prefix}.state_projection.weight"] = (P, H)
    return shapes


def read_state(path: Path, expected: Dict[str, Tuple[int, ...]]) -> Dict[str, torch.Tensor]:
    """A ``.pkl`` state dict read with ``weights_only=True``, checked: a mapping of exactly the
    ``expected`` names to finite float tensors of the expected shapes."""
    needed = 4 * sum(_numel(shape) for shape in expected.values())
    size = path.stat().st_size
    if size < needed or size > 2 * needed + (1 << 20):
        raise WeightFileError(
            f"{path} is {size:,} bytes, but the architecture's tensors take {needed:,} bytes as float32: the file is "
            "truncated, or the architecture JSON and the dictionaries do not belong to these weights."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, zipfile.BadZipFile) as err:
        raise WeightFileError(
            f"Cannot read {path} as a torch state dict of tensors ({type(err).__name__}: {str(err)[:300]}). The file is corrupt, "
            "truncated, or holds something other than tensors (it is never unpickled as code)."
        ) from err
    if not isinstance(state, dict):
        raise WeightFileError(f"{path} holds a {type(state).__name__}, not a state dict (names to tensors).")
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise WeightFileError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor; the file is not an ELMoForManyLangs weight file.")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        problem = f"tensor {missing[0]!r} is missing (expected shape {expected[missing[0]]})" if missing else f"tensor {unexpected[0]!r} is unexpected"
        raise WeightFileError(
            f"{path}: {problem}; {len(missing)} missing and {len(unexpected)} unexpected in all. The weights do not match "
            "the architecture JSON (or the file is not this part of the model)."
        )
    for name, shape in expected.items():
        value = state[name]
        if tuple(value.shape) != shape:
            raise WeightFileError(
                f"{path}: tensor {name!r} has shape {tuple(value.shape)}, but the architecture JSON and the dictionaries expect "
                f"{shape}. They do not belong to these weights."
            )
        if not value.is_floating_point():
            raise WeightFileError(f"{path}: tensor {name!r} holds {value.dtype} values, not floats; the file is not an ELMo weight file.")
        if not bool(torch.isfinite(value).all()):
            raise WeightFileError(f"{path}: tensor {name!r} holds NaN or infinite values; the file is corrupt.")
    return {k: v.float() for k, v in state.items()}


def _numel(shape: Tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _with_zero_row(weight: torch.Tensor) -> torch.Tensor:
    """Row 0 of this package's embeddings marks padding token slots; their rows follow, shifted by one."""
    return torch.cat([weight.new_zeros(1, weight.shape[1]), weight])


def _gates(weight: torch.Tensor) -> torch.Tensor:
    """AllenNLP's gate blocks (input, forget, cell, output) -> this package's (input, cell, forget, output)."""
    i, f, g, o = weight.chunk(4, dim=0)
    return torch.cat([i, g, f, o])


def _mapped(options: BiLMOptions, embedder: Dict[str, torch.Tensor], encoder: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Their two state dicts as this package's ``BiLM`` state dict."""
    F = options.n_filters
    out = {"char_cnn.char_embedding.weight": _with_zero_row(embedder["char_emb_layer.embedding.weight"])}
    if options.word_embedding_dim:
        out["char_cnn.word_embedding.weight"] = _with_zero_row(embedder["word_emb_layer.embedding.weight"])
    for i in range(len(options.filters)):
        out[f"char_cnn.convolutions.{i}.weight"] = embedder[f"convolutions.{i}.weight"]
        out[f"char_cnn.convolutions.{i}.bias"] = embedder[f"convolutions.{i}.bias"]
    for k in range(options.n_highway):
        weight, bias = embedder[f"highways._layers.{k}.weight"], embedder[f"highways._layers.{k}.bias"]
        # Their gate g carries the input; this package's gate carries the transform: negate it (1 - sigmoid(z) = sigmoid(-z)).
        out[f"char_cnn.highways.{k}.linear.weight"] = torch.cat([weight[:F], -weight[F:]])
        out[f"char_cnn.highways.{k}.linear.bias"] = torch.cat([bias[:F], -bias[F:]])
    out["char_cnn.projection.weight"] = embedder["projection.weight"]
    out["char_cnn.projection.bias"] = embedder["projection.bias"]
    for layer in range(options.n_lstm_layers):
        for direction in ("forward", "backward"):
            theirs, ours = f"{direction}_layer_{layer}", f"lstm.{direction}_layers.{layer}"
            out[f"{ours}.input_linearity.weight"] = _gates(encoder[f"{theirs}.input_linearity.weight"])
            out[f"{ours}.state_linearity.weight"] = _gates(encoder[f"{theirs}.state_linearity.weight"])
            out[f"{ours}.state_linearity.bias"] = _gates(encoder[f"{theirs}.state_linearity.bias"])
            out[f"{ours}.projection.weight"] = encoder[f"{theirs}.state_projection.weight"]
    return {k: v.contiguous() for k, v in out.items()}
