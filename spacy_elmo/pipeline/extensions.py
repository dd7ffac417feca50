"""Doc/Span/Token extensions and the optional ``user_hooks`` that route spaCy's vectors to ELMo.

``doc._.elmo_data`` holds an :class:`ElmoData`; ``token._.elmo``, ``span._.elmo`` and
``doc._.elmo`` are getters over it (a span's or doc's vector is the mean of its tokens'),
so they also work on docs that came back from ``Doc.from_bytes`` or another process.
User hooks are Python callables that spaCy does not serialize (it warns W109), and without them
``token.similarity`` is silently wrong (1.0 for the same word in any context, else 0.0 from an empty
vector table). So each route a doc can travel gets them back:

- in process, and ``pickle``: the hooks are module-level functions, so pickled docs keep them;
- ``nlp.pipe(..., n_process=2)``: worker processes send docs back as bytes; the factory wraps the
  pipeline's ``pipe`` (:func:`keep_vector_hooks_across_processes`) to set the hooks again on them;
- ``Doc.from_bytes`` and ``DocBin``: spaCy cannot set hooks while it reads them, so call
  :func:`with_vector_hooks` on the docs (``DocBin(store_user_data=True)`` keeps ``doc._.elmo_data``).
  Reading such a doc any other way warns (``[spacy-elmo W001]``, from ``ElmoData``'s msgpack decoder,
  the one code of this package that runs then): no silent 1.0 from spaCy's own similarity.
The ``._.elmo`` getters work on every route regardless.
"""
from __future__ import annotations

import inspect
import re
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, TypeVar, Union

import numpy
from spacy.tokens import Doc, Span, Token

from ..layers.listener import DATA_ATTR
from .data import ElmoData, hooks_set_again

VECTOR_ATTR = "elmo"


def install_extensions() -> None:
    """Register the extensions once (idempotent; safe across processes)."""
    if not Doc.has_extension(DATA_ATTR):
        Doc.set_extension(DATA_ATTR, default=None)
    if not Token.has_extension(VECTOR_ATTR):
        Token.set_extension(VECTOR_ATTR, getter=token_elmo)
    if not Span.has_extension(VECTOR_ATTR):
        Span.set_extension(VECTOR_ATTR, getter=span_elmo)
    if not Doc.has_extension(VECTOR_ATTR):
        Doc.set_extension(VECTOR_ATTR, getter=doc_elmo)


def _data(doc: Doc) -> Optional[ElmoData]:
    data = doc._.get(DATA_ATTR)
    if data is not None and data.n_tokens != len(doc):
        raise ValueError(
            f"doc._.{DATA_ATTR} has {data.n_tokens} token vectors but the doc has {len(doc)} tokens: the doc was "
            "changed (retokenized?) after the 'elmo' component ran. Run the 'elmo' component after any retokenizer."
        )
    return data


def token_elmo(token: Token) -> Optional[numpy.ndarray]:
    """The token's vector from the output mix, or None if the 'elmo' component has not run."""
    data = _data(token.doc)
    return None if data is None else data.vectors[token.i]


def span_elmo(span: Span) -> Optional[numpy.ndarray]:
    """Mean of the span's token vectors (zeros for an empty span)."""
    data = _data(span.doc)
    return None if data is None else data.mean(span.start, span.end)


def doc_elmo(doc: Doc) -> Optional[numpy.ndarray]:
    """Mean of all token vectors (zeros for an empty doc)."""
    data = _data(doc)
    return None if data is None else data.mean()


# -- user hooks: module-level functions so that pickled docs keep them ----------------------
def _vector_of(obj: Union[Doc, Span, Token]) -> numpy.ndarray:
    getters: Dict[type, Callable[[Any], Optional[numpy.ndarray]]] = {Token: token_elmo, Span: span_elmo, Doc: doc_elmo}
    getter = getters.get(type(obj))
    value = getter(obj) if getter is not None else None
    if value is None:
        raise ValueError(
            f"Cannot compare with {type(obj).__name__} {str(obj)[:40]!r}: it has no ELMo vectors. "
            "Process both objects with the same pipeline (with its 'elmo' component) before calling .similarity."
        )
    return value


def _similarity(a, b) -> float:
    u, v = _vector_of(a), _vector_of(b)
    if u.shape != v.shape:
        raise ValueError(f"Cannot compare ELMo vectors of width {u.shape[-1]} and {v.shape[-1]}: they come from different models.")
    norm = float(numpy.linalg.norm(u) * numpy.linalg.norm(v))
    return 0.0 if norm == 0.0 else float(numpy.dot(u, v) / norm)


def _doc_vector(doc: Doc) -> numpy.ndarray:
    return _vector_of(doc)


def _span_vector(span: Span) -> numpy.ndarray:
    return _vector_of(span)


def _token_vector(token: Token) -> numpy.ndarray:
    return _vector_of(token)


def _has_vector(obj) -> bool:
    return _data(obj if isinstance(obj, Doc) else obj.doc) is not None


def set_vector_hooks(doc: Doc) -> Doc:
    """Make ``.vector``, ``.has_vector``, ``.vector_norm`` (derived) and ``.similarity`` use ELMo.

    Raises ``ValueError`` for a doc without ``doc._.elmo_data``: its similarities would be meaningless."""
    if doc._.get(DATA_ATTR) is None:
        raise ValueError(
            f"Cannot give the doc {doc.text[:40]!r} ELMo vectors: it has no doc._.{DATA_ATTR}. Run the 'elmo' "
            "component on it, or, for docs read from a DocBin, write the DocBin with store_user_data=True."
        )
    doc._.get(DATA_ATTR).vector_hooks = True  # saved with the data: reading it back warns that the hooks are gone
    doc.user_hooks["vector"] = _doc_vector
    doc.user_hooks["has_vector"] = _has_vector
    doc.user_hooks["similarity"] = _similarity
    doc.user_span_hooks["vector"] = _span_vector
    doc.user_span_hooks["has_vector"] = _has_vector
    doc.user_span_hooks["similarity"] = _similarity
    doc.user_token_hooks["vector"] = _token_vector
    doc.user_token_hooks["has_vector"] = _has_vector
    doc.user_token_hooks["similarity"] = _similarity
    return doc


DocOrTuple = TypeVar("DocOrTuple")


def _restore_hooks(item: DocOrTuple) -> DocOrTuple:
    """``set_vector_hooks`` on a doc (or the doc of a ``(doc, context)`` pair) that has ELMo data but
    lost its hooks; anything else passes unchanged."""
    doc = item[0] if isinstance(item, tuple) and item else item
    if isinstance(doc, Doc) and "similarity" not in doc.user_token_hooks and doc._.get(DATA_ATTR) is not None:
        set_vector_hooks(doc)
    return item


def with_vector_hooks(docs: Iterable[Union[Doc, bytes]], vocab=None) -> List[Doc]:
    """Set the ELMo vector hooks again on every doc, now, and return them as a list, e.g. after
    ``DocBin.get_docs`` or ``Doc.from_bytes`` (spaCy cannot serialize hooks). Items may also be
    ``Doc.to_bytes()`` output, read here with ``vocab`` (e.g. ``nlp.vocab``). A doc without
    ``doc._.elmo_data`` is an error. Eager on purpose: a generator would do nothing until iterated, so
    ``with_vector_hooks(docs)`` on its own would silently leave the docs without hooks. For a stream
    too large for a list, call :func:`set_vector_hooks` on each doc as it comes.

    Pass the reader itself (``with_vector_hooks(doc_bin.get_docs(nlp.vocab))``), or the bytes
    (``with_vector_hooks(data, nlp.vocab)``): docs read while it runs do not warn that their hooks were
    lost (``[spacy-elmo W001]``), since it sets them again."""
    with hooks_set_again():
        return [set_vector_hooks(_read(item, vocab)) for item in docs]


def _read(item: Union[Doc, bytes], vocab) -> Doc:
    if not isinstance(item, (bytes, bytearray)):
        return item
    if vocab is None:
        raise ValueError("with_vector_hooks got the bytes of a doc (Doc.to_bytes): pass the vocab to read them with, "
                         "e.g. with_vector_hooks(data, nlp.vocab).")
    return Doc(vocab).from_bytes(bytes(item))


#: spaCy's warning that a doc's user hooks are not serialized; the ELMo hooks are set again on every
#: route this package documents, so for them it is noise.
W109 = re.escape("[W109]")


class _PipeKeepingVectorHooks:
    """``nlp.pipe`` that sets the vector hooks again on docs that come back from worker processes.
    A class (not a closure) so that a pipeline holding it can still be pickled (spawned workers).
    It has ``Language.pipe``'s signature and docstring (``__signature__``, ``__doc__``)."""

    def __init__(self, nlp):
        self.nlp = nlp
        method = type(nlp).pipe
        self.__doc__ = method.__doc__
        params = list(inspect.signature(method).parameters.values())[1:]  # without self
        self.__signature__ = inspect.signature(method).replace(parameters=params)

    def __call__(self, *args, **kwargs):
        self.__signature__.bind(*args, **kwargs)  # a wrong call fails here, as Language.pipe's would
        docs = type(self.nlp).pipe(self.nlp, *args, **kwargs)
        # With n_process > 1 spaCy starts its workers on the first next() and each worker sends its
        # docs back with Doc.to_bytes, which warns W109 for the ELMo hooks once per batch; the parent
        # sets them again below. Forked workers inherit the filter in force when they start.
        # The parent reads each returned doc from bytes inside next(): hooks_set_again() tells the
        # decoder not to warn that the hooks were lost, as _restore_hooks sets them again at once.
        with warnings.catch_warnings(), hooks_set_again():
            warnings.filterwarnings("ignore", message=W109)
            first = next(docs, _END)
        if first is _END:
            return
        yield _restore_hooks(first)
        while True:
            with hooks_set_again():
                item = next(docs, _END)
            if item is _END:
                return
            yield _restore_hooks(item)


_END = object()


def keep_vector_hooks_across_processes(nlp) -> None:
    """Make ``nlp.pipe(..., n_process>1)`` return docs with their vector hooks, as with one process.

    WHY here: spaCy's multiprocessing sends docs back as bytes and runs no component code in the
    parent, so the pipeline's own ``pipe`` is the one place that sees every returned doc. Idempotent."""
    if not isinstance(vars(nlp).get("pipe"), _PipeKeepingVectorHooks):
        nlp.pipe = _PipeKeepingVectorHooks(nlp)


install_extensions()
