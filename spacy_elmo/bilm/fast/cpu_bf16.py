"""Float32 and bfloat16 products on this CPU: their dtypes, the CPU's feature flags, and whether it
computes bf16 natively.

The base that both the precision setting (:mod:`spacy_elmo.bilm.fast.precision`) and its measured
``"auto"`` (:mod:`spacy_elmo.bilm.fast.precision_auto`) build on (the setting imports the
measurement, never the other way round): ``"bf16"`` is refused and ``"auto"`` measures nothing where
:func:`bf16_native` is false.
"""
from __future__ import annotations

import functools
from typing import Mapping

import torch

#: The dtype of the products for each precision that names one (``"auto"`` resolves to one of these).
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


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
