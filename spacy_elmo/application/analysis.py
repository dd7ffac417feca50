"""Looking at contextual vectors: choosing layers, finding a word, cosine tables, 2-D PCA.

Plain numpy on ``[n_layers + 1, n_tokens, dim]`` arrays, so the CLI, notebooks and
tests all compute similarities and projections the same way.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy

from ..bilm.errors import ElmoError

LAYER_CHOICES = ("mix", "top", "average", "all")
LayerSpec = Union[str, Tuple[int, ...]]


def parse_layers(spec: str, n_output_layers: Optional[int] = None) -> LayerSpec:
    """``"mix"``, ``"top"``, ``"average"``, ``"all"`` or comma-separated indices such as ``"0,2"``.

    Indices are checked against ``n_output_layers`` when it is known, so a typo fails
    before hours of embedding rather than after.
    """
    text = spec.strip().lower()
    if text in LAYER_CHOICES:
        return text
    try:
        indices = tuple(int(part) for part in text.split(",") if part.strip() != "")
    except ValueError:
        indices = ()
    if not indices:
        raise ElmoError(
            f"--layers {spec!r} is not understood: use one of {', '.join(LAYER_CHOICES)} or layer numbers "
            "such as 0,1,2 (0 is the context-free token layer)."
        )
    if n_output_layers is not None:
        bad = [i for i in indices if not 0 <= i < n_output_layers]
        if bad:
            raise ElmoError(
                f"--layers {spec!r} names layer {bad[0]}, but this model has {n_output_layers} output layers "
                f"(0 = token layer, 1..{n_output_layers - 1} = LSTM layers)."
            )
    return indices


def select_layers(layers: numpy.ndarray, spec: LayerSpec, mix_weights: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """Reduce ``[L, n, D]`` per ``spec``.

    ``top``/``average``/``mix`` give ``[n, D]``; ``all`` and index tuples keep a layer axis
    (``[L, n, D]`` / ``[k, n, D]``). ``mix`` needs ``mix_weights`` (``[L]``, already
    normalised and scaled by gamma); without them it is the plain average.
    """
    if layers.ndim != 3:
        raise ValueError(f"expected [n_layers, n_tokens, dim], got shape {layers.shape}")
    if spec == "all":
        return layers
    if spec == "top":
        return layers[-1]
    if spec == "average":
        return layers.mean(axis=0)
    if spec == "mix":
        if mix_weights is None:
            return layers.mean(axis=0)
        weights = numpy.asarray(mix_weights, dtype=layers.dtype)
        return numpy.tensordot(weights, layers, axes=(0, 0))
    return layers[list(spec)]


def comparable_vectors(layers: numpy.ndarray, spec: LayerSpec, mixed: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """One flat vector per token (``[n, D']``) for similarity and PCA.

    ``mix`` is the component's output (``mixed``, i.e. ``token._.elmo``); ``all`` concatenates
    every layer; a tuple of layer numbers averages those layers.
    """
    if spec == "mix":
        return mixed if mixed is not None else layers.mean(axis=0)
    if spec == "all":
        return numpy.concatenate(list(layers), axis=-1)
    if isinstance(spec, tuple):
        return layers[list(spec)].mean(axis=0)
    return select_layers(layers, spec)


def output_shape(spec: LayerSpec, n_output_layers: int, dim: int) -> Tuple[int, ...]:
    """Per-token shape of :func:`select_layers`' result (without the token axis)."""
    if spec == "all":
        return (n_output_layers, dim)
    if isinstance(spec, tuple):
        return (len(spec), dim)
    return (dim,)


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
