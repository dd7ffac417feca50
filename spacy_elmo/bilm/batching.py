"""Sequences in a given order cut into biLM calls: the one batching rule of the package.

Every caller of the biLM batches the same way -- ``BiLM.embed_sentences``, the Thinc model over docs
(``spacy_elmo.layers``) and LM pretraining (``spacy_elmo.training.batching``): it orders its sequences
(by length, to pad least; or as given, where state follows batch rows) and cuts them greedily, so that
no call has more than ``max_rows`` rows or more than ``max_tokens`` padded tokens, that is rows x
(longest + ``pad``). A sequence too long for ``max_tokens`` alone still gets a call of its own.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy

#: Sentences (rows) per biLM call, unless the caller says otherwise: ``embed_sentences``, the 'elmo'
#: component's ``batch_size`` and ``embed --batch-size`` all start from it.
DEFAULT_BATCH_SIZE = 64


def cut_batches(lengths: Union[Sequence[int], numpy.ndarray], max_rows: int, max_tokens: Optional[int] = None, pad: int = 0) -> List[Tuple[int, int]]:
    """``[start, end)`` spans over ``lengths`` (in their order), each one biLM call.

    ``pad``: tokens each row gets beyond its length (2 where the sentence boundaries are added to
    the ids before the call); ``max_tokens`` None: rows alone decide.
    """
    spans: List[Tuple[int, int]] = []
    start, longest = 0, 0
    for i, length in enumerate(lengths):
        rows, new_longest = i - start + 1, max(longest, int(length))
        if i > start and (rows > max_rows or (max_tokens is not None and rows * (new_longest + pad) > max_tokens)):
            spans.append((start, i))
            start, new_longest = i, int(length)
        longest = new_longest
    if start < len(lengths):
        spans.append((start, len(lengths)))
    return spans
