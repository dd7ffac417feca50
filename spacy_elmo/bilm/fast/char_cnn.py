"""Inference-only character CNN that convolves only the windows that can differ between tokens.

A token of n characters fills positions ``0..n+1`` (begin-of-word, characters, end-of-word); every
later position holds the padding character (the vocabulary's ``pad_id``: a byte model's and an
ELMoForManyLangs dictionary's differ), whose embedding is a real (non-zero) row. A window made
only of padding therefore gives the same value for every token: one constant per filter. So
max-over-time = max(windows touching real characters, that constant), and only the first
``n + 2`` windows need a convolution. Tokens are grouped by length so each group convolves
just the width it needs; for typical English this is about a quarter of the reference's work.
All filters run as one matmul over unfolded windows (narrow filters zero-padded, ~15% extra
FLOPs), which beats seven small oneDNN convolutions by far on 1-2 CPU threads.
Tokens too long to have a pure-padding window for every filter take the exact path.
"""
from __future__ import annotations

import weakref
from typing import Optional, Tuple

import torch

from ..char_cnn import CharCNN
from ..token_cache import parameters_fingerprint
from . import onednn

# Upper ends of the length groups (characters incl. begin/end-of-word): few groups, little waste.
GROUP_EDGES = (5, 7, 9, 11, 13, 16, 20, 26, 34)


def real_widths(char_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """``[N, C]`` -> index after the last non-padding character of each token (``pad_id``: the
    vocabulary's padding character)."""
    positions = torch.arange(1, char_ids.shape[1] + 1, device=char_ids.device)
    return ((char_ids != pad_id) * positions).amax(dim=1)


def stacked_filters(cnn: CharCNN) -> Tuple[torch.Tensor, torch.Tensor]:
    """All convolutions as one ``[widest * dim, n_filters]`` matrix (narrower filters padded with
    zero rows) and their biases: one matmul per group instead of one convolution per filter."""
    widest = max(conv.kernel_size[0] for conv in cnn.conv_layers)
    dim = cnn.options.char_embedding_dim
    blocks = []
    for conv in cnn.conv_layers:
        width = conv.kernel_size[0]
        block = conv.weight.new_zeros(widest * dim, conv.out_channels)
        block[: width * dim] = conv.weight.permute(2, 1, 0).reshape(width * dim, conv.out_channels)
        blocks.append(block)
    return torch.cat(blocks, dim=1), torch.cat(cnn.conv_biases)


_STACKED: "weakref.WeakKeyDictionary[CharCNN, Tuple[Tuple, torch.Tensor, torch.Tensor]]" = weakref.WeakKeyDictionary()


def _stacked_rows(cnn: CharCNN) -> Tuple[torch.Tensor, torch.Tensor]:
    """``stacked_filters`` as a ``[n_filters, widest * dim]`` weight for ``onednn.linear``, kept
    while the convolutions' parameters are unchanged, so oneDNN lays it out once, not per batch."""
    key = parameters_fingerprint(cnn.convolutions.parameters())
    entry = _STACKED.get(cnn)
    if entry is None or entry[0] != key:
        weight, bias = stacked_filters(cnn)
        entry = (key, weight.t().contiguous(), bias)
        _STACKED[cnn] = entry
    return entry[1], entry[2]


def _pooled_group(
    embedded: torch.Tensor, width: int, weight: torch.Tensor, bias: torch.Tensor, padding: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Max-over-time features of tokens whose real width is at most ``width``.

    ``embedded [n, width + widest - 1, dim]``; window ``s`` covers positions ``s .. s + widest - 1``;
    ``weight [n_filters, widest * dim]``. Every token here also has windows made only of padding,
    whose value is ``padding``.
    """
    n, _, dim = embedded.shape
    widest = weight.shape[1] // dim
    patches = embedded.unfold(1, widest, 1).transpose(2, 3).reshape(n * width, widest * dim)
    windows = onednn.linear(patches, weight, bias, dtype).view(n, width, -1)
    return torch.maximum(windows.amax(dim=1), padding)


def fast_char_cnn(cnn: CharCNN, ids: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Drop-in for ``cnn(ids)`` (``[N, width]`` rows of real tokens, in ``cnn.vocabulary``'s ids) at inference.
    ``dtype=torch.bfloat16``: the filter, highway and projection products in bf16 (``onednn.linear``); the
    rest stays float32."""
    char_ids, word_ids = cnn.split_ids(ids)
    pad_id = cnn.vocabulary.pad_id
    max_chars = char_ids.shape[1]
    widest = max(conv.kernel_size[0] for conv in cnn.conv_layers)
    limit = max_chars - widest  # longest real width with a pure-padding window for every filter
    widths = real_widths(char_ids, pad_id)
    long_rows = widths > limit
    features = char_ids.new_empty(char_ids.shape[0], cnn.options.n_filters, dtype=cnn.projection.weight.dtype)
    if long_rows.any():
        features[long_rows] = _exact_pooled(cnn, char_ids[long_rows])
    short = (~long_rows).nonzero().squeeze(1)
    if short.numel():
        weight, bias = _stacked_rows(cnn)
        pad_window = cnn.char_embedding.weight[pad_id].repeat(widest)
        padding = torch.addmm(bias[None], pad_window[None], weight.t())[0]
        edges = [e for e in GROUP_EDGES if e < limit] + [limit]
        group = torch.bucketize(widths[short], torch.tensor(edges, device=char_ids.device))
        for g in group.unique().tolist():
            rows = short[group == g]
            width = int(widths[rows].max())
            embedded = cnn.char_embedding(char_ids[rows, : width + widest - 1])
            features[rows] = _pooled_group(embedded, width, weight, bias, padding, dtype)
    return _after_pooling(cnn, features, word_ids, dtype)


def _exact_pooled(cnn: CharCNN, char_ids: torch.Tensor) -> torch.Tensor:
    embedded = cnn.char_embedding(char_ids).transpose(1, 2)
    return torch.cat([conv(embedded).amax(dim=-1) for conv in cnn.conv_layers], dim=-1)


def _after_pooling(cnn: CharCNN, features: torch.Tensor, word_ids: Optional[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    x = cnn.activation(features)
    for highway in cnn.highway_layers:
        x = highway.combine(onednn.linear(x, highway.linear.weight, highway.linear.bias, dtype), x)
    return onednn.linear(cnn.with_words(x, word_ids), cnn.projection.weight, cnn.projection.bias, dtype)
