"""How a doc is cut into the sequences the biLM sees: registered, versioned functions.

The component's ``split`` setting names one, as spacy-transformers names its span getters::

    [components.elmo.split]
    @misc = "spacy-elmo.sentences.v1"
    sentencizer = true
    window_size = 256
    window_overlap = 64

A splitter is called as ``split(doc, max_length)`` and returns :class:`Segment` s (token ranges,
and which of their tokens to keep). Two are registered:

``spacy-elmo.sentences.v1`` (the default): one sequence per sentence, as the original ELMo and this
package's pretraining run the biLM, so a sentence's vectors never depend on its neighbours. The
sentences are the doc's own when it has boundaries (``doc.has_annotation("SENT_START")``), else,
with ``sentencizer = true``, those spaCy's rule-based ``Sentencizer`` would set (the rule the
pretraining used), computed for the biLM only and never written to the doc, so a downstream NER
is not bound by them; with ``sentencizer = false`` a doc without boundaries is one sequence.

``spacy-elmo.windows.v1``: the whole doc as one sequence.

Either way a sequence longer than ``max_length`` (the component's ``max_batch_tokens``) is cut
into windows of ``window_size`` tokens that overlap by ``window_overlap``; the last window is
aligned to the end. A token in an overlap takes its vector from the window in which it is further
from the edge (the overlap is cut in the middle), so every token but those at the ends sees
``>= window_overlap / 2`` tokens of context on each side. A sequence that is not cut gets exactly
the vectors of ``BiLM.embed_sentences`` on its tokens.

The old ``split_sentences`` setting (``"sentencizer"`` / ``true`` / ``false``) with ``window_size``
and ``window_overlap`` at the component's top level still works: :func:`splitter_from_legacy`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, List, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.util import registry

SENTENCES = "spacy-elmo.sentences.v1"
WINDOWS = "spacy-elmo.windows.v1"
DEFAULT_WINDOW_SIZE = 256
DEFAULT_WINDOW_OVERLAP = 64


@dataclass(frozen=True)
class Segment:
    """Tokens ``[start, end)`` of doc number ``doc`` go through the biLM; ``[keep_start, keep_end)`` of
    them (absolute token indices) are taken from this segment's output."""

    doc: int
    start: int
    end: int
    keep_start: int
    keep_end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Splitter:
    """Base of the registered splitters: the windowing of too-long sequences they share."""

    window_size: int = DEFAULT_WINDOW_SIZE
    window_overlap: int = DEFAULT_WINDOW_OVERLAP

    def __post_init__(self) -> None:
        if self.window_size < 1:
            raise ValueError(f"'elmo' split: window_size must be >= 1, got {self.window_size}.")
        if not 0 <= self.window_overlap < self.window_size:
            raise ValueError(
                f"'elmo' split: needs 0 <= window_overlap < window_size; got {self.window_overlap} and {self.window_size}."
            )

    def ranges(self, doc: Doc) -> List[Tuple[int, int]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, doc: Doc, max_length: int, index: int = 0) -> List[Segment]:
        """The segments of ``doc`` (its number in the batch is ``index``), none longer than ``max_length``."""
        if len(doc) == 0:
            return []
        segments = []
        for a, b in self.ranges(doc):
            size = self.window_size if b - a > max_length else b - a
            for s, e, ks, ke in window_spans(a, b, size, self.window_overlap if size < b - a else 0):
                segments.append(Segment(index, s, e, ks, ke))
        return segments

    @property
    def config(self) -> dict:
        """This splitter as a config block (what ``@misc`` resolves back to it)."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class SentenceSplitter(Splitter):
    """``spacy-elmo.sentences.v1``: one sequence per sentence (see the module docstring)."""

    sentencizer: bool = True

    def ranges(self, doc: Doc) -> List[Tuple[int, int]]:
        if doc.has_annotation("SENT_START"):
            return [(sent.start, sent.end) for sent in doc.sents]
        if self.sentencizer:
            return rule_sentence_ranges(doc)
        return [(0, len(doc))]

    @property
    def config(self) -> dict:
        return {"@misc": SENTENCES, "sentencizer": self.sentencizer,
                "window_size": self.window_size, "window_overlap": self.window_overlap}


@dataclass(frozen=True)
class WindowSplitter(Splitter):
    """``spacy-elmo.windows.v1``: the whole doc as one sequence, windowed only when too long."""

    def ranges(self, doc: Doc) -> List[Tuple[int, int]]:
        return [(0, len(doc))]

    @property
    def config(self) -> dict:
        return {"@misc": WINDOWS, "window_size": self.window_size, "window_overlap": self.window_overlap}


@registry.misc(SENTENCES)
def sentences_v1(
    sentencizer: bool = True, window_size: int = DEFAULT_WINDOW_SIZE, window_overlap: int = DEFAULT_WINDOW_OVERLAP
) -> SentenceSplitter:
    return SentenceSplitter(window_size=window_size, window_overlap=window_overlap, sentencizer=sentencizer)


@registry.misc(WINDOWS)
def windows_v1(window_size: int = DEFAULT_WINDOW_SIZE, window_overlap: int = DEFAULT_WINDOW_OVERLAP) -> WindowSplitter:
    return WindowSplitter(window_size=window_size, window_overlap=window_overlap)


DEFAULT_SPLITTER = SentenceSplitter()


def splitter_from_legacy(
    split_sentences: Optional[Union[bool, str]], window_size: Optional[int], window_overlap: Optional[int]
) -> Splitter:
    """The splitter that the old top-level settings meant: ``"sentencizer"`` -> ``sentences.v1``,
    ``true`` -> ``sentences.v1`` with ``sentencizer = false``, ``false`` -> ``windows.v1``."""
    mode = "sentencizer" if split_sentences is None else split_sentences
    check_split_sentences(mode)
    size = DEFAULT_WINDOW_SIZE if window_size is None else window_size
    overlap = DEFAULT_WINDOW_OVERLAP if window_overlap is None else window_overlap
    if mode is False:
        return WindowSplitter(window_size=size, window_overlap=overlap)
    return SentenceSplitter(window_size=size, window_overlap=overlap, sentencizer=mode == "sentencizer")


def check_split_sentences(value: Any) -> None:
    if not (isinstance(value, bool) or value == "sentencizer"):
        raise ValueError(
            f"'elmo' split_sentences must be true, false or \"sentencizer\", got {value!r}. It is the old name of the "
            f"'split' setting: \"sentencizer\" is {SENTENCES} (the default), true is {SENTENCES} with "
            f"sentencizer = false, false is {WINDOWS}."
        )


def window_spans(start: int, end: int, size: int, overlap: int) -> List[Tuple[int, int, int, int]]:
    """``(start, end, keep_start, keep_end)`` windows covering ``[start, end)`` (see the module docstring)."""
    if end - start <= size:
        return [(start, end, start, end)]
    spans: List[Tuple[int, int]] = []
    s = start
    while True:
        if s + size >= end:
            spans.append((max(start, end - size), end))
            break
        spans.append((s, s + size))
        s += size - overlap
    out = []
    keep = start
    for k, (s, e) in enumerate(spans):
        cut = end if k == len(spans) - 1 else (spans[k + 1][0] + e) // 2
        out.append((s, e, keep, cut))
        keep = cut
    return out


@lru_cache(maxsize=1)
def _rule_sentencizer():
    from spacy.pipeline import Sentencizer

    return Sentencizer()


def rule_sentence_ranges(doc: Doc) -> List[Tuple[int, int]]:
    """Sentences as spaCy's rule-based ``Sentencizer`` (the rule this package's pretraining uses)
    would set them, computed without writing them to the doc."""
    starts = _rule_sentencizer().predict([doc])[0]
    bounds = [0] + [i for i, is_start in enumerate(starts) if is_start and i > 0] + [len(doc)]
    return list(zip(bounds, bounds[1:]))
