"""The character CNN: char embedding, convolutions with max-over-time, highways, projection.

It maps each token's character ids to one context-free vector (layer 0 of
ELMo). Parameters follow the original TensorFlow semantics, so loading and
exporting weights are transposes, not re-derivations.
"""
from __future__ import annotations

from typing import List, cast

import torch
from torch import nn

from .characters import N_RAW_CHARS
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

    def __init__(self, options: BiLMOptions):
        super().__init__()
        self.options = options
        # Row 0 is the padding id introduced by the +1 shift; it stays zero.
        self.char_embedding = nn.Embedding(N_RAW_CHARS + 1, options.char_embedding_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(options.char_embedding_dim, num, kernel_size=width) for width, num in options.filters
        )
        self.highways = nn.ModuleList(Highway(options.n_filters) for _ in range(options.n_highway))
        self.projection = nn.Linear(options.n_filters, options.projection_dim)
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

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        embedded = self.char_embedding(char_ids).transpose(1, 2)  # [N, dim, chars]
        pooled = [conv(embedded).max(dim=-1).values for conv in self.convolutions]
        x = self.activation(torch.cat(pooled, dim=-1))
        for highway in self.highways:
            x = highway(x)
        return self.projection(x)
