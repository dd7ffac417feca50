"""Tokens to character ids: the per-model vocabulary that the biLM owns, and the original byte one.

A :class:`CharacterVocabulary` turns a token into one row of ids (its ``width``): what the
character CNN reads. Two kinds exist: :class:`ByteVocabulary`, exactly the original ELMo's
(AllenNLP / bilm-tf), and the dictionary vocabulary of ELMoForManyLangs models
(:mod:`.dictionary_characters`). Everything above the biLM asks the biLM's vocabulary, so it never
needs to know which kind a model has.

The byte vocabulary: each token becomes ``max_characters_per_token`` ids: begin-of-word, its UTF-8
bytes (truncated), end-of-word, then padding. Sentence-start and sentence-end are tokens of their
own. Every id is shifted by +1 so that 0 means "no token" (padding rows in a batch), which is how
AllenNLP feeds the character CNN; every vocabulary keeps that rule.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Sequence

import numpy
import torch

from ..errors import CharacterError

# Raw (unshifted) special character ids of the original vocabulary.
BOS_CHAR = 256  # sentence start
EOS_CHAR = 257  # sentence end
BOW_CHAR = 258  # begin of word
EOW_CHAR = 259  # end of word
PAD_CHAR = 260  # padding inside a token
N_RAW_CHARS = 261  # ids 0..260; after the +1 shift the embedding has 262 rows


def _special_token(char: int, max_chars: int) -> numpy.ndarray:
    ids = numpy.full(max_chars, PAD_CHAR, dtype=numpy.int64)
    ids[0], ids[1], ids[2] = BOW_CHAR, char, EOW_CHAR
    return ids + 1


@lru_cache(maxsize=8)
def boundary_char_ids(max_chars: int = 50) -> numpy.ndarray:
    """``[2, max_chars]``: the sentence-start and sentence-end tokens, shifted."""
    return numpy.stack([_special_token(BOS_CHAR, max_chars), _special_token(EOS_CHAR, max_chars)])


@lru_cache(maxsize=2 ** 16)
def _token_ids(token: str, max_chars: int) -> bytes:
    data = token.encode("utf-8", "surrogatepass")[: max_chars - 2]
    ids = numpy.full(max_chars, PAD_CHAR, dtype=numpy.int64)
    ids[0] = BOW_CHAR
    ids[1 : len(data) + 1] = numpy.frombuffer(data, dtype=numpy.uint8)
    ids[len(data) + 1] = EOW_CHAR
    return (ids + 1).astype(numpy.int16).tobytes()


def token_to_char_ids(token: str, max_chars: int = 50) -> numpy.ndarray:
    """One token's ``max_chars`` shifted ids. Long tokens keep their first ``max_chars - 2`` bytes.

    Lone surrogates (possible in Python strings, not in valid UTF-8) are kept as their
    three-byte encoding rather than silently dropped, so no token ever becomes empty.
    """
    check_token(token)
    return numpy.frombuffer(_token_ids(token, max_chars), dtype=numpy.int16).astype(numpy.int64)


def sentences_to_char_ids(sentences: Sequence[Sequence[str]], max_chars: int = 50) -> torch.Tensor:
    """``[batch, max_len, max_chars]`` int64 ids, zero for padding token slots. No boundaries added."""
    check_sentences(sentences)
    max_len = max((len(s) for s in sentences), default=0)
    out = numpy.zeros((len(sentences), max_len, max_chars), dtype=numpy.int64)
    for i, sentence in enumerate(sentences):
        for j, token in enumerate(sentence):
            out[i, j] = token_to_char_ids(token, max_chars)
    return torch.from_numpy(out)


def add_sentence_boundaries(char_ids: torch.Tensor, bounds_ids: Optional[numpy.ndarray] = None) -> torch.Tensor:
    """Wrap each row in sentence-start/end tokens: ``[B, T, C] -> [B, T + 2, C]``.

    Rows shorter than ``T`` get the end token right after their last real token. ``bounds_ids``:
    the vocabulary's ``[2, C]`` start and end tokens (default: the byte vocabulary's).
    """
    batch, max_len, max_chars = char_ids.shape
    lengths = (char_ids > 0).any(-1).sum(-1)
    if bounds_ids is None:
        bounds_ids = boundary_char_ids(max_chars)
    bounds = torch.from_numpy(bounds_ids).to(char_ids.device)
    out = char_ids.new_zeros((batch, max_len + 2, max_chars))
    out[:, 1 : max_len + 1] = char_ids
    out[:, 0] = bounds[0]
    out[torch.arange(batch, device=char_ids.device), lengths + 1] = bounds[1]
    return out


def lengths_of(char_ids: torch.Tensor) -> torch.Tensor:
    """Number of real tokens in each row (padding slots are all zeros)."""
    return (char_ids > 0).any(-1).sum(-1)


def check_token(token: Any) -> str:
    """The token itself, or a :class:`CharacterError` for what no vocabulary can embed."""
    if not isinstance(token, str):
        raise CharacterError(f"ELMo tokens must be str, got {type(token).__name__}: {token!r}")
    if token == "":
        raise CharacterError(
            "ELMo cannot embed an empty token (''): the original model has no representation for it. "
            "Drop empty strings from the sentence before embedding (spaCy never produces them)."
        )
    return token


def check_sentences(sentences: Any) -> None:
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise CharacterError(
            "sentences_to_char_ids expects a list of token lists, e.g. [['Hello', 'world']]; got a string. "
            "Split the text into tokens first."
        )


class CharacterVocabulary:
    """Tokens to rows of ids for one model; 0 is never a real id (it marks padding token slots).

    ``width``: ids per token (the character positions, then a word id where the model has a word
    embedding); ``n_char_rows`` / ``n_word_rows``: the embeddings' rows, row 0 the zero row;
    ``pad_id``: the padding character inside a token (the fast character CNN needs it).
    """

    kind: str = ""
    max_chars: int = 50
    pad_id: int = PAD_CHAR + 1
    n_char_rows: int = N_RAW_CHARS + 1
    n_word_rows: int = 0

    @property
    def width(self) -> int:
        return self.max_chars + (1 if self.n_word_rows else 0)

    def token_ids(self, token: str) -> numpy.ndarray:
        """One token's ``width`` int64 ids."""
        raise NotImplementedError

    def boundary_ids(self) -> numpy.ndarray:
        """``[2, width]``: the sentence-start and sentence-end tokens."""
        raise NotImplementedError

    def sentences_to_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[batch, max_len, width]`` int64 ids, zero for padding token slots. No boundaries added."""
        check_sentences(sentences)
        max_len = max((len(s) for s in sentences), default=0)
        out = numpy.zeros((len(sentences), max_len, self.width), dtype=numpy.int64)
        for i, sentence in enumerate(sentences):
            for j, token in enumerate(sentence):
                out[i, j] = self.token_ids(token)
        return torch.from_numpy(out)

    def add_sentence_boundaries(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, T, width] -> [B, T + 2, width]`` with this vocabulary's start and end tokens."""
        return add_sentence_boundaries(ids, self.boundary_ids())

    def to_dict(self) -> Optional[Dict[str, Any]]:
        """What the native format stores beside the weights to rebuild it (None: nothing, the options suffice)."""
        return None


class ByteVocabulary(CharacterVocabulary):
    """The original ELMo's: UTF-8 bytes, fixed special ids (:func:`token_to_char_ids`)."""

    kind = "bytes"

    def __init__(self, max_chars: int = 50):
        self.max_chars = max_chars

    def token_ids(self, token: str) -> numpy.ndarray:
        return token_to_char_ids(token, self.max_chars)

    def boundary_ids(self) -> numpy.ndarray:
        return boundary_char_ids(self.max_chars)

    def sentences_to_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        return sentences_to_char_ids(sentences, self.max_chars)

    def __repr__(self) -> str:
        return f"ByteVocabulary(max_chars={self.max_chars})"
