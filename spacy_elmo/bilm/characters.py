"""Tokens to character ids, exactly as the original ELMo does it.

Each token becomes ``max_characters_per_token`` ids: begin-of-word, its UTF-8
bytes (truncated), end-of-word, then padding. Sentence-start and sentence-end
are tokens of their own. Every id is shifted by +1 so that 0 means "no token"
(padding rows in a batch), which is how AllenNLP feeds the character CNN.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

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
    if not isinstance(token, str):
        raise CharacterError(f"ELMo tokens must be str, got {type(token).__name__}: {token!r}")
    if token == "":
        raise CharacterError(
            "ELMo cannot embed an empty token (''): the original model has no representation for it. "
            "Drop empty strings from the sentence before embedding (spaCy never produces them)."
        )
    return numpy.frombuffer(_token_ids(token, max_chars), dtype=numpy.int16).astype(numpy.int64)


def sentences_to_char_ids(sentences: Sequence[Sequence[str]], max_chars: int = 50) -> torch.Tensor:
    """``[batch, max_len, max_chars]`` int64 ids, zero for padding token slots. No boundaries added."""
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise CharacterError(
            "sentences_to_char_ids expects a list of token lists, e.g. [['Hello', 'world']]; got a string. "
            "Split the text into tokens first."
        )
    max_len = max((len(s) for s in sentences), default=0)
    out = numpy.zeros((len(sentences), max_len, max_chars), dtype=numpy.int64)
    for i, sentence in enumerate(sentences):
        for j, token in enumerate(sentence):
            out[i, j] = token_to_char_ids(token, max_chars)
    return torch.from_numpy(out)


def add_sentence_boundaries(char_ids: torch.Tensor) -> torch.Tensor:
    """Wrap each row in sentence-start/end tokens: ``[B, T, C] -> [B, T + 2, C]``.

    Rows shorter than ``T`` get the end token right after their last real token.
    """
    batch, max_len, max_chars = char_ids.shape
    lengths = (char_ids > 0).any(-1).sum(-1)
    bounds = torch.from_numpy(boundary_char_ids(max_chars)).to(char_ids.device)
    out = char_ids.new_zeros((batch, max_len + 2, max_chars))
    out[:, 1 : max_len + 1] = char_ids
    out[:, 0] = bounds[0]
    out[torch.arange(batch, device=char_ids.device), lengths + 1] = bounds[1]
    return out


def lengths_of(char_ids: torch.Tensor) -> torch.Tensor:
    """Number of real tokens in each row (padding slots are all zeros)."""
    return (char_ids > 0).any(-1).sum(-1)
