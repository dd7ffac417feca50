"""Looking at contextual vectors: finding a word, cosine tables, 2-D PCA.

Plain numpy on ``[n, dim]`` token vectors, so the CLI, notebooks and tests all compute
similarities and projections the same way. Which layers give those vectors is decided by
:mod:`spacy_elmo.layer_choice`.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy

from ..errors import ElmoError

@dataclass
class Occurrence:
    """One occurrence of a word: which text, which tokens, and its (averaged) vector."""

    text_index: int
    start: int
    end: int
    tokens: List[str]
    vector: numpy.ndarray
    label: Optional[str] = None
    text: str = ""
    char_start: int = 0
    char_end: int = 0

    def context(self, width: int = 40) -> str:
        """The text with the word in [brackets], shortened around it to about ``width`` characters."""
        if self.text:
            left, word, right = self.text[: self.char_start], self.text[self.char_start : self.char_end], self.text[self.char_end :]
        else:
            left = " ".join(self.tokens[: self.start])
            word = " ".join(self.tokens[self.start : self.end])
            right = " ".join(self.tokens[self.end :])
        left, right = " ".join(left.split()), " ".join(right.split())
        half = max(8, (width - len(word)) // 2)
        if len(left) > half:
            left = "…" + left[-half:]
        if len(right) > half:
            right = right[:half] + "…"
        return f"{left} [{word}] {right}".strip()


def find_spans(tokens: Sequence[str], word_tokens: Sequence[str]) -> List[Tuple[int, int]]:
    """Start/end of every match of ``word_tokens`` in ``tokens``, ignoring case and Unicode normal form."""
    target = [_fold(w) for w in word_tokens]
    lowered = [_fold(t) for t in tokens]
    n = len(target)
    if n == 0:
        return []
    return [(i, i + n) for i in range(len(lowered) - n + 1) if lowered[i : i + n] == target]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def cosine_matrix(vectors: numpy.ndarray) -> numpy.ndarray:
    """Pairwise cosine similarity of the rows of ``[n, D]``; a zero row is similar to nothing (0)."""
    vectors = numpy.asarray(vectors, dtype=numpy.float64)
    norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
    unit = numpy.divide(vectors, norms, out=numpy.zeros_like(vectors), where=norms > 0)
    return unit @ unit.T


def label_separation(vectors: numpy.ndarray, labels: Sequence[str]) -> Tuple[float, float]:
    """Mean cosine between vectors with the same label (self-pairs excluded) and between different labels.

    A quick number for "do the senses separate": within should be clearly above across.
    NaN where no such pair exists.
    """
    sims = cosine_matrix(vectors)
    lab = numpy.asarray([str(label) for label in labels])
    same = lab[:, None] == lab[None, :]
    off_diagonal = ~numpy.eye(len(lab), dtype=bool)
    within = sims[same & off_diagonal]
    across = sims[~same]
    return (float(within.mean()) if within.size else float("nan"), float(across.mean()) if across.size else float("nan"))


def pca_2d(vectors: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Project ``[n, D]`` onto its first two principal components.

    Returns ``(coords [n, 2], explained_variance_ratio [2])``. Fewer than two
    directions of variance (e.g. identical vectors) give zeros, not NaN.
    """
    x = numpy.asarray(vectors, dtype=numpy.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ElmoError(f"PCA needs at least two vectors; got {x.shape[0] if x.ndim == 2 else 0}.")
    centred = x - x.mean(axis=0, keepdims=True)
    _, singular, vt = numpy.linalg.svd(centred, full_matrices=False)
    components = numpy.zeros((2, x.shape[1]))
    k = min(2, vt.shape[0])
    components[:k] = vt[:k]
    # Fix each component's sign so that plots do not flip between runs or machines.
    for i in range(k):
        pivot = numpy.argmax(numpy.abs(components[i]))
        if components[i, pivot] < 0:
            components[i] *= -1
    coords = centred @ components.T
    variance = singular ** 2
    total = variance.sum()
    ratio = numpy.zeros(2)
    if total > 0:
        ratio[:k] = variance[:k] / total
    return coords, ratio
