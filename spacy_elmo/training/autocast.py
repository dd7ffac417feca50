"""``[training] autocast``: ``"none"``, ``"bfloat16"`` or ``"auto"`` (bf16 where this CPU's bf16 products pay,
measured once per machine: :mod:`spacy_elmo.bilm.fast.precision_auto`), as a ``torch.autocast`` context."""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ..bilm.fast.precision_auto import ProductSizes, bf16_pays
from .config import PretrainConfig
from .errors import TrainingError


AUTOCAST_DTYPES = {"none": None, "bfloat16": torch.bfloat16, "auto": None}


def autocast_dtype(name: str, device: torch.device, sizes: Optional[ProductSizes] = None) -> Optional[torch.dtype]:
    """The dtype [training] autocast asks for on ``device``. ``"auto"``: bf16 on a CPU where the model's
    training products (forward and backward, at ``sizes``) measured at least ``BF16_MARGIN`` times faster
    in bf16 (:func:`spacy_elmo.bilm.fast.precision_auto.bf16_pays`, cached per CPU model and torch version:
    bf16 autocast pretraining ran 2.1x on a Zen 4 and 0.84x on an Intel Xeon without AMX, issue 27,
    BENCHMARKS.md), float32 elsewhere."""
    if name not in AUTOCAST_DTYPES:
        raise TrainingError(f"[training] autocast is {name!r}; expected one of {sorted(AUTOCAST_DTYPES)}.")
    if name == "auto":
        return torch.bfloat16 if device.type == "cpu" and bf16_pays(sizes, "training") else None
    return AUTOCAST_DTYPES[name]


def autocast_context(config: PretrainConfig, device: torch.device):
    """``torch.autocast`` for the training forward pass as [training] autocast asks, or a no-op.
    The autocast cache is off with CUDA graphs (graph capture cannot use it)."""
    dtype = autocast_dtype(config.training.autocast, device, ProductSizes.of(config.model))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=not config.training.cuda_graphs)
