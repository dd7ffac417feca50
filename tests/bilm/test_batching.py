"""The one batching rule (``spacy_elmo.bilm.batching.cut_batches``) cuts exactly as the three rules it
replaced did: the Thinc model's (rows and padded tokens), pretraining's (rows and tokens with the two
boundary tokens, over length-sorted pools) and ``embed_sentences``' (rows only)."""
from typing import List, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_elmo.bilm.batching import cut_batches


def old_component_rule(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> List[Tuple[int, int]]:
    spans, start, current, longest = [], 0, 0, 0
    for i, length in enumerate(lengths):
        new_longest = max(longest, length)
        if current and (current + 1 > batch_size or (current + 1) * new_longest > max_batch_tokens):
            spans.append((start, i))
            start, current, new_longest = i, 0, length
        current += 1
        longest = new_longest
    if current:
        spans.append((start, len(lengths)))
    return spans


def old_pretraining_rule(lengths: Sequence[int], max_sentences: int, batch_tokens: int) -> List[Tuple[int, int]]:
    spans, begin = [], 0  # over lengths sorted ascending, as within each pool
    while begin < len(lengths):
        end = begin + 1
        while end < len(lengths) and end - begin < max_sentences and (end - begin + 1) * (lengths[end] + 2) <= batch_tokens:
            end += 1
        spans.append((begin, end))
        begin = end
    return spans


lengths_lists = st.lists(st.integers(min_value=0, max_value=40), max_size=60)


@settings(max_examples=300, deadline=None)
@given(lengths_lists, st.integers(1, 10), st.integers(1, 200))
def test_the_component_rule(lengths, rows, tokens):
    assert cut_batches(lengths, rows, tokens) == old_component_rule(lengths, rows, tokens)


@settings(max_examples=300, deadline=None)
@given(lengths_lists, st.integers(1, 10), st.integers(1, 200))
def test_the_pretraining_rule(lengths, rows, tokens):
    lengths = sorted(lengths)
    assert cut_batches(lengths, rows, tokens, pad=2) == old_pretraining_rule(lengths, rows, tokens)


@settings(max_examples=100, deadline=None)
@given(lengths_lists, st.integers(1, 10))
def test_rows_alone(lengths, rows):
    assert cut_batches(lengths, rows) == [(a, min(a + rows, len(lengths))) for a in range(0, len(lengths), rows)]
