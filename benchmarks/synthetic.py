"""Synthetic text for the benchmarks where ../shared/data is absent (e.g. a bare GPU machine).

Words of 2-12 random letters, drawn with Zipf frequencies (exponent 1.1, like English), in
sentences of 3-60 tokens (mean about 23, like the LM corpus after splitting). Speed depends
on shapes, not on the words, so these give the same shapes as real text of the same sizes.
"""
from __future__ import annotations

import string
from typing import List

import numpy


def words(n_types: int, seed: int = 0) -> List[str]:
    rng = numpy.random.default_rng(seed)
    letters = numpy.array(list(string.ascii_lowercase))
    seen, out = set(), []
    while len(out) < n_types:
        word = "".join(rng.choice(letters, size=int(rng.integers(2, 13))))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def sentence_lengths(n: int, rng: numpy.random.Generator, max_tokens: int = 60) -> numpy.ndarray:
    return numpy.clip(rng.lognormal(mean=3.0, sigma=0.5, size=n), 3, max_tokens).astype(numpy.int64)


def token_ids(n: int, n_types: int, rng: numpy.random.Generator) -> numpy.ndarray:
    """Zipf-distributed type ids in ``[0, n_types)``, most frequent first."""
    weights = 1.0 / numpy.arange(1, n_types + 1) ** 1.1
    return rng.choice(n_types, size=n, p=weights / weights.sum()).astype(numpy.int32)


def corpus(n_tokens: int, n_types: int = 50_000, seed: int = 0, max_tokens: int = 60):
    """A ``TokenizedCorpus`` of about ``n_tokens`` tokens (no tokenizer, no spaCy)."""
    from spacy_elmo.training.corpus import CorpusStats, TokenizedCorpus

    rng = numpy.random.default_rng(seed)
    lengths = sentence_lengths(max(1, n_tokens // 20), rng, max_tokens)
    lengths = lengths[: int(numpy.searchsorted(numpy.cumsum(lengths), n_tokens)) + 1]
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype(numpy.int64)
    tokens = token_ids(int(offsets[-1]), n_types, rng)
    counts = numpy.bincount(tokens, minlength=n_types).astype(numpy.int64)
    stats = CorpusStats(files=1, lines=len(lengths), sentences=len(lengths), tokens=int(offsets[-1]))
    return TokenizedCorpus(words(n_types, seed), counts, tokens, offsets, stats)


def sentences(n: int, n_types: int = 20_000, seed: int = 0, max_tokens: int = 60) -> List[List[str]]:
    rng = numpy.random.default_rng(seed)
    vocab = words(n_types, seed)
    lengths = sentence_lengths(n, rng, max_tokens)
    ids = token_ids(int(lengths.sum()), n_types, rng)
    out, start = [], 0
    for length in lengths:
        out.append([vocab[i] for i in ids[start : start + length]])
        start += length
    return out
