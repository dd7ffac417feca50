""":class:`DocBatch`: the journey of one call of the biLM model, from docs to one array per doc and back.

The docs are cut into segments (the component's ``split``), the frozen biLM's layer cache answers
what it can, the rest goes to the biLM in calls of similar length (``spacy_elmo.bilm.batching``),
each call's rows are placed back into their docs, and on the way back each doc's gradient is sliced
onto the rows of the calls that made it. The Thinc model (``bilm_model``) only runs the biLM on the
calls this object hands out.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Ops
from thinc.types import Floats3d

from ..bilm.batching import cut_batches
from .cache import LayerCache
from .splitting import Segment, Splitter


class DocBatch:
    """The segments of ``docs`` and where each one's layers go: ``[n_out, n_tokens, dim]`` per doc."""

    def __init__(self, docs: Sequence[Doc], split: Splitter, max_length: int, ops: Ops, n_out: int, dim: int):
        self.docs = list(docs)
        self.ops, self.n_out, self.dim = ops, n_out, dim
        self.segments: List[Segment] = [seg for i, doc in enumerate(self.docs) for seg in split(doc, max_length, i)]
        # The biLM reads a segment's exact token texts, whitespace tokens included; they also key the cache.
        self.texts: List[Tuple[str, ...]] = [tuple(t.text for t in self.docs[s.doc][s.start : s.end]) for s in self.segments]
        self._whole: List[Any] = [None] * len(self.segments)  # the output of a segment that is its whole doc
        # A doc cut into several segments gets its output array up front; each segment's kept tokens are
        # copied in as soon as they exist, so a long doc never holds all its (overlapping) windows at
        # once: peak memory is one copy of the output plus one call.
        self._cut: Dict[int, Any] = {}
        for seg in self.segments:
            if not (seg.start == 0 and seg.end == len(self.docs[seg.doc])) and seg.doc not in self._cut:
                self._cut[seg.doc] = ops.alloc3f(n_out, len(self.docs[seg.doc]), dim)
        self._todo = list(range(len(self.segments)))

    # -- on the way out ----------------------------------------------------------------------------
    def read_cache(self, cache: LayerCache) -> None:
        """Take every segment the cache holds; only the others will go to the biLM."""
        self._todo = []
        for k, key in enumerate(self.texts):
            hit = cache.get(key)
            if hit is None:
                self._todo.append(k)
            else:
                self._place(k, self.ops.asarray3f(hit))

    def calls(self, batch_size: int, max_tokens: int, sort: bool) -> List[List[int]]:
        """The segments still to run, as biLM calls (segment numbers, one per row). ``sort`` orders them by
        length first, which pads least; a stateful biLM keeps the order, since each row's LSTM state carries
        over to the same row of the next call."""
        order = sorted(self._todo, key=lambda k: len(self.segments[k])) if sort else list(self._todo)
        return [order[a:b] for a, b in cut_batches([len(self.segments[k]) for k in order], batch_size, max_tokens)]

    def call_texts(self, call: Sequence[int]) -> List[Tuple[str, ...]]:
        return [self.texts[k] for k in call]

    def put(self, call: Sequence[int], layers: Any, cache: Optional[LayerCache] = None) -> None:
        """Place a call's output ``[n_out, rows, longest, dim]`` (an array of ``ops``) into the docs' outputs,
        and into ``cache`` if given."""
        for row, k in enumerate(call):
            out = layers[:, row, : len(self.segments[k])]
            if self.segments[k].doc not in self._cut or cache is not None:
                out = self.ops.xp.ascontiguousarray(out)
            self._place(k, out)
            if cache is not None:
                cache.put(self.texts[k], out)

    def _place(self, k: int, out: Any) -> None:
        seg = self.segments[k]
        if seg.doc in self._cut:
            self._cut[seg.doc][:, seg.keep_start : seg.keep_end] = out[:, seg.keep_start - seg.start : seg.keep_end - seg.start]
        else:
            self._whole[k] = out

    def unsplit_by_doc(self) -> List[Floats3d]:
        """One ``[n_out, n_tokens, dim]`` array per doc (an empty doc gets zero tokens)."""
        first: Dict[int, int] = {}
        for k, seg in enumerate(self.segments):
            first.setdefault(seg.doc, k)
        outputs: List[Floats3d] = []
        for i, doc in enumerate(self.docs):
            if i in self._cut:
                outputs.append(self._cut[i])
            elif i not in first:
                outputs.append(self.ops.alloc3f(self.n_out, 0, self.dim))
            else:
                outputs.append(self._whole[first[i]])
        return outputs

    # -- on the way back ---------------------------------------------------------------------------
    def split_gradient(self, d_outputs: Sequence[Floats3d], call: Sequence[int], shape: Tuple[int, ...]) -> Any:
        """The gradient of one call's output (``shape``: ``[n_out, rows, longest, dim]``) from the docs'
        gradients: each row gets its kept tokens' slice of its doc's gradient, zeros elsewhere."""
        xp = self.ops.xp
        grad = numpy.zeros(shape, dtype=numpy.float32) if xp is numpy else xp.zeros(shape, dtype="f")
        for row, k in enumerate(call):
            seg = self.segments[k]
            grad[:, row, seg.keep_start - seg.start : seg.keep_end - seg.start] = d_outputs[seg.doc][:, seg.keep_start : seg.keep_end]
        return grad
