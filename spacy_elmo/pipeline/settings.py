"""Every setting of the "elmo" component, declared once.

:class:`ElmoSettings` is the single declaration: its fields, types and defaults make the factory's
``default_config`` and signature (so spaCy validates a config against them), the component keeps
one instance, the Thinc model reads the same instance, and serialization re-applies it.

Old configs keep loading: ``split_sentences``, ``window_size`` and ``window_overlap`` at the
component's top level are read into the ``split`` setting (:data:`LEGACY_SETTINGS`). They stay in
the factory's signature only so that such configs validate: nothing new writes them
(:func:`spacy_elmo.pipeline.pipe.make_elmo` stores the resolved ``split`` block in their place), and
an old key that disagrees with a given ``split`` block is an error, not a silent winner.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from ..bilm.batching import DEFAULT_BATCH_SIZE
from ..bilm.fast.precision import PRECISIONS
from ..errors import user_stacklevel
from ..layer_choice import check_output_mix
from ..layers.cache import DEFAULT_CACHE_SIZE_MB
from ..layers.splitting import DEFAULT_SPLITTER, Splitter, splitter_from_legacy

OutputMix = Union[str, int, List[float]]

# Old top-level settings, still accepted (null = not given): they now live in ``split``.
LEGACY_SETTINGS: Dict[str, Any] = {"split_sentences": None, "window_size": None, "window_overlap": None}
LEGACY_TYPES = {"split_sentences": Optional[Union[bool, str]], "window_size": Optional[int], "window_overlap": Optional[int]}


class IgnoredSettingWarning(UserWarning):
    """An "elmo" setting was given a value that the other settings make ineffective."""


@dataclass(frozen=True)
class ElmoSettings:
    """The "elmo" component's settings.

    weights: what to embed with: a packaged model's name (e.g. ``"en_elmo_small"``), a spacy-elmo
        model directory, a pretraining run, a saved spaCy pipeline with an "elmo" component (its biLM),
        or a directory with one original options.json + .hdf5; null (with no options_file) is the
        packaged default model. See :func:`spacy_elmo.weights.resolve_weights`. A wrong path fails
        when the component is created; the weights themselves are read at first use.
    options_file + weight_file: original ELMo weights (AllenNLP / bilm-tf).
    frozen: keep the biLM fixed (listeners still train their mix); false fine-tunes it.
    trainable_layers: when fine-tuning, train only the top N LSTM layers (both directions); null
        trains the whole biLM, character CNN included. The layers below stay as pretrained.
    learn_rate_scale: when fine-tuning, the biLM's learning rate as a fraction of the optimizer's
        (e.g. 0.1), so pretrained weights move slower than the task's new ones.
    stateful: carry LSTM states across batches as the original TF code (vectors then depend on order).
    batch_size / max_batch_tokens: rows per biLM call, and the cap on rows x longest segment (also
        the longest sequence the biLM sees before a splitter windows it).
    split: how a doc is cut into sequences: ``spacy-elmo.sentences.v1`` (default) or
        ``spacy-elmo.windows.v1`` (see :mod:`spacy_elmo.layers.splitting`).
    cache_size_mb: bound of the layer cache used with a frozen, stateless biLM (0 turns it off).
    output_mix: what ``token._.elmo`` is: a layer choice, the words of ``--layers`` and ``layers=`` ("average" or
        "mean", "top", "all" or "concat", layer numbers such as "0,2" (concatenated), "mix": the default,
        the average; see :mod:`spacy_elmo.layer_choice`), or a list: always one fixed coefficient per layer
        (``[0, 0, 1]`` is the top layer; layer numbers are the string ``"0,2"``).
    set_vector_hooks: make token/span/doc ``.vector`` and ``.similarity`` use these vectors.
    set_doc_tensor: also write the vectors (``token._.elmo``, one row per token) to ``doc.tensor``,
        which ``Doc.to_bytes`` keeps and ``Token.vector`` falls back to when the vocab has no static
        vectors and no hook is set. Off by default: ``doc.tensor`` is spaCy's tok2vec's output, which
        this would overwrite in a pipeline that has both.
    precision: the CPU inference products (:mod:`spacy_elmo.bilm.fast.precision`): ``"fp32"`` (default, the
        exact path's numbers), ``"bf16"`` (bf16 products, float32 cell state and outputs; an error on a
        CPU without native bf16) or ``"auto"`` (bf16 where the model's products measured at least 1.2x faster in bf16 on this CPU,
        cached per CPU model: :func:`~spacy_elmo.bilm.fast.precision_auto.auto_verdict`). Training and
        GPUs are unaffected.
    """

    weights: Optional[str] = None
    options_file: Optional[str] = None
    weight_file: Optional[str] = None
    frozen: bool = True
    trainable_layers: Optional[int] = None
    learn_rate_scale: float = 1.0
    stateful: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batch_tokens: int = 4096
    split: Splitter = field(default=DEFAULT_SPLITTER)
    cache_size_mb: float = DEFAULT_CACHE_SIZE_MB
    output_mix: OutputMix = "mean"
    set_vector_hooks: bool = True
    set_doc_tensor: bool = False
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"'elmo' batch_size must be >= 1, got {self.batch_size}.")
        if not isinstance(self.split, Splitter):
            raise ValueError(f"'elmo' split must be a registered splitter (e.g. spacy-elmo.sentences.v1), got {self.split!r}.")
        if self.max_batch_tokens < self.split.window_size:
            raise ValueError(
                f"'elmo' needs window_size <= max_batch_tokens (a window must fit in one biLM call); got "
                f"window_size={self.split.window_size}, max_batch_tokens={self.max_batch_tokens}."
            )
        if self.trainable_layers is not None and self.trainable_layers < 1:
            raise ValueError(
                f"'elmo' trainable_layers must be >= 1 (the top N LSTM layers) or null (the whole biLM), got "
                f"{self.trainable_layers}; to train none, set frozen = true."
            )
        if not self.learn_rate_scale > 0:
            raise ValueError(f"'elmo' learn_rate_scale must be > 0, got {self.learn_rate_scale}.")
        if self.cache_size_mb < 0:
            raise ValueError(f"'elmo' cache_size_mb must be >= 0 (0 turns the cache off), got {self.cache_size_mb}.")
        check_output_mix(self.output_mix)
        if self.precision not in PRECISIONS:
            raise ValueError(f"'elmo' precision must be one of {', '.join(repr(p) for p in PRECISIONS)}; got {self.precision!r}.")
        for message in self.ignored():
            warnings.warn(message, IgnoredSettingWarning, stacklevel=user_stacklevel())

    def ignored(self) -> List[str]:
        """Why each setting given away from its default has no effect with the others (none: []).
        WHY: a setting accepted and then ignored is a silent wrong answer about what ran."""
        out = []
        if self.frozen and self.trainable_layers is not None:
            out.append(f"trainable_layers = {self.trainable_layers} has no effect: frozen = true keeps the whole biLM fixed. "
                       "Set frozen = false to fine-tune its top layers, or set trainable_layers = null.")
        if self.frozen and self.learn_rate_scale != 1.0:
            out.append(f"learn_rate_scale = {self.learn_rate_scale} has no effect: frozen = true keeps the whole biLM fixed. "
                       "Set frozen = false to fine-tune it, or set learn_rate_scale = 1.0.")
        if not (self.frozen and not self.stateful) and self.cache_size_mb not in (0, DEFAULT_CACHE_SIZE_MB):
            why = "stateful = true (a segment's layers depend on the batch before)" if self.stateful else "frozen = false (the layers change as the biLM trains)"
            out.append(f"cache_size_mb = {self.cache_size_mb:g} has no effect: the layer cache is off with {why}. "
                       "Set cache_size_mb = 0 to say so.")
        return [f"[spacy-elmo W002] 'elmo' {text}" for text in out]

    @property
    def uses_cache(self) -> bool:
        """The layer cache is only right for a frozen, stateless biLM."""
        return self.frozen and not self.stateful and self.cache_size_mb > 0

    def replace(self, **changes: Any) -> "ElmoSettings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_config(cls, **config: Any) -> "ElmoSettings":
        """From the factory's arguments, reading the old top-level splitting settings into ``split``."""
        legacy = {name: config.pop(name, None) for name in LEGACY_SETTINGS}
        split = config.pop("split", None)  # null (the factory's default): not given
        given = [name for name, value in legacy.items() if value is not None]
        if given:
            meant = splitter_from_legacy(**legacy)
            if split is not None and split != meant:
                raise ValueError(
                    f"'elmo' got both a 'split' block and the older {', '.join(given)}, and they disagree "
                    f"({split.config} against {meant.config}): delete {', '.join(given)} and keep only 'split' "
                    "(split_sentences -> which splitter, window_size / window_overlap -> its windows)."
                )
            split = meant
        return cls(**config, split=split if split is not None else DEFAULT_SPLITTER)

    @classmethod
    def default_config(cls) -> Dict[str, Any]:
        """The factory's ``default_config``: every field's default, except ``split``: null there, so
        that the factory can tell a given block from the older settings; the component then stores
        the block it resolved (the default one, unless the older settings said otherwise)."""
        return {f.name: None if f.name == "split" else f.default for f in dataclasses.fields(cls)}

    @classmethod
    def factory_parameters(cls) -> List[inspect.Parameter]:
        """Keyword parameters with types, for the factory's signature (what spaCy validates configs with)."""
        hints = typing.get_type_hints(cls)
        hints["split"] = Optional[Splitter]  # null: not given (see default_config)
        params = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name]) for f in dataclasses.fields(cls)]
        params += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=LEGACY_TYPES[name])
            for name, default in LEGACY_SETTINGS.items()
        ]
        return params
