"""The scalar mix, ``gamma * sum_k softmax(w)_k * layer_k``: the task-specific mix of ELMo layers.

One home for its maths, in two forms: :class:`ScalarMix`, a torch module (autograd), and the same
steps on numpy or cupy arrays with their backprop written out (``softmax``, ``normalise_per_sequence``,
``scalar_mix``, ``mix_layers``), which the Thinc listener (``spacy_elmo.layers.listener``) and the
doc vectors of the component (``ElmoData``, fixed coefficients) use. The tests hold the two forms equal.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn

#: Added to each layer's variance before the square root, in both forms.
LN_EPS = 1e-12


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
    return (layers - mean) / torch.sqrt(var + LN_EPS) * m


# -- the same maths on numpy / cupy arrays (``xp``), backprop written out --------------------------------
def softmax(xp: Any, logits: Any) -> Any:
    """The layer weights from their logits (a logit of ``-inf`` drops its layer)."""
    e = xp.exp(logits - logits.max())
    return e / e.sum()


def mix_layers(xp: Any, coefficients: Any, layers: Any) -> Any:
    """``sum_k coefficients[k] * layers[k]`` over ``layers [L, ..., D]``."""
    return xp.tensordot(coefficients, layers, axes=([0], [0]))


def scalar_mix(xp: Any, logits: Any, gamma: Any, layers: Any) -> Tuple[Any, Callable]:
    """``layers [L, N, D]`` -> ``[N, D]``, and ``backprop(dY, input_grad) -> (d_logits, d_gamma, d_layers)``
    (``d_layers`` None unless ``input_grad``: a frozen biLM needs no gradient, and it is the big one)."""
    weights = softmax(xp, logits)
    mixed = mix_layers(xp, weights, layers)  # [N, D]

    def backprop(dY: Any, input_grad: bool = True) -> Tuple[Any, Any, Optional[Any]]:
        d_gamma = (dY * mixed).sum().reshape((1,))
        d_mixed = gamma[0] * dY
        d_weights = xp.tensordot(layers, d_mixed, axes=([1, 2], [0, 1]))  # [L]
        d_logits = weights * (d_weights - (weights * d_weights).sum())
        d_layers = weights[:, None, None] * d_mixed[None, :, :] if input_grad else None
        return d_logits, d_gamma, d_layers

    return gamma[0] * mixed, backprop


def normalise_per_sequence(xp: Any, X: Any, lengths: Sequence[int]) -> Tuple[Any, Callable[[Any], Any]]:
    """``X [L, N, D]`` holding sequences of ``lengths`` one after another: each layer of each sequence
    normalised over its ``(n_tokens, D)`` entries (as :class:`ScalarMix` with ``layer_norm``), and its backprop."""
    Xn = xp.empty_like(X)
    inv_std: List[Any] = []
    start = 0
    for n in lengths:
        part = X[:, start : start + n]
        if n == 0:
            inv_std.append(xp.zeros((X.shape[0], 1, 1), dtype="f"))
            continue
        mean = part.mean(axis=(1, 2), keepdims=True)
        var = ((part - mean) ** 2).mean(axis=(1, 2), keepdims=True)
        inv = 1.0 / xp.sqrt(var + LN_EPS)
        Xn[:, start : start + n] = (part - mean) * inv
        inv_std.append(inv)
        start += n

    def backprop(dXn: Any) -> Any:
        dX = xp.empty_like(dXn)
        begin = 0
        for n, inv in zip(lengths, inv_std):
            if n == 0:
                continue
            g = dXn[:, begin : begin + n]
            xhat = Xn[:, begin : begin + n]
            dX[:, begin : begin + n] = inv * (g - g.mean(axis=(1, 2), keepdims=True) - xhat * (g * xhat).mean(axis=(1, 2), keepdims=True))
            begin += n
        return dX

    return Xn, backprop
