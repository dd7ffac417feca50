"""ScalarMix: ``gamma * sum_k softmax(w)_k * layer_k``, the task-specific mix of ELMo layers."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn


class ScalarMix(nn.Module):
    """Mixes ``n_output_layers`` tensors of equal shape.

    ``layer_norm`` normalises each layer of each sequence over its unmasked tokens
    (and all features) before mixing. Statistics are per sequence, not per batch, so
    a sentence's result never depends on the rest of its batch.
    ``trainable=False`` fixes weights and gamma (e.g. a plain average).
    """

    def __init__(
        self,
        n_output_layers: int,
        layer_norm: bool = False,
        initial_weights: Optional[Sequence[float]] = None,
        gamma: float = 1.0,
        trainable: bool = True,
    ):
        super().__init__()
        if initial_weights is None:
            initial_weights = [0.0] * n_output_layers
        if len(initial_weights) != n_output_layers:
            raise ValueError(f"ScalarMix got {len(initial_weights)} initial weights for {n_output_layers} layers; give one per layer.")
        self.n_output_layers = n_output_layers
        self.layer_norm = layer_norm
        self.weights = nn.Parameter(torch.tensor([float(w) for w in initial_weights]), requires_grad=trainable)
        self.gamma = nn.Parameter(torch.tensor([float(gamma)]), requires_grad=trainable)

    def normalized_weights(self) -> torch.Tensor:
        return torch.softmax(self.weights, dim=0)

    def forward(self, layers: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``layers [n_output_layers, ..., T, D]`` (or a list of ``[..., T, D]``) -> ``[..., T, D]``."""
        if not isinstance(layers, torch.Tensor):
            layers = torch.stack(list(layers))
        if layers.shape[0] != self.n_output_layers:
            raise ValueError(f"ScalarMix was built for {self.n_output_layers} layers but got {layers.shape[0]}.")
        if self.layer_norm:
            layers = _masked_layer_norm(layers, mask)
        weights = self.normalized_weights().to(layers.dtype)
        mixed = torch.tensordot(weights, layers, dims=([0], [0]))
        return self.gamma.to(layers.dtype) * mixed


def _masked_layer_norm(layers: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Normalise ``[L, ..., T, D]`` per layer and sequence over unmasked ``(T, D)`` entries."""
    if mask is None:
        mask = torch.ones(layers.shape[1:-1], dtype=torch.bool, device=layers.device)
    m = mask.to(layers.dtype).unsqueeze(-1).unsqueeze(0)  # [1, ..., T, 1]
    count = (m.sum(dim=(-2, -1), keepdim=True) * layers.shape[-1]).clamp(min=1.0)
    mean = (layers * m).sum(dim=(-2, -1), keepdim=True) / count
    var = (((layers - mean) * m) ** 2).sum(dim=(-2, -1), keepdim=True) / count
    return (layers - mean) / torch.sqrt(var + 1e-12) * m
