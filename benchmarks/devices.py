"""The device a benchmark runs on: its peak FLOP/s (datasheet for known GPUs, measured for the
rest), what a share of it means, and wall time that waits for the device.

Datasheet peaks are dense (no 2:4 sparsity), in TFLOP/s, for the SXM/PCIe part named. The
"fp32" column is the CUDA-core rate, which fp32 matmuls get when TF32 is off (torch's default
for matmuls); "tf32" applies when ``torch.backends.cuda.matmul.allow_tf32`` is on; "bf16"
under bfloat16 autocast or bf16 weights.
"""
from __future__ import annotations

import time
from typing import Dict, Optional, Tuple

import torch

#: Substring of ``torch.cuda.get_device_name`` -> dense peak TFLOP/s by precision.
GPU_PEAK_TFLOPS: Dict[str, Dict[str, float]] = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "H100 80GB HBM3": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},  # SXM
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0},
    "L4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0},
}


def parse_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``/``cuda:N``, with a clear error where CUDA is missing."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this torch ({torch.__version__}) sees no CUDA device; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: expected cpu or cuda[:N]")
    return device


def precision(device: torch.device, autocast_bf16: bool = False, weights_dtype: torch.dtype = torch.float32) -> str:
    if autocast_bf16 or weights_dtype == torch.bfloat16:
        return "bf16"
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "fp32"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from common import machine_description

    return machine_description()


def peak_flops(device: torch.device, kind: str, threads: int = 1) -> Tuple[float, str]:
    """(peak FLOP/s, where the figure comes from) for ``kind`` in fp32 / tf32 / bf16."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peaks in GPU_PEAK_TFLOPS.items():
            if key in name:
                return peaks[kind] * 1e12, f"datasheet {key} {kind} dense"
        dtype = torch.bfloat16 if kind == "bf16" else torch.float32
        return measured_matmul_flops(device, dtype), f"measured {kind} matmul ({name} not in the table)"
    from common import matmul_peak

    dtype = torch.bfloat16 if kind == "bf16" else torch.float32
    return matmul_peak(threads, dtype=dtype) * 1e9, f"measured {kind} matmul, {threads} thread(s)"


def measured_matmul_flops(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 8192, repeats: int = 20) -> float:
    """Best square-matmul rate on a GPU: what its matrix units give in practice."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def share(rate_flops: float, peak: float) -> Optional[float]:
    """Percent of the peak, one decimal."""
    return round(100 * rate_flops / peak, 1) if peak else None
