"""The biLM as a Thinc model: ``List[Doc] -> List[Floats3d]`` (each ``[n_output_layers, n_tokens, dim]``).

Its one shim is a :class:`~.bilm_shim.BiLMShim` (the PyTorch biLM, loaded lazily). Around the
biLM the model does what spaCy needs: it cuts docs into segments (the component's ``split``
setting, :mod:`.splitting`), batches them by length under a cap on padded tokens
(:mod:`.batching`), caches layers of a frozen biLM (:mod:`.cache`), and reassembles one array
per doc. Its settings are the component's :class:`~.settings.ElmoSettings` (``model.settings``).

Tokens are fed as their exact text, whitespace tokens included (``"\\n\\n"`` is the two bytes
``0x0A 0x0A`` between the begin/end-of-word markers, as the original character vocabulary
allows). spaCy never makes an empty token (``Doc`` rejects ``""``), the one string the biLM
cannot embed. Tokens longer than ``max_characters_per_token - 2`` bytes keep their first bytes,
as in the original.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy
import torch
from spacy.tokens import Doc
from thinc.api import CupyOps, Model, torch2xp
from thinc.types import Floats3d

from ..bilm import BiLM
from .batching import make_batches, segment_texts
from .bilm_shim import BiLMShim, WeightsSource
from .cache import LayerCache
from .settings import ElmoSettings
from .splitting import Segment

BILM_MODEL_NAME = "elmo-bilm"


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
        self.settings = ElmoSettings()
        self.cache = LayerCache(0.0)
        self.shim.on_load.append(self._clear_cache)  # a bound method, not a lambda: picklable
        # The biLM follows the model's ops (CupyOps after spacy.require_gpu()), not whatever is current later.
        self.shim._device = torch.device(f"cuda:{torch.cuda.current_device()}") if isinstance(self.ops, CupyOps) else torch.device("cpu")

    def _clear_cache(self, _bilm: BiLM) -> None:
        self.cache.clear()

    @property
    def shim(self) -> BiLMShim:
        return self.shims[0]  # type: ignore[return-value]

    @property
    def bilm(self) -> BiLM:
        return self.shim.bilm

    def configure(self, settings: ElmoSettings, source: WeightsSource) -> "ElmoBiLMModel":
        """Take the component's settings (validated when the settings object was made)."""
        self.settings = settings
        self.shim.source = source
        self.shim.set_trainable(settings.frozen, settings.trainable_layers, settings.learn_rate_scale)
        self.cache = LayerCache(settings.cache_size_mb if settings.uses_cache else 0.0)
        return self

    def copy(self):  # pragma: no cover - spaCy's replace_listeners would copy the biLM; not supported
        raise NotImplementedError(
            "The 'elmo' biLM cannot be copied into a downstream component (replace_listeners); keep the 'elmo' component."
        )


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
    bilm = model.bilm
    settings = model.settings
    options = bilm.options
    n_out, dim = options.n_output_layers, options.output_dim
    train_bilm = is_train and not settings.frozen
    stateful = settings.stateful
    cache = model.cache if (settings.uses_cache and model.cache.enabled) else None

    segments: List[Segment] = []
    for i, doc in enumerate(docs):
        segments.extend(settings.split(doc, settings.max_batch_tokens, i))
    texts = [segment_texts(docs[seg.doc], seg) for seg in segments]

    seg_out: List[Any] = [None] * len(segments)
    # A doc cut into segments gets its output array up front; each segment's kept tokens are copied
    # in as soon as they exist, so a long doc never holds all its (overlapping) windows at once:
    # peak memory is one copy of the output plus one batch.
    split_out: Dict[int, Any] = {}
    for seg in segments:
        if not (seg.start == 0 and seg.end == len(docs[seg.doc])) and seg.doc not in split_out:
            split_out[seg.doc] = model.ops.alloc3f(n_out, len(docs[seg.doc]), dim)

    def take(k: int, out) -> None:
        seg = segments[k]
        if seg.doc in split_out:
            split_out[seg.doc][:, seg.keep_start : seg.keep_end] = out[:, seg.keep_start - seg.start : seg.keep_end - seg.start]
        else:
            seg_out[k] = out

    todo = list(range(len(segments)))
    if cache is not None:
        todo = []
        for k, key in enumerate(texts):
            hit = cache.get(key)
            if hit is None:
                todo.append(k)
            else:
                take(k, model.ops.asarray3f(hit))

    index_of = {id(seg): k for k, seg in enumerate(segments)}
    batches = make_batches([segments[k] for k in todo], settings.batch_size, settings.max_batch_tokens, sort=not stateful)
    graph: List[Tuple[torch.Tensor, List[int]]] = []  # (layers tensor, segment indices) to backprop into
    bilm.train(train_bilm)
    if train_bilm:
        _set_dropout(bilm, model.attrs.get("bilm_dropout", 0.0))
    try:
        for batch in batches:
            ks = [index_of[id(seg)] for seg in batch]
            ids = bilm.char_ids([texts[k] for k in ks])
            if train_bilm:
                layers_t = bilm(ids, stateful=stateful).layers
                graph.append((layers_t, ks))
            else:
                with torch.no_grad():
                    layers_t = bilm(ids, stateful=stateful).layers
            layers_x = torch2xp(layers_t.detach().float(), ops=model.ops)
            for row, k in enumerate(ks):
                out = layers_x[:, row, : len(segments[k])]
                if segments[k].doc not in split_out or cache is not None:
                    out = model.ops.xp.ascontiguousarray(out)
                take(k, out)
                if cache is not None:
                    cache.put(texts[k], out)
    finally:
        bilm.eval()

    # reassemble one [n_out, n_tokens, dim] array per doc
    by_doc: List[List[int]] = [[] for _ in docs]
    for k, seg in enumerate(segments):
        by_doc[seg.doc].append(k)
    outputs: List[Floats3d] = []
    for i, doc in enumerate(docs):
        ks = by_doc[i]
        if i in split_out:
            outputs.append(split_out[i])
        elif not ks:
            outputs.append(model.ops.alloc3f(n_out, 0, dim))
        else:
            outputs.append(seg_out[ks[0]])

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        if not graph:
            return []
        tensors, grads = [], []
        for layers_t, ks in graph:
            grad = numpy.zeros(tuple(layers_t.shape), dtype=numpy.float32) if model.ops.xp is numpy else model.ops.xp.zeros(tuple(layers_t.shape), dtype="f")
            for row, k in enumerate(ks):
                seg = segments[k]
                d_doc = d_outputs[seg.doc]
                grad[:, row, seg.keep_start - seg.start : seg.keep_end - seg.start] = d_doc[:, seg.keep_start : seg.keep_end]
            tensors.append(layers_t)
            grads.append(_to_torch(grad, layers_t))
        torch.autograd.backward(tensors, grads)
        return []

    return outputs, backprop


def _to_torch(array, like: torch.Tensor) -> torch.Tensor:
    if isinstance(array, numpy.ndarray):
        return torch.from_numpy(array).to(like.device, like.dtype)
    from thinc.api import xp2torch

    return xp2torch(array, device=like.device).to(like.dtype)


def BiLMModel(dropout: float = 0.0) -> ElmoBiLMModel:
    return ElmoBiLMModel(dropout=dropout)
