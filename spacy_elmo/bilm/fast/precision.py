"""The precision of the CPU inference products: ``"fp32"``, ``"bf16"`` or ``"auto"``, and what the CPU can do.

WHY a separate setting and not ``bilm.to(torch.bfloat16)``: the weights stay float32 (training,
fine-tuning and saving are unchanged); only the fast inference route multiplies in bfloat16, from
bf16 copies of the weights made once per weight version, with float32 accumulation inside oneDNN,
the LSTM cell state in float32 and float32 outputs.

Whether bf16 pays depends on the CPU, not only on whether it has bf16 instructions:

- AMX-BF16 (Intel Xeon 4th gen and later, where the OS/hypervisor exposes it) multiplies bf16
  tiles several times faster than AVX-512 does float32: bf16 pays.
- AVX512-BF16 alone computes one bf16 dot product per float32 FMA slot: the same arithmetic peak
  as float32 (measured here: 270 vs 272 GFLOP/s per core with the instructions themselves), so bf16
  only saves memory traffic; the biLM's LSTM alone, 32 sentences per call, ran 0.77-0.82x the float32 speed (BENCHMARKS.md).
- Without either, bf16 products are emulated: slower, never chosen.

So ``"auto"`` means bf16 where AMX-BF16 is reported and float32 elsewhere; ``"bf16"`` runs bf16
wherever the CPU has native bf16 (either extension) and is an error where it has none.
"""
from __future__ import annotations

import functools
import platform
from typing import Mapping

import torch

from ...errors import ElmoError

PRECISIONS = ("fp32", "bf16", "auto")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


class PrecisionError(ElmoError, ValueError):
    """A precision the setting does not know, or bf16 asked of a CPU without native bf16."""


@functools.lru_cache(maxsize=None)
def cpu_capabilities() -> Mapping[str, bool]:
    """The CPU's feature flags: ``torch.cpu.get_capabilities()`` (cpuinfo, torch >= 2.9), else the
    ``flags`` / ``Features`` line of ``/proc/cpuinfo`` (Linux), else nothing known."""
    get = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if get is not None:
        try:
            return {k: bool(v) for k, v in dict(get()).items() if isinstance(v, bool)}
        except Exception:  # noqa: BLE001 - a failing probe only means "look elsewhere"
            pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return {flag: True for flag in value.split()}
    except OSError:
        pass
    return {}


def bf16_native() -> bool:
    """Whether the CPU computes bf16 products in hardware (x86 AVX512-BF16 or AMX-BF16, Arm BF16)."""
    caps = cpu_capabilities()
    return any(caps.get(flag, False) for flag in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))


def bf16_pays() -> bool:
    """Whether bf16 products run clearly faster than float32 ones here: AMX-BF16 tiles.
    (AVX512-BF16 alone has float32's arithmetic peak; see the module docstring.)"""
    return cpu_capabilities().get("amx_bf16", False)


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`PrecisionError` naming them."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(repr(p) for p in PRECISIONS)}; got {precision!r}.")
    return precision


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the inference products use for ``precision`` on ``device``.

    ``"bf16"`` on a CPU without native bf16 raises :class:`PrecisionError`; off the CPU the setting
    does not apply (``"bf16"`` raises, naming the GPU way), and ``"auto"`` is float32.
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
    return torch.bfloat16 if bf16_pays() else torch.float32
