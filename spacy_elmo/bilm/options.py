"""The biLM's architecture, in the original options.json vocabulary.

Kept as a plain dataclass so that the native format, the original format and
the training config all describe a model the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Tuple, Union

from ..atomic import write_text
from ..errors import OptionsError

ACTIVATIONS = ("relu", "tanh")


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
        if self.n_characters < 261:
            problems.append(f"char_cnn.n_characters is {self.n_characters}; ELMo's character vocabulary needs 261 (262 with padding)")
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

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BiLMOptions":
        """Read the original (AllenNLP / bilm-tf) options layout."""
        try:
            cnn = data["char_cnn"]
            lstm = data["lstm"]
            filters = tuple((int(w), int(n)) for w, n in cnn["filters"])
            known = {"char_cnn", "lstm"}
            return cls(
                char_embedding_dim=int(cnn["embedding"]["dim"]),
                filters=filters,
                n_highway=int(cnn.get("n_highway", 0)),
                n_characters=int(cnn.get("n_characters", 262)),
                max_characters_per_token=int(cnn.get("max_characters_per_token", 50)),
                activation=str(cnn.get("activation", "relu")),
                lstm_dim=int(lstm["dim"]),
                projection_dim=int(lstm["projection_dim"]),
                n_lstm_layers=int(lstm["n_layers"]),
                cell_clip=float(lstm.get("cell_clip") or 0.0),
                proj_clip=float(lstm.get("proj_clip") or 0.0),
                use_skip_connections=bool(lstm.get("use_skip_connections", False)),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except OptionsError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise OptionsError(
                f"ELMo options are missing or have a malformed entry ({type(err).__name__}: {err}). "
                "Expected the original layout: {'char_cnn': {'embedding': {'dim'}, 'filters', 'n_highway', "
                "'n_characters', 'max_characters_per_token', 'activation'}, 'lstm': {'dim', 'projection_dim', "
                "'n_layers', 'cell_clip', 'proj_clip', 'use_skip_connections'}}"
            ) from err

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "BiLMOptions":
        path = Path(path)
        if not path.is_file():
            raise OptionsError(f"ELMo options file not found: {path}. Give the options.json that came with the weights.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise OptionsError(f"ELMo options file {path} is not valid JSON ({err}). Is it the options.json, not the weights?") from err
        if not isinstance(data, dict):
            raise OptionsError(f"ELMo options file {path} holds a {type(data).__name__}, not a JSON object.")
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
