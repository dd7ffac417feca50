"""The CPU's practical matmul peak in float32 and bfloat16, and the bf16 / fp32 ratio at the biLM's product shapes.

WHY: bf16 inference pays only where the CPU multiplies bf16 faster than float32. With AMX-BF16 it
does by a wide margin; with AVX512-BF16 alone one ``vdpbf16ps`` does the work of one float32 FMA
(two bf16 products per float32 lane), so the arithmetic peak is the same and only memory traffic
shrinks. This prints what the machine at hand does, for ``speed.py``'s "share of peak" and for
choosing the precision (``spacy_elmo/bilm/fast/precision.py``):

    python benchmarks/matmul_peak.py --threads 1 2

Square products (512-2048) give the peaks, best of repeated runs; the shapes below are the LSTM's
per-step products of ELMo original (recurrent [rows, 512] x [512, 16384], projection [rows, 4096] x
[4096, 512]) at 1-64 rows and the input half of the gates over all steps, through oneDNN as the fast
route runs them (weights prepacked, products timed in thread CPU time on 1 thread).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description, matmul_peak, microseconds, write_json  # noqa: E402

SHAPES = [(rows, 512, 16384) for rows in (1, 4, 13, 32, 64)] + [(rows, 4096, 512) for rows in (1, 4, 13, 32, 64)] + [(1000, 512, 16384)]


def shapes_table() -> Dict[str, Dict[str, float]]:
    torch.set_num_threads(1)
    linear, reorder = torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight
    out = {}
    print("| product [rows, in] x [in, out] | fp32 us | bf16 us | bf16 speed-up |")
    print("|---|---|---|---|")
    with torch.inference_mode():
        for rows, k, n in SHAPES:
            w = torch.randn(n, k) * k ** -0.5
            x = torch.randn(rows, k)
            w32, w16, xb = reorder(w, 32), reorder(w.bfloat16(), 32), x.bfloat16()
            t32 = microseconds(lambda: linear(x, w32, None, "none", [], ""), 0.4, time.thread_time, 3)
            t16 = microseconds(lambda: linear(xb, w16, None, "none", [], ""), 0.4, time.thread_time, 3)
            out[f"{rows}x{k}x{n}"] = {"fp32_us": t32, "bf16_us": t16}
            print(f"| [{rows}, {k}] x [{k}, {n}] | {t32:,.0f} | {t16:,.0f} | {t32 / t16:.2f}x |", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=2.0, help="per size and precision")
    parser.add_argument("--skip-shapes", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from spacy_elmo.bilm.fast.precision import bf16_native, bf16_pays, cpu_capabilities

    caps = cpu_capabilities()
    raw = {"machine": machine_description(), "load_average_before": os.getloadavg(),
           "flags": {f: caps.get(f, False) for f in ("avx512_f", "avx512_bf16", "amx_bf16", "amx_tile")},
           "bf16_native": bf16_native(), "bf16_pays": bf16_pays(), "peaks_gflops": {}}
    print(f"machine: {raw['machine']}; flags {raw['flags']}")
    print("| threads | fp32 peak GFLOP/s | bf16 peak GFLOP/s | bf16 / fp32 |")
    print("|---|---|---|---|")
    for threads in args.threads:
        fp32 = matmul_peak(threads, seconds=args.seconds)
        bf16 = matmul_peak(threads, seconds=args.seconds, dtype=torch.bfloat16)
        raw["peaks_gflops"][threads] = {"fp32": fp32, "bf16": bf16}
        print(f"| {threads} | {fp32:,.0f} | {bf16:,.0f} | {bf16 / fp32:.2f} |", flush=True)
    if not args.skip_shapes:
        print()
        raw["shapes"] = shapes_table()
    raw["load_average_after"] = os.getloadavg()
    print(f"load average before / after: {raw['load_average_before']} / {raw['load_average_after']}")
    if args.json:
        write_json(args.json, raw)


if __name__ == "__main__":
    main()
