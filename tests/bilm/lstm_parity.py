"""Loop-vs-batched comparisons of the biLSTM stack: outputs, final states and gradients.

Plain functions without pytest, so that ``benchmarks/gpu_check.py`` runs the same checks on a
GPU machine where only torch is installed; ``test_batched_lstm.py`` asserts on them on CPU.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from spacy_elmo.bilm import BiLMOptions
from spacy_elmo.bilm.fast.batched_lstm import BatchedSettings, run_bilstm
from spacy_elmo.bilm.lstm import BiLstmStack


def small_options(**overrides) -> BiLMOptions:
    settings = dict(char_embedding_dim=4, filters=((1, 4), (2, 8)), n_highway=1, lstm_dim=24, projection_dim=8,
                    n_lstm_layers=2, cell_clip=3.0, proj_clip=3.0, use_skip_connections=True)
    settings.update(overrides)
    return BiLMOptions(**settings)


def random_stack(options: BiLMOptions, dropout: float = 0.0, seed: int = 0, scale: float = 0.5) -> BiLstmStack:
    """Weights uniform in ``[-scale, scale]``: large enough that the clips and gates matter."""
    torch.manual_seed(seed)
    stack = BiLstmStack(options, dropout=dropout)
    with torch.no_grad():
        for p in stack.parameters():
            p.uniform_(-scale, scale)
    return stack.train()


def run_with_grads(stack: BiLstmStack, inputs: torch.Tensor, lengths: torch.Tensor, states, settings: BatchedSettings, seed: int = 1):
    """One forward (seeded: same dropout draws) and backward of a random linear loss over every output
    and final state. Returns the detached outputs, final states and every gradient, in a fixed order."""
    stack.zero_grad(set_to_none=True)
    x = inputs.detach().clone().requires_grad_(True)
    given = [(h.detach().clone().requires_grad_(True), c.detach().clone().requires_grad_(True)) for h, c in states] if states else None
    torch.manual_seed(seed)
    forward, backward, final = run_bilstm(stack, x, lengths, given, settings)
    generator = torch.Generator(device=x.device).manual_seed(seed + 1)
    pieces = forward + backward + [t for pair in final for t in pair]
    loss = sum((p.float() * torch.randn(p.shape, generator=generator, device=p.device)).sum() for p in pieces)
    if loss.requires_grad:  # not with zero steps: nothing then depends on the inputs or weights
        loss.backward()
    leaves = [x] + list(stack.parameters()) + ([t for pair in given for t in pair] if given else [])
    grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves]
    return [p.detach() for p in pieces], grads


def max_differences(stack: BiLstmStack, inputs: torch.Tensor, lengths: torch.Tensor, settings: BatchedSettings,
                    states=None, reference: Optional[BatchedSettings] = None) -> Dict[str, float]:
    """Largest ``|batched - loop|`` of the outputs (and final states) and of the gradients, and the
    largest ``|loop|`` of each, so callers can judge relative size."""
    want_out, want_grad = run_with_grads(stack, inputs, lengths, states, reference or BatchedSettings(impl="loop"))
    got_out, got_grad = run_with_grads(stack, inputs, lengths, states, settings)
    return {
        "outputs": max_diff(got_out, want_out),
        "gradients": max_diff(got_grad, want_grad),
        "outputs_scale": max(float(t.abs().max()) if t.numel() else 0.0 for t in want_out),
        "gradients_scale": max(float(t.abs().max()) if t.numel() else 0.0 for t in want_grad),
    }


def max_diff(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor]) -> float:
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        if g.numel():
            worst = max(worst, float((g.float() - w.float()).abs().max()))
    return worst


def random_case(batch: int, steps: int, width: int, lengths: List[int], device="cpu", seed: int = 2):
    """Inputs ``[B, T, width]`` zero past each length (as the char CNN leaves padding) and the lengths."""
    torch.manual_seed(seed)
    lengths_t = torch.tensor(lengths, device=device)
    inputs = torch.randn(batch, steps, width, device=device)
    inputs = inputs * (torch.arange(steps, device=device)[None, :] < lengths_t[:, None])[..., None]
    return inputs, lengths_t


def random_states(options: BiLMOptions, batch: int, device="cpu", seed: int = 3):
    torch.manual_seed(seed)
    return [(torch.randn(batch, options.projection_dim, device=device) * 0.5, torch.randn(batch, options.lstm_dim, device=device))
            for _ in range(2 * options.n_lstm_layers)]


def random_lm_batch(rows=6, steps=9, types=20, vocab=30, chars=50, seed=0) -> "LMBatch":
    """An LM batch of sentences of lengths 2..steps (markers included) over ``types`` distinct tokens."""
    from spacy_elmo.training.batching import LMBatch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([steps] + [int(n) for n in torch.randint(2, steps + 1, (rows - 1,), generator=g)])
    real = torch.arange(steps)[None, :] < lengths[:, None]
    slots = torch.where(real, torch.randint(0, types, (rows, steps), generator=g), torch.full((rows, steps), -1))
    char_ids = torch.randint(1, 262, (types, chars), generator=g) * (torch.arange(chars) < 6)
    return LMBatch(chars=char_ids, slots=slots, targets=torch.randint(0, vocab, (rows, steps), generator=g), lengths=lengths)


def lm_loss_and_grads(config, vocab_size: int, batch, device="cpu", seed: int = 0):
    """The trainer's LM (``build_lm``) on ``batch``: its loss and every gradient by name, seeded so
    that two routes draw the same weights and dropout masks."""
    from spacy_elmo.training.trainer import build_lm

    torch.manual_seed(seed)
    lm = build_lm(config, vocab_size).to(device).train()
    torch.manual_seed(seed + 1)
    out = lm(batch.to(device))
    out.loss.backward()
    return out.loss.detach(), {name: p.grad for name, p in lm.named_parameters() if p.grad is not None}
