"""Sentence-level batches: shuffled each epoch, bucketed by length, fixed token budget.

Why sentences and not windows of continuous text with carried state: the pipeline
component runs the biLM statelessly on sentences, so training on sentences (each
wrapped in <S> ... </S>) makes training and use see the same inputs. It also makes
the batch order a pure function of (seed, epoch), which is what exact ``--resume``
and sharding across DDP ranks need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy
import torch

from ..bilm.batching import cut_batches
from ..bilm.characters import boundary_char_ids, token_to_char_ids
from .corpus import TokenizedCorpus
from .vocab import Vocabulary


def epoch_batches(
    lengths: numpy.ndarray, seed: int, epoch: int, batch_tokens: int, max_batch_sentences: int = 512, pool_batches: int = 50
) -> List[numpy.ndarray]:
    """Sentence indices of every batch of one epoch, in training order.

    Sentences are shuffled, then sorted by length within pools of about ``pool_batches``
    batches (little padding, still random), cut so that ``rows * (longest + 2)`` stays
    within ``batch_tokens``, and the batches shuffled again.
    """
    rng = numpy.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    mean_len = float(lengths.mean()) + 2 if len(lengths) else 1.0
    pool = max(1, int(pool_batches * batch_tokens / mean_len))
    batches: List[numpy.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[numpy.argsort(lengths[chunk], kind="stable")]
        # rows x (longest + 2 boundary tokens) within batch_tokens
        batches.extend(chunk[a:b] for a, b in cut_batches(lengths[chunk], max_batch_sentences, batch_tokens, pad=2))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def shard(batches: List[numpy.ndarray], rank: int, world_size: int) -> List[numpy.ndarray]:
    """This rank's batches; every rank gets the same number (the remainder is dropped)."""
    per_rank = len(batches) // world_size
    return batches[rank : per_rank * world_size : world_size]


@dataclass
class LMBatch:
    """One batch, with the character CNN input deduplicated by token type.

    ``chars [U, C]``: character ids of the distinct tokens in the batch (row 0 = <S>,
    row 1 = </S>); ``slots [B, T]``: row in ``chars`` of each position, -1 for padding;
    ``targets [B, T]``: output-vocabulary id of each position; ``lengths [B]`` include
    the two sentence markers.
    """

    chars: torch.Tensor
    slots: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor

    @property
    def n_tokens(self) -> int:
        """Words predicted per direction (each sentence's tokens plus one marker)."""
        return int((self.lengths - 1).sum())

    def to(self, device) -> "LMBatch":
        return LMBatch(*(t.to(device) for t in (self.chars, self.slots, self.targets, self.lengths)))


class BatchMaker:
    """Turns sentence indices of a corpus into :class:`LMBatch` tensors."""

    def __init__(self, corpus: TokenizedCorpus, vocab: Vocabulary, max_chars: int = 50):
        self.corpus = corpus
        self.max_chars = max_chars
        self.vocab_ids = vocab.ids_for_types(corpus.types)
        self.lengths = numpy.diff(corpus.offsets)
        self._char_table: Optional[numpy.ndarray] = None

    @property
    def char_table(self) -> numpy.ndarray:
        """``[2 + n_types, C]`` int16: the two markers, then every corpus type (built once)."""
        if self._char_table is None:
            rows = [token_to_char_ids(t, self.max_chars).astype(numpy.int16) for t in self.corpus.types]
            bounds = boundary_char_ids(self.max_chars).astype(numpy.int16)
            self._char_table = numpy.concatenate([bounds, numpy.stack(rows)]) if rows else bounds
        return self._char_table

    def make(self, sentence_ids: numpy.ndarray) -> LMBatch:
        corpus = self.corpus
        lens = self.lengths[sentence_ids]
        width = int(lens.max()) + 2
        rows = numpy.full((len(sentence_ids), width), -1, dtype=numpy.int64)  # table rows, -1 = pad
        for r, (s, n) in enumerate(zip(sentence_ids, lens)):
            rows[r, 0] = 0
            rows[r, 1 : n + 1] = corpus.tokens[corpus.offsets[s] : corpus.offsets[s + 1]].astype(numpy.int64) + 2
            rows[r, n + 1] = 1
        uniq, slots = numpy.unique(rows, return_inverse=True)
        slots = slots.reshape(rows.shape)
        if uniq[0] == -1:  # padding present: shift so that -1 stays -1
            uniq = uniq[1:]
            slots = slots - 1
        targets = numpy.zeros_like(rows)
        real = rows >= 2
        targets[real] = self.vocab_ids[rows[real] - 2]
        targets[rows == 0] = Vocabulary.bos
        targets[rows == 1] = Vocabulary.eos
        return LMBatch(
            chars=torch.from_numpy(self.char_table[uniq].astype(numpy.int64)),
            slots=torch.from_numpy(slots),
            targets=torch.from_numpy(targets),
            lengths=torch.from_numpy((lens + 2).astype(numpy.int64)),
        )
