"""The LM's output vocabulary: sentence markers, unknown, then the most frequent words.

Written as ``vocab.txt`` (one word a line, markers first), the layout bilm-tf uses,
so the file also works with the original tools. Words are sorted by frequency,
which the adaptive softmax relies on (its clusters are frequency bands).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy

from ..atomic import write_text

BOS, EOS, UNK = "<S>", "</S>", "<UNK>"
SPECIALS = (BOS, EOS, UNK)


class Vocabulary:
    def __init__(self, words: Sequence[str]):
        words = list(words)
        if tuple(words[:3]) != SPECIALS:
            raise ValueError(f"A vocabulary starts with {SPECIALS}; got {words[:3]}")
        self.words = words
        self.index: Dict[str, int] = {w: i for i, w in enumerate(words)}

    bos, eos, unk = 0, 1, 2

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_counts(cls, types: Sequence[str], counts: numpy.ndarray, size: int, min_count: int = 1) -> "Vocabulary":
        """The ``size`` most frequent types (markers included in ``size``); ties keep corpus order."""
        order = numpy.argsort(-counts, kind="stable")
        words = list(SPECIALS)
        for tid in order:
            if len(words) >= size or counts[tid] < min_count:
                break
            if types[tid] not in SPECIALS:
                words.append(types[tid])
        return cls(words)

    def ids_for_types(self, types: Sequence[str]) -> numpy.ndarray:
        """Vocabulary id of every corpus type (``unk`` for words outside the vocabulary)."""
        return numpy.fromiter((self.index.get(t, self.unk) for t in types), dtype=numpy.int64, count=len(types))

    def to_file(self, path: Union[str, Path]) -> None:
        write_text(path, "\n".join(self.words) + "\n")

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "Vocabulary":
        return cls(Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def coverage(self, types: Sequence[str], counts: numpy.ndarray) -> float:
        """Share of corpus tokens inside the vocabulary."""
        known = self.ids_for_types(types) != self.unk
        return float(counts[known].sum() / max(1, counts.sum()))
