"""``ElmoData``: one doc's biLM layers, stored on the doc as ``doc._.elmo_data``.

It keeps *all* layers so that any mix can be computed later, plus the output mix the
component was configured with (which defines ``token._.elmo``). It is registered with
srsly's msgpack, so it survives ``Doc.to_bytes``, ``DocBin(store_user_data=True)`` and
``nlp.pipe(n_process=...)`` (which ships docs between processes as bytes).

What bytes cannot keep are the doc's vector hooks (spaCy does not serialize callables), and without
them ``token.similarity`` is spaCy's answer, not ELMo's (1.0 for the same word in any two contexts).
The msgpack decoder below is the only code of this package that runs when spaCy reads such a doc,
so it warns (:class:`VectorHooksLostWarning`) when the doc had the hooks, except within :func:`hooks_set_again`, which the
routes that do set the hooks again (``with_vector_hooks``, ``nlp.pipe(n_process=2)``) enter.
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy
import srsly

from ..bilm.scalar_mix import mix_layers
from ..errors import user_stacklevel

MSGPACK_KEY = "__spacy_elmo_data__"


class ElmoData:
    """``layers [n_output_layers, n_tokens, dim]`` float32 (always a CPU numpy array).

    ``mix`` is the output mix: ``[n_output_layers]`` coefficients (the vector is
    ``sum_k mix[k] * layers[k]``), ``[k, n_output_layers]`` for ``k`` such mixes concatenated (an
    ``output_mix`` of layer numbers, ``"0,2"``), or ``None`` to concatenate all layers. ``vector_hooks``: the doc's
    ``.vector`` / ``.similarity`` were routed to these vectors (saved with the data, so that reading
    it back can say that the hooks are gone).
    """

    __slots__ = ("layers", "mix", "_vectors", "vector_hooks")

    def __init__(self, layers: numpy.ndarray, mix: Optional[numpy.ndarray] = None, vector_hooks: bool = False):
        layers = numpy.asarray(layers, dtype=numpy.float32)
        if layers.ndim != 3:
            raise ValueError(f"ElmoData.layers must be [n_output_layers, n_tokens, dim], got shape {layers.shape}.")
        if mix is not None:
            mix = numpy.asarray(mix, dtype=numpy.float32)
            mix = mix.reshape(-1) if mix.ndim < 2 or mix.shape[0] == 1 else mix
            if mix.shape[-1] != layers.shape[0]:
                raise ValueError(f"ElmoData got {mix.shape[-1]} mix coefficients for {layers.shape[0]} layers.")
        self.layers = layers
        self.mix = mix
        self.vector_hooks = bool(vector_hooks)
        self._vectors: Optional[numpy.ndarray] = None

    @property
    def n_tokens(self) -> int:
        return int(self.layers.shape[1])

    @property
    def n_output_layers(self) -> int:
        """Number of output layers (the biLM's ``n_lstm_layers + 1``)."""
        return int(self.layers.shape[0])

    @property
    def width(self) -> int:
        """Width of the mixed token vectors."""
        dim = int(self.layers.shape[2])
        return dim * self.n_output_layers if self.mix is None else dim * (self.mix.shape[0] if self.mix.ndim == 2 else 1)

    @property
    def vectors(self) -> numpy.ndarray:
        """``[n_tokens, width]``: the output mix of every token (computed once, then kept)."""
        if self._vectors is None:
            if self.mix is None:
                vectors = numpy.concatenate(list(self.layers), axis=-1) if self.n_tokens else numpy.zeros((0, self.width), numpy.float32)
            elif self.mix.ndim == 2:  # several mixes, concatenated
                vectors = numpy.concatenate([mix_layers(numpy, row, self.layers) for row in self.mix], axis=-1)
            else:
                vectors = mix_layers(numpy, self.mix, self.layers)
            self._vectors = numpy.ascontiguousarray(vectors, dtype=numpy.float32)
        return self._vectors

    def mean(self, start: int = 0, end: Optional[int] = None) -> numpy.ndarray:
        """Mean token vector over ``[start, end)``; zeros for an empty range."""
        rows = self.vectors[start:end]
        if rows.shape[0] == 0:
            return numpy.zeros((self.width,), dtype=numpy.float32)
        return rows.mean(axis=0)

    def to_dict(self) -> Dict[str, Any]:
        return {"layers": self.layers, "mix": self.mix, "vector_hooks": self.vector_hooks}

    @classmethod
    def from_dict(cls, msg: Dict[str, Any]) -> "ElmoData":
        # Data saved before "vector_hooks" was recorded: the component set hooks by default.
        return cls(msg["layers"], msg.get("mix"), msg.get("vector_hooks", True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ElmoData):
            return NotImplemented
        same_mix = (self.mix is None and other.mix is None) or (
            self.mix is not None and other.mix is not None and numpy.array_equal(self.mix, other.mix)
        )
        return same_mix and self.layers.shape == other.layers.shape and numpy.array_equal(self.layers, other.layers)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (ElmoData, (self.layers, self.mix, self.vector_hooks))

    def __repr__(self) -> str:
        mix = "concat" if self.mix is None else numpy.round(self.mix.astype(numpy.float64), 4).tolist()
        return f"ElmoData(layers={self.layers.shape}, mix={mix})"


def _encode(obj: Any, chain=None):
    if isinstance(obj, ElmoData):
        return {MSGPACK_KEY: obj.to_dict()}
    return obj if chain is None else chain(obj)


class VectorHooksLostWarning(UserWarning):
    """A doc with ``doc._.elmo_data`` was read from bytes without its vector hooks."""


HOOKS_LOST = (
    "[spacy-elmo W001] Read a doc with doc._.elmo_data from bytes (DocBin or Doc.from_bytes): spaCy does not save "
    "the vector hooks, so until they are set again, token/span/doc .similarity and .vector are spaCy's static "
    "vectors, not ELMo's (.similarity is 1.0 for the same word in any two contexts). Read the docs with "
    "spacy_elmo.pipeline.with_vector_hooks(doc_bin.get_docs(nlp.vocab)) (or, for Doc.to_bytes() output, "
    "with_vector_hooks(list_of_bytes, nlp.vocab)), which sets them again and does not warn, or use "
    "token._.elmo / span._.elmo / doc._.elmo, which need no hooks."
)
_state = threading.local()


@contextmanager
def hooks_set_again() -> Iterator[None]:
    """Within: ElmoData read from bytes does not warn, because the caller sets the vector hooks again
    on those docs (or reads only ``doc._.elmo_data``). Per thread; nests."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _decode(obj: Any, chain=None):
    if isinstance(obj, dict) and MSGPACK_KEY in obj:
        data = ElmoData.from_dict(obj[MSGPACK_KEY])
        if data.vector_hooks and not getattr(_state, "depth", 0):
            warnings.warn(HOOKS_LOST, VectorHooksLostWarning, stacklevel=user_stacklevel())
        return data
    return obj if chain is None else chain(obj)


srsly.msgpack_encoders.register("spacy_elmo.ElmoData", func=_encode)
srsly.msgpack_decoders.register("spacy_elmo.ElmoData", func=_decode)
