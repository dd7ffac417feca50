"""The precision of the CPU inference products: ``"fp32"``, ``"bf16"`` or ``"auto"``, and the dtype each computes in.

WHY a separate setting and not ``bilm.to(torch.bfloat16)``: the weights stay float32 (training,
fine-tuning and saving are unchanged); only the fast inference route multiplies in bfloat16, from
bf16 copies of the weights made once per weight version, with float32 accumulation inside oneDNN,
the LSTM cell state in float32 and float32 outputs.

``"bf16"`` runs bf16 wherever the CPU has native bf16 (AVX512-BF16 or AMX-BF16 on x86, BF16 on Arm:
:func:`~spacy_elmo.bilm.fast.cpu_bf16.bf16_native`) and is an error where it has none: emulated bf16
is slower than float32. ``"auto"`` is float32 without native bf16; with it, whether bf16 pays is a
property of the microarchitecture, not of a flag, so it is measured once per machine and kept:
:mod:`spacy_elmo.bilm.fast.precision_auto`.
"""
from __future__ import annotations

import platform
from typing import Optional

import torch

from ...errors import ElmoError
from .cpu_bf16 import DTYPES, bf16_native
from .precision_auto import ProductSizes, auto_verdict

PRECISIONS = ("fp32", "bf16", "auto")


class PrecisionError(ElmoError, ValueError):
    """A precision the setting does not know, or bf16 asked of a CPU without native bf16."""


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`PrecisionError` naming them."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(repr(p) for p in PRECISIONS)}; got {precision!r}.")
    return precision


def compute_dtype(precision: str, device: torch.device, sizes: Optional[ProductSizes] = None) -> torch.dtype:
    """The dtype the inference products use for ``precision`` on ``device``.

    ``"bf16"`` on a CPU without native bf16 raises :class:`PrecisionError`; off the CPU the setting
    does not apply (``"bf16"`` raises, naming the GPU way), and ``"auto"`` is float32. On the CPU
    ``"auto"`` is :func:`~spacy_elmo.bilm.fast.precision_auto.auto_verdict` for ``sizes`` (the model's;
    default ELMo small's).
    """
    check_precision(precision)
    if precision == "fp32":
        return torch.float32
    if device.type != "cpu":
        if precision == "bf16":
            raise PrecisionError(
                f"precision='bf16' is the CPU's bf16 route; the biLM is on {device}. For bf16 on a GPU, convert the "
                "weights instead (bilm.to(torch.bfloat16)), or use precision='fp32' / 'auto'."
            )
        return torch.float32
    if precision == "bf16":
        if not bf16_native():
            raise PrecisionError(
                f"precision='bf16' needs a CPU with native bfloat16 (AVX512-BF16 or AMX-BF16 on x86, BF16 on Arm); "
                f"this CPU ({platform.machine() or 'unknown'}) reports neither, so bf16 would be emulated and slower "
                "than float32. Use precision='fp32', or 'auto' (bf16 only where it pays)."
            )
        return torch.bfloat16
    return DTYPES[auto_verdict(sizes).precision]
