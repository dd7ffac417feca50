"""The pretraining config: a spaCy-style ``.cfg`` with three sections, read without thinc (``cfg.py``).

``[model]`` is the biLM architecture (the options.json fields), ``[corpus]`` how text
becomes tokens and the output vocabulary, ``[training]`` the optimisation. Every
field has a default, so a config file only needs what it changes. The defaults here are the one
source: they are the shipped small model's settings, which ``configs/pretrain/default.cfg`` writes
out in full (a test keeps the two equal), and ``pretrain`` without ``--config`` uses them. A new setting is one
more dataclass field (with its default): reading, writing and the unknown-key check follow.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..bilm import BiLMOptions
from ..errors import ElmoError
from . import cfg


class ConfigError(ElmoError, ValueError):
    """The training config has an unknown section or key, or a bad value."""


@dataclass
class CorpusSettings:
    lang: str = "en"
    pretokenized: bool = False
    split_sentences: bool = True
    max_sentence_tokens: int = 60
    max_line_chars: int = 100_000
    vocab_size: int = 50_000
    min_count: int = 1
    dev_max_sentences: int = 0  # dev subset evaluated at each checkpoint (0 = all)
    heldout_sentences: int = 1000  # held out from the training text when no --dev is given


@dataclass
class TrainingSettings:
    seed: int = 0
    batch_tokens: int = 2000
    max_batch_sentences: int = 256
    dropout: float = 0.05  # on each LSTM layer's input
    output_dropout: float = 0.05  # on the top layer, before the softmax
    learning_rate: float = 0.002
    warmup_steps: int = 100
    lr_schedule: str = "cosine"  # "cosine" (to min_lr_ratio at max_steps) or "constant"
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_steps: int = 2600
    max_epochs: int = 0  # 0 = no limit
    max_minutes: float = 0.0  # 0 = no limit; a stop at the limit still checkpoints
    checkpoint_every_steps: int = 0  # 0 = only by time
    checkpoint_every_minutes: float = 10.0
    adaptive_cutoffs: List[int] = field(default_factory=lambda: [2000, 10000])
    adaptive_div_value: float = 4.0
    torch_threads: int = 1  # 0 = torch's default
    # How the biLSTM runs with grad (spacy_elmo/bilm/fast/batched_lstm.py): "batched" (both directions per
    # matmul) or "loop" (the step loop); the same numbers up to float rounding.
    lstm_impl: str = "batched"
    lstm_compile: bool = False  # fuse the LSTM's pointwise ops with torch.compile (needs a compiler)
    cuda_graphs: bool = False  # CUDA only: each LSTM layer as a CUDA graph per (rows, steps) bucket
    autocast: str = "none"  # "bfloat16": matmuls in bf16 under torch.autocast (cell state stays fp32); "auto": bf16 where the training products measured >= 1.2x faster in bf16 (trainer.autocast_dtype)


# [model] keys are the options.json names; a BiLMOptions field named differently is mapped here.
_MODEL_KEY_OF_FIELD = {"n_lstm_layers": "n_layers"}


def _model_fields() -> Dict[str, str]:
    """[model] key -> BiLMOptions field."""
    return {_MODEL_KEY_OF_FIELD.get(f.name, f.name): f.name for f in fields(BiLMOptions) if f.name != "extra"}


def _options(model_data: Dict[str, Any]) -> BiLMOptions:
    names = _model_fields()
    bad = set(model_data) - set(names)
    if bad:
        raise ConfigError(f"Unknown [model] key(s) {sorted(bad)}; known: {sorted(names)}.")
    if "filters" in model_data:
        model_data = {**model_data, "filters": tuple((int(w), int(n)) for w, n in model_data["filters"])}
    return BiLMOptions(**{names[key]: value for key, value in model_data.items()})


def small_english_options() -> BiLMOptions:
    """The default model's architecture (configs/pretrain/default.cfg): small enough for CPU training."""
    return _options({
        "char_embedding_dim": 16,
        "filters": [[1, 32], [2, 32], [3, 64], [4, 128]],
        "n_highway": 1,
        "lstm_dim": 512,
        "projection_dim": 128,
        "n_layers": 2,
        "cell_clip": 3.0,
        "proj_clip": 3.0,
        "use_skip_connections": True,
    })


@dataclass
class PretrainConfig:
    model: BiLMOptions = field(default_factory=small_english_options)
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)

    # -- reading / writing -----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "PretrainConfig":
        unknown = set(data) - {"model", "corpus", "training"}
        if unknown:
            raise ConfigError(f"Unknown config section(s) {sorted(unknown)}; expected [model], [corpus], [training].")
        return cls(
            model=_options(dict(data.get("model", {}))),
            corpus=_build(CorpusSettings, data.get("corpus", {}), "corpus"),
            training=_build(TrainingSettings, data.get("training", {}), "training"),
        )

    @classmethod
    def from_file(cls, path: Union[str, Path], overrides: Optional[Dict[str, Any]] = None) -> "PretrainConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file not found: {path}. See configs/pretrain/*.cfg for examples.")
        try:
            data = cfg.load(path, overrides)
        except cfg.CfgError as err:
            raise ConfigError(f"Cannot parse config {path}: {err}") from err
        return cls.from_dict(data)

    @classmethod
    def from_command(
        cls, path: Optional[Union[str, Path]], overrides: Dict[str, Any], lang: Optional[str] = None, pretokenized: bool = False
    ) -> "PretrainConfig":
        """What ``pretrain`` trains with: the config file (or the defaults, written out in configs/pretrain/default.cfg)
        with ``--section.key value`` overrides (:func:`parse_overrides`), then ``--lang`` / ``--pretokenized``."""
        if path is not None:
            config = cls.from_file(path, overrides)
        else:
            config = cls.from_dict(_apply(cls().to_dict(), overrides))
        if lang is not None:
            config.corpus.lang = lang
        if pretokenized:
            config.corpus.pretokenized = True
        return config

    def to_dict(self) -> Dict[str, Any]:
        model = {key: getattr(self.model, name) for key, name in _model_fields().items()}
        model["filters"] = [list(f) for f in self.model.filters]
        return {"model": model, "corpus": asdict(self.corpus), "training": asdict(self.training)}

    def to_file(self, path: Union[str, Path]) -> None:
        cfg.dump(self.to_dict(), path)

    def with_model(self, options: BiLMOptions) -> "PretrainConfig":
        return PretrainConfig(model=options, corpus=self.corpus, training=self.training)


def _build(kind, data: Dict[str, Any], section: str):
    names = {f.name: f for f in fields(kind)}
    bad = set(data) - set(names)
    if bad:
        raise ConfigError(f"Unknown [{section}] key(s) {sorted(bad)}; known: {sorted(names)}.")
    try:
        return kind(**data)
    except TypeError as err:
        raise ConfigError(f"Bad [{section}] settings: {err}") from err


# -- overrides from the command line ---------------------------------------------------------
def parse_overrides(args: Sequence[str]) -> Dict[str, Any]:
    """``--training.max_steps 10`` (or ``--training.max_steps=10``) -> ``{"training.max_steps": 10}``,
    each value read as JSON where it parses (else kept as a string)."""
    out: Dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or "." not in arg:
            raise ConfigError(f"Unexpected argument {arg!r}. Config overrides look like --training.max_steps 100.")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"Override {arg} has no value.")
            value = args[i + 1]
            i += 2
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _apply(data: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in data:
            raise ConfigError(f"Unknown config section in override --{key}.")
        data[section][name] = value
    return data
