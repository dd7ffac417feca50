"""The character CNN: char embedding, convolutions with max-over-time, highways, projection.

It maps each token's row of ids (its :class:`~.characters.CharacterVocabulary`'s) to one
context-free vector (layer 0 of ELMo). Parameters follow the original TensorFlow semantics, so
loading and exporting weights are transposes, not re-derivations. A model with a word embedding
(ELMoForManyLangs) reads the row's last id as the word and puts its vector before the highway
output, into the projection.
"""
from __future__ import annotations

from typing import List, Optional, Tuple, cast

import torch
from torch import nn

from .characters import ByteVocabulary, CharacterVocabulary
from .options import BiLMOptions


class Highway(nn.Module):
    """``g * relu(x W_t + b_t) + (1 - g) * x`` with ``g = sigmoid(x W_c + b_c)``, as in bilm-tf.

    Transform and carry weights live in one ``Linear`` so each layer is a single matmul.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(dim, 2 * dim)  # rows [:dim] transform, [dim:] carry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.linear(x), x)

    def combine(self, projected: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The gating, given ``projected = self.linear(x)`` (the inference path computes it its own way)."""
        transform, carry = projected.split(self.dim, dim=-1)
        gate = torch.sigmoid(carry)
        return gate * torch.relu(transform) + (1.0 - gate) * x


class CharCNN(nn.Module):
    """``[N, max_chars]`` shifted character ids of real tokens to ``[N, projection_dim]``."""

    def __init__(self, options: BiLMOptions, vocabulary: Optional[CharacterVocabulary] = None):
        super().__init__()
        self.options = options
        self.vocabulary = vocabulary if vocabulary is not None else ByteVocabulary(options.max_characters_per_token)
        # Row 0 is the padding id introduced by the +1 shift; it stays zero.
        self.char_embedding = nn.Embedding(options.char_embedding_rows, options.char_embedding_dim, padding_idx=0)
        self.word_embedding: Optional[nn.Embedding] = None
        if options.word_embedding_dim:
            self.word_embedding = nn.Embedding(options.n_words, options.word_embedding_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(options.char_embedding_dim, num, kernel_size=width) for width, num in options.filters
        )
        self.highways = nn.ModuleList(Highway(options.n_filters) for _ in range(options.n_highway))
        self.projection = nn.Linear(options.word_embedding_dim + options.n_filters, options.projection_dim)
        self.activation = torch.relu if options.activation == "relu" else torch.tanh

    @property
    def conv_layers(self) -> List[nn.Conv1d]:
        """The convolutions, typed (a ``ModuleList`` yields plain ``Module`` s)."""
        return [cast(nn.Conv1d, conv) for conv in self.convolutions]

    @property
    def conv_biases(self) -> List[torch.Tensor]:
        """Each convolution's bias (every one is built with a bias)."""
        biases = [conv.bias for conv in self.conv_layers]
        assert all(b is not None for b in biases)
        return cast(List[torch.Tensor], biases)

    @property
    def highway_layers(self) -> List[Highway]:
        return [cast(Highway, highway) for highway in self.highways]

    def split_ids(self, ids: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``[N, width]`` rows -> the character ids ``[N, max_chars]`` and the word ids ``[N]`` (None without words)."""
        max_chars = self.options.max_characters_per_token
        return ids[:, :max_chars], (ids[:, max_chars] if self.word_embedding is not None else None)

    def with_words(self, x: torch.Tensor, word_ids: Optional[torch.Tensor]) -> torch.Tensor:
        """The highway output, with the word vector before it where the model has one (its projection's input)."""
        if self.word_embedding is None or word_ids is None:
            return x
        return torch.cat([self.word_embedding(word_ids).to(x.dtype), x], dim=-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        char_ids, word_ids = self.split_ids(ids)
        embedded = self.char_embedding(char_ids).transpose(1, 2)  # [N, dim, chars]
        pooled = [conv(embedded).max(dim=-1).values for conv in self.convolutions]
        x = self.activation(torch.cat(pooled, dim=-1))
        for highway in self.highways:
            x = highway(x)
        return self.projection(self.with_words(x, word_ids))
