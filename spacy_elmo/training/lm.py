"""The bidirectional LM objective on top of a :class:`~spacy_elmo.bilm.BiLM`.

As in the paper: one character CNN, separate forward and backward LSTM stacks
(both inside the biLM), and ONE output layer shared by both directions. The
forward LM at position t predicts token t+1, the backward LM predicts t-1.

Output layer: an adaptive softmax (Grave et al., 2017), not a sampled one. On a
CPU-sized budget it is cheaper than sampled softmax with thousands of negatives,
it has no sampling noise (so training is deterministic, which exact resume and
DDP rank checks rely on), and it is a normalised distribution over the whole
vocabulary, so the training loss and the dev perplexity are the true NLL, never
a sampled estimate.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from ..bilm import BiLM
from .batching import LMBatch


class OutputLayer(nn.Module):
    """Adaptive softmax over a frequency-sorted vocabulary (plain softmax when it is tiny)."""

    def __init__(self, dim: int, vocab_size: int, cutoffs: Sequence[int], div_value: float = 4.0):
        super().__init__()
        cutoffs = [c for c in cutoffs if 0 < c < vocab_size - 1]
        self.dim = dim
        self.vocab_size = vocab_size
        self.cutoffs = list(cutoffs)
        self.div_value = div_value
        self.adaptive: Optional[nn.AdaptiveLogSoftmaxWithLoss] = None
        self.full: Optional[nn.Linear] = None
        if cutoffs:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(dim, vocab_size, cutoffs, div_value=div_value)
        else:
            self.full = nn.Linear(dim, vocab_size)

    def target_log_probs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) for each row of ``hidden [N, dim]``, normalised over the whole vocabulary."""
        if self.adaptive is not None:
            return self.adaptive(hidden, targets).output
        assert self.full is not None  # one of the two output layers always exists
        return torch.log_softmax(self.full(hidden), dim=-1).gather(1, targets[:, None]).squeeze(1)


@dataclass
class LMLoss:
    loss: torch.Tensor  # mean of the two directions' mean NLL (what is minimised)
    forward_nll: torch.Tensor  # summed NLL, forward direction
    backward_nll: torch.Tensor
    n_tokens: int  # predictions per direction


class BidirectionalLM(nn.Module):
    def __init__(self, bilm: BiLM, vocab_size: int, cutoffs: Sequence[int], output_dropout: float = 0.0, div_value: float = 4.0,
                 output: Optional[OutputLayer] = None):
        super().__init__()
        self.bilm = bilm
        self.output = output if output is not None else OutputLayer(bilm.options.projection_dim, vocab_size, cutoffs, div_value)
        self.output_dropout = output_dropout

    def forward(self, batch: LMBatch) -> LMLoss:
        bilm = self.bilm
        # A frozen biLM in eval mode (adapt's output-layer fit) runs without autograd, on the fast inference routes.
        frozen = not bilm.training and not any(p.requires_grad for p in bilm.parameters())
        frozen_context = contextlib.ExitStack()
        if frozen:  # no graph; the fast inference routes it takes run in fp32
            frozen_context.enter_context(torch.no_grad())
        with frozen_context:
            # The char CNN runs once per distinct token of the batch, not once per position.
            distinct = bilm.char_cnn(batch.chars)
            real = batch.slots >= 0
            embedded = distinct[batch.slots.clamp(min=0)] * real.unsqueeze(-1).to(distinct.dtype)
            forward, backward, _ = bilm.contextualize(embedded, batch.lengths)
        top_f, top_b = forward[-1], backward[-1]
        if self.training and self.output_dropout:
            top_f = nn.functional.dropout(top_f, self.output_dropout, True)
            top_b = nn.functional.dropout(top_b, self.output_dropout, True)
        steps = batch.slots.shape[1]
        # Position t of the forward LM predicts t+1; position t+1 of the backward LM predicts t.
        pair = torch.arange(steps - 1, device=batch.lengths.device)[None, :] < (batch.lengths - 1)[:, None]
        h = torch.cat([top_f[:, :-1][pair], top_b[:, 1:][pair]])
        y = torch.cat([batch.targets[:, 1:][pair], batch.targets[:, :-1][pair]])
        logp = self.output.target_log_probs(h, y).float()  # sums in fp32, also under bf16 autocast
        n = int(pair.sum())
        fwd_nll, bwd_nll = -logp[:n].sum(), -logp[n:].sum()
        loss = (fwd_nll + bwd_nll) / (2 * max(n, 1))
        return LMLoss(loss, fwd_nll.detach(), bwd_nll.detach(), n)
