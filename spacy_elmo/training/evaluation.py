"""Perplexity of a bidirectional LM on held-out text, comparable across checkpoints."""
from __future__ import annotations

import math
from typing import Dict, Optional

import numpy
import torch

from .batching import BatchMaker
from .lm import BidirectionalLM


@torch.no_grad()
def evaluate(lm: BidirectionalLM, maker: BatchMaker, max_sentences: int = 0, batch_tokens: int = 8000,
             device: Optional[torch.device] = None) -> Dict[str, float]:
    """Forward and backward perplexity with the full (normalised) output distribution.

    Uses the first ``max_sentences`` sentences (0 = all), in a fixed order, so that
    numbers from different checkpoints are comparable. Consumes no random numbers.
    """
    was_training = lm.training
    lm.eval()
    try:
        n_sent = len(maker.lengths) if not max_sentences else min(max_sentences, len(maker.lengths))
        ids = numpy.arange(n_sent)
        ids = ids[numpy.argsort(maker.lengths[ids], kind="stable")]
        fwd = bwd = 0.0
        n = 0
        start = 0
        while start < len(ids):
            end = start + 1
            while end < len(ids) and (end - start + 1) * (maker.lengths[ids[end]] + 2) <= batch_tokens:
                end += 1
            batch = maker.make(ids[start:end])
            if device is not None:
                batch = batch.to(device)
            out = lm(batch)
            fwd += float(out.forward_nll)
            bwd += float(out.backward_nll)
            n += out.n_tokens
            start = end
        return {
            "forward_ppl": math.exp(fwd / max(n, 1)),
            "backward_ppl": math.exp(bwd / max(n, 1)),
            "ppl": math.exp((fwd + bwd) / (2 * max(n, 1))),
            "tokens": n,
            "sentences": int(n_sent),
        }
    finally:
        lm.train(was_training)
