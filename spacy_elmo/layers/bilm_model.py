"""The biLM as a Thinc model: ``List[Doc] -> List[Floats3d]`` (each ``[n_output_layers, n_tokens, dim]``).

Its one shim is a :class:`~.bilm_shim.BiLMShim` (the PyTorch biLM, loaded lazily). Around the
biLM the model does what spaCy needs, as steps of a :class:`~.batch.DocBatch`: cut docs into
segments (the component's ``split`` setting, :mod:`.splitting`), take what the frozen biLM's layer
cache holds (:mod:`.cache`), run the rest in calls of similar length under a cap on padded tokens,
reassemble one array per doc, and slice the docs' gradients back onto the calls. Its settings are the component's (``spacy_elmo.pipeline.ElmoSettings``, ``model.settings``),
read through :class:`RunSettings`.

Tokens are fed as their exact text, whitespace tokens included (``"\\n\\n"`` is the two bytes
``0x0A 0x0A`` between the begin/end-of-word markers, as the original character vocabulary
allows). spaCy never makes an empty token (``Doc`` rejects ``""``), the one string the biLM
cannot embed. Tokens longer than ``max_characters_per_token - 2`` bytes keep their first bytes,
as in the original.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import List, Optional, Protocol, Tuple

import numpy
import torch
from spacy.tokens import Doc
from thinc.api import CupyOps, Model, torch2xp
from thinc.types import Floats3d

from ..bilm import BiLM
from ..bilm.fast.precision import compute_dtype
from ..errors import ElmoError
from .batch import DocBatch
from .bilm_shim import BiLMShim, WeightsSource
from .cache import LayerCache
from .splitting import DEFAULT_SPLITTER, Splitter

BILM_MODEL_NAME = "elmo-bilm"


class RunSettings(Protocol):
    """What the model reads of its component's settings (``spacy_elmo.pipeline.ElmoSettings``, which
    declares them with their defaults and checks them); the model itself holds no defaults.
    Read-only (properties), as the frozen dataclasses that provide them are."""

    @property
    def frozen(self) -> bool: ...
    @property
    def trainable_layers(self) -> Optional[int]: ...
    @property
    def learn_rate_scale(self) -> float: ...
    @property
    def stateful(self) -> bool: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_batch_tokens(self) -> int: ...
    @property
    def split(self) -> Splitter: ...
    @property
    def cache_size_mb(self) -> float: ...
    @property
    def precision(self) -> str: ...
    @property
    def uses_cache(self) -> bool: ...


@dataclass(frozen=True)
class StandaloneSettings:
    """How a standalone model runs its biLM (the :class:`~.bilm_model.RunSettings` of the 'elmo'
    component it was copied from, always frozen; the layer cache is off unless asked for)."""

    split: Splitter = field(default=DEFAULT_SPLITTER)
    batch_size: int = 64
    max_batch_tokens: int = 4096
    stateful: bool = False
    cache_size_mb: float = 0.0
    frozen: bool = True
    trainable_layers: Optional[int] = None
    learn_rate_scale: float = 1.0
    precision: str = "fp32"  # the component's, carried into the copy and into spacy-elmo.StandaloneElmo.v1's block

    @property
    def uses_cache(self) -> bool:
        return not self.stateful and self.cache_size_mb > 0


class ElmoBiLMModel(Model):
    """Thinc model over docs; its single shim is a :class:`BiLMShim`; its settings are ``self.settings``."""

    def __init__(self, dropout: float = 0.0):
        super().__init__(
            BILM_MODEL_NAME,
            forward=bilm_forward,
            init=bilm_init,
            shims=[BiLMShim()],
            attrs={"bilm_dropout": float(dropout)},
        )
        self.settings: Optional[RunSettings] = None  # the component's, from configure()
        self.cache = LayerCache(0.0)
        self.shim.on_load.append(self._clear_cache)  # bound methods, not lambdas: picklable
        self.shim.on_load.append(self._apply_precision)
        # The biLM follows the model's ops (CupyOps after spacy.require_gpu()), not whatever is current later.
        self.shim._device = torch.device(f"cuda:{torch.cuda.current_device()}") if isinstance(self.ops, CupyOps) else torch.device("cpu")

    def _clear_cache(self, _bilm: BiLM) -> None:
        self.cache.clear()

    def _apply_precision(self, bilm: BiLM) -> None:
        if self.settings is not None:
            bilm.precision = self.settings.precision

    @property
    def shim(self) -> BiLMShim:
        return self.shims[0]  # type: ignore[return-value]

    @property
    def bilm(self) -> BiLM:
        return self.shim.bilm

    def configure(self, settings: RunSettings, source: Optional[WeightsSource]) -> "ElmoBiLMModel":
        """Take the component's settings (validated when the settings object was made)."""
        self.settings = settings
        self.shim.source = source
        self.shim.set_trainable(settings.frozen, settings.trainable_layers, settings.learn_rate_scale)
        self.cache = LayerCache(settings.cache_size_mb if settings.uses_cache else 0.0)
        # an explicit bf16 that this device cannot do fails when the component is made, not at its first doc
        compute_dtype(settings.precision, self.shim._device or torch.device("cpu"))
        if self.shim.is_loaded:
            self._apply_precision(self.bilm)
        return self

    def copy(self) -> "ElmoBiLMModel":
        """A frozen copy with its own copy of the biLM and this model's splitting and batching (what
        ``nlp.replace_listeners`` gives a downstream component, :mod:`.standalone`)."""
        settings = self.settings
        if settings is None:
            raise ElmoError("This spacy-elmo.BiLM.v1 model has no settings yet: only a configured model can be copied.")
        copied = ElmoBiLMModel(dropout=self.attrs.get("bilm_dropout", 0.0))
        copied.configure(StandaloneSettings(split=settings.split, batch_size=settings.batch_size,
                                            max_batch_tokens=settings.max_batch_tokens, stateful=settings.stateful,
                                            precision=settings.precision),
                         self.shim.source)
        copied.shim._device = self.shim._device
        copied.shim.set_bilm(copy.deepcopy(self.bilm))
        return copied


def bilm_init(model: ElmoBiLMModel, X=None, Y=None) -> ElmoBiLMModel:
    """Read the weights (once): from the source here, unless already loaded or deserialized."""
    model.bilm
    return model


def _set_dropout(bilm: BiLM, rate: float) -> None:
    """The biLM's own dropout (on each LSTM layer's input); only active when fine-tuning it."""
    lstm = getattr(bilm, "lstm", None)
    if lstm is not None and hasattr(lstm, "dropout"):
        lstm.dropout = rate


def bilm_forward(model: ElmoBiLMModel, docs: List[Doc], is_train: bool):
    """Docs -> one ``[n_output_layers, n_tokens, dim]`` array each; the journey is a :class:`DocBatch`'s."""
    bilm, settings = model.bilm, model.settings
    if settings is None:
        raise ElmoError("The spacy-elmo.BiLM.v1 model runs inside an 'elmo' component, which gives it its settings.")
    train_bilm = is_train and not settings.frozen
    cache = model.cache if (settings.uses_cache and model.cache.enabled) else None
    batch = DocBatch(docs, settings.split, settings.max_batch_tokens, model.ops, bilm.options.n_output_layers, bilm.options.output_dim)
    if cache is not None:
        batch.read_cache(cache)
    graph: List[Tuple[torch.Tensor, List[int]]] = []  # (layers tensor, its call's segments) to backprop into
    bilm.train(train_bilm)
    if train_bilm:
        _set_dropout(bilm, model.attrs.get("bilm_dropout", 0.0))
    try:
        for call in batch.calls(settings.batch_size, settings.max_batch_tokens, sort=not settings.stateful):
            ids = bilm.char_ids(batch.call_texts(call))
            with contextlib.nullcontext() if train_bilm else torch.no_grad():
                layers_t = bilm(ids, stateful=settings.stateful).layers
            if train_bilm:
                graph.append((layers_t, call))
            batch.put(call, torch2xp(layers_t.detach().float(), ops=model.ops), cache)
    finally:
        bilm.eval()

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        if graph:
            grads = [_to_torch(batch.split_gradient(d_outputs, call, tuple(t.shape)), t) for t, call in graph]
            torch.autograd.backward([t for t, _ in graph], grads)
        return []

    return batch.unsplit_by_doc(), backprop


def _to_torch(array, like: torch.Tensor) -> torch.Tensor:
    if isinstance(array, numpy.ndarray):
        return torch.from_numpy(array).to(like.device, like.dtype)
    from thinc.api import xp2torch

    return xp2torch(array, device=like.device).to(like.dtype)


def BiLMModel(dropout: float = 0.0) -> ElmoBiLMModel:
    return ElmoBiLMModel(dropout=dropout)
