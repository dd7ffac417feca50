"""Segments into biLM calls: at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens each."""
from __future__ import annotations

from typing import List, Sequence, Tuple

from spacy.tokens import Doc

from .splitting import Segment


def make_batches(segments: Sequence[Segment], batch_size: int, max_batch_tokens: int, sort: bool) -> List[List[Segment]]:
    """Batches of at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens (rows x longest).

    ``sort`` orders the segments by length first, which pads least; a stateful biLM keeps the
    order, since each row's LSTM state carries over to the same row of the next batch.
    """
    order = sorted(segments, key=len) if sort else list(segments)
    batches: List[List[Segment]] = []
    current: List[Segment] = []
    longest = 0
    for seg in order:
        new_longest = max(longest, len(seg))
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * new_longest > max_batch_tokens):
            batches.append(current)
            current, new_longest = [], len(seg)
        current.append(seg)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def segment_texts(doc: Doc, seg: Segment) -> Tuple[str, ...]:
    """The segment's tokens as the biLM reads them: their exact text, whitespace tokens included."""
    return tuple(t.text for t in doc[seg.start : seg.end])
