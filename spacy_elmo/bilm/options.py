"""The biLM's architecture, in the original options.json vocabulary.

Kept as a plain dataclass so that the native format, the original format and
the training config all describe a model the same way.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..atomic import write_text
from ..errors import OptionsError
from . import fields

ACTIVATIONS = ("relu", "tanh")
N_BYTE_CHAR_ROWS = 262  # the original vocabulary's 261 ids, after the +1 shift
VOCABULARY_KEY = "vocabulary"  # options.json: {"kind": "elmoformanylangs", "word_embedding_dim", "n_words"}
LANG_KEY = "lang"  # options.json: the model's language, where known
VOCABULARY_KINDS = ("elmoformanylangs",)
N_SPECIAL_CHARACTERS = 6  # an ELMoForManyLangs dictionary's <bos> <eos> <oov> <pad> <bow> <eow>


@dataclass(frozen=True)
class BiLMOptions:
    """Sizes of the character CNN and the LSTM stack (see ``options.json``).

    ``n_lstm_layers`` counts LSTM layers (``lstm.n_layers`` in options.json); the biLM's *output*
    layers are one more (:attr:`n_output_layers`: the token layer, then one per LSTM layer).
    """

    char_embedding_dim: int = 16
    filters: Tuple[Tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
    n_highway: int = 2
    n_characters: int = 262
    max_characters_per_token: int = 50
    activation: str = "relu"
    lstm_dim: int = 4096
    projection_dim: int = 512
    n_lstm_layers: int = 2  # options.json: lstm.n_layers
    cell_clip: float = 3.0
    proj_clip: float = 3.0
    use_skip_connections: bool = True
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.activation not in ACTIVATIONS:
            problems.append(f"char_cnn.activation is {self.activation!r}; expected one of {ACTIVATIONS}")
        if not self.filters:
            problems.append("char_cnn.filters is empty; give at least one [width, n_filters] pair")
        for width, num in self.filters:
            if width < 1 or num < 1:
                problems.append(f"char_cnn.filters has [{width}, {num}]; widths and counts must be >= 1")
            if width > self.max_characters_per_token:
                problems.append(f"filter width {width} is wider than max_characters_per_token={self.max_characters_per_token}")
        for name in ("char_embedding_dim", "lstm_dim", "projection_dim", "n_lstm_layers", "n_characters"):
            if getattr(self, name) < 1:
                problems.append(f"{name} is {getattr(self, name)}; it must be >= 1")
        for name in ("cell_clip", "proj_clip"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                problems.append(f"lstm.{name} is {value}; it must be a finite number >= 0 (0: no clipping)")
        spec = self.extra.get(VOCABULARY_KEY)
        if spec is None:
            if self.n_characters not in (261, 262):
                problems.append(f"char_cnn.n_characters is {self.n_characters}; ELMo's character vocabulary needs 261 (262 with padding)")
        else:
            problems += _vocabulary_problems(spec, self.n_characters)
        lang = self.extra.get(LANG_KEY)
        if lang is not None and (not isinstance(lang, str) or not 1 <= len(lang) <= 16):
            problems.append(f"{LANG_KEY} is {lang!r}; expected a language code such as 'de'")
        if self.max_characters_per_token < 3:
            problems.append("max_characters_per_token must be >= 3 (begin-of-word, a character, end-of-word)")
        if self.n_highway < 0:
            problems.append("n_highway must be >= 0")
        if problems:
            raise OptionsError("Invalid ELMo options: " + "; ".join(problems))

    @property
    def n_filters(self) -> int:
        """Width of the concatenated convolution output (the highway layers' width)."""
        return sum(num for _, num in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of every output layer: forward and backward halves."""
        return 2 * self.projection_dim

    @property
    def n_output_layers(self) -> int:
        """The token layer plus one per LSTM layer."""
        return self.n_lstm_layers + 1

    # -- the character vocabulary (a top-level "vocabulary" entry; absent: the original byte one) ------
    @property
    def vocabulary(self) -> str:
        """``"bytes"`` (the original ELMo's) or ``"elmoformanylangs"`` (a per-model dictionary)."""
        spec = self.extra.get(VOCABULARY_KEY)
        return "bytes" if spec is None else str(spec["kind"])

    @property
    def char_embedding_rows(self) -> int:
        """Rows of the character embedding, row 0 the zero row of padding token slots."""
        return N_BYTE_CHAR_ROWS if self.vocabulary == "bytes" else self.n_characters

    @property
    def word_embedding_dim(self) -> int:
        """Width of the word embedding concatenated before the projection (0: none, as in the original ELMo)."""
        spec = self.extra.get(VOCABULARY_KEY)
        return 0 if spec is None else int(spec.get("word_embedding_dim", 0))

    @property
    def n_words(self) -> int:
        """Rows of the word embedding, row 0 the zero row (0 without a word embedding)."""
        spec = self.extra.get(VOCABULARY_KEY)
        return 0 if spec is None else int(spec.get("n_words", 0))

    @property
    def lang(self) -> Optional[str]:
        """The model's language where it is known (a top-level ``"lang"``), else None."""
        lang = self.extra.get(LANG_KEY)
        return lang if isinstance(lang, str) else None

    def require_bytes(self, purpose: str) -> None:
        """Refuse ``purpose`` (a training-side command) for a model whose characters go through a dictionary:
        training, adapting and the original hdf5 layout know only the original byte vocabulary."""
        if self.vocabulary != "bytes":
            raise OptionsError(
                f"{purpose} needs a biLM with the original byte character vocabulary (AllenNLP / bilm-tf, or trained here); "
                f"this one is an {self.vocabulary} model (a per-model character dictionary and a word embedding), which "
                "that command cannot handle. Use it for inference (the 'elmo' component, embed, similarity; convert makes "
                "it native), or start from a byte-vocabulary model."
            )

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BiLMOptions":
        """Read the original (AllenNLP / bilm-tf) options layout, every field checked (:mod:`.fields`)."""
        if not isinstance(data, dict):
            raise OptionsError(f"ELMo options must be a JSON object, got {type(data).__name__}.")
        try:
            cnn = fields.section(data, "char_cnn", "")
            lstm = fields.section(data, "lstm", "")
            max_chars = fields.integer(cnn, "max_characters_per_token", "char_cnn", 3, fields.MAX_CHARS_PER_TOKEN, default=50)
            known = {"char_cnn", "lstm"}
            extra = {k: v for k, v in data.items() if k not in known}
            spec = extra.get(VOCABULARY_KEY)
            if spec is not None:
                extra[VOCABULARY_KEY] = _read_vocabulary(spec)
            return cls(
                char_embedding_dim=fields.integer(fields.section(cnn, "embedding", "char_cnn"), "dim", "char_cnn.embedding", 1, fields.MAX_DIM),
                filters=fields.filters(cnn, "filters", "char_cnn", max_chars),
                n_highway=fields.integer(cnn, "n_highway", "char_cnn", 0, fields.MAX_LAYERS, default=0),
                n_characters=fields.integer(cnn, "n_characters", "char_cnn", 1, fields.MAX_VOCABULARY, default=262),
                max_characters_per_token=max_chars,
                activation=fields.choice(cnn, "activation", "char_cnn", ACTIVATIONS, default="relu"),
                lstm_dim=fields.integer(lstm, "dim", "lstm", 1, fields.MAX_DIM),
                projection_dim=fields.integer(lstm, "projection_dim", "lstm", 1, fields.MAX_DIM),
                n_lstm_layers=fields.integer(lstm, "n_layers", "lstm", 1, fields.MAX_LAYERS),
                cell_clip=fields.number(lstm, "cell_clip", "lstm", 0.0, fields.MAX_CLIP, default=0.0, none_as=0.0),
                proj_clip=fields.number(lstm, "proj_clip", "lstm", 0.0, fields.MAX_CLIP, default=0.0, none_as=0.0),
                use_skip_connections=fields.boolean(lstm, "use_skip_connections", "lstm", default=False),
                extra=extra,
            )
        except OptionsError as err:
            raise OptionsError(
                f"ELMo options are missing or have a malformed entry: {err} (expected the original layout: {{'char_cnn': {{'embedding': {{'dim'}}, 'filters', 'n_highway', "
                "'n_characters', 'max_characters_per_token', 'activation'}, 'lstm': {'dim', 'projection_dim', "
                "'n_layers', 'cell_clip', 'proj_clip', 'use_skip_connections'}})"
            ) from None

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "BiLMOptions":
        path = Path(path)
        if not path.is_file():
            raise OptionsError(f"ELMo options file not found: {path}. Give the options.json that came with the weights.")
        data = fields.json_object_file(path, "ELMo options file",
                                       "Is it the weight file? Give the options.json that came with the weights.")
        try:
            return cls.from_dict(data)
        except OptionsError as err:
            raise OptionsError(f"{path}: {err}") from err

    def to_dict(self) -> Dict[str, Any]:
        """The original layout, readable by AllenNLP and bilm-tf."""
        data: Dict[str, Any] = dict(self.extra)
        data["char_cnn"] = {
            "embedding": {"dim": self.char_embedding_dim},
            "filters": [list(f) for f in self.filters],
            "n_highway": self.n_highway,
            "n_characters": self.n_characters,
            "max_characters_per_token": self.max_characters_per_token,
            "activation": self.activation,
        }
        data["lstm"] = {
            "dim": self.lstm_dim,
            "projection_dim": self.projection_dim,
            "n_layers": self.n_lstm_layers,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
            "use_skip_connections": self.use_skip_connections,
        }
        return data

    def to_file(self, path: Union[str, Path]) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def describe(self) -> str:
        return (
            f"char CNN {self.n_filters} filters, {self.n_highway} highway, "
            f"{self.n_lstm_layers}x LSTM {self.lstm_dim}->{self.projection_dim}, "
            f"residual={'on' if self.use_skip_connections else 'off'}, output {self.n_output_layers}x{self.output_dim}"
        )


def _read_vocabulary(spec: Any) -> Dict[str, Any]:
    """The ``vocabulary`` entry of options.json, each field checked."""
    if not isinstance(spec, dict):
        raise OptionsError(f"{VOCABULARY_KEY} is {spec!r}: expected a JSON object with 'kind', 'word_embedding_dim', 'n_words'.")
    unknown = sorted(set(spec) - {"kind", "word_embedding_dim", "n_words"})
    if unknown:
        raise OptionsError(f"{VOCABULARY_KEY} has unknown field(s) {unknown}; expected 'kind', 'word_embedding_dim', 'n_words'.")
    return {
        "kind": fields.choice(spec, "kind", VOCABULARY_KEY, VOCABULARY_KINDS),
        "word_embedding_dim": fields.integer(spec, "word_embedding_dim", VOCABULARY_KEY, 0, fields.MAX_DIM, default=0),
        "n_words": fields.integer(spec, "n_words", VOCABULARY_KEY, 0, fields.MAX_VOCABULARY, default=0),
    }


def _vocabulary_problems(spec: Any, n_characters: int) -> List[str]:
    try:
        spec = _read_vocabulary(spec)
    except OptionsError as err:
        return [str(err)]
    problems = []
    if n_characters < N_SPECIAL_CHARACTERS + 1:
        problems.append(f"char_cnn.n_characters is {n_characters}; a character dictionary has at least its "
                        f"{N_SPECIAL_CHARACTERS} special entries (plus the padding row)")
    if (spec["word_embedding_dim"] > 0) != (spec["n_words"] > 0):
        problems.append(f"{VOCABULARY_KEY}: word_embedding_dim {spec['word_embedding_dim']} and n_words {spec['n_words']} "
                        "must both be 0 (no word embedding) or both be positive")
    return problems
