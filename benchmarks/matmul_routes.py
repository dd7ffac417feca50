"""``x @ W.T + b`` at the products' shapes of the published ELMo models: MKL vs oneDNN (plain / blocked weight).

WHY: ``bilm/fast/onednn.py`` sends every fp32 CPU product to oneDNN with the weight in its blocked
layout; this shows, on the machine at hand, what MKL (``torch.addmm``) would have cost instead.
Best of 5 timed batches per product.

    python benchmarks/matmul_routes.py --threads 2 1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_description, microseconds  # noqa: E402

# (rows, in, out): char CNN filter matmul (ELMo small/original: 7 widths x 16 dims -> 2048), the default
# model's highway and projection (256 -> 512, 256 -> 128), LSTM input gates (128 -> 4096), ELMo's highway
# (2048 -> 4096) and projection (2048 -> 128).
SHAPES = [(1000, 112, 2048), (1000, 256, 512), (1000, 256, 128), (300, 256, 512), (100, 256, 128),
          (1000, 128, 4096), (200, 2048, 4096), (1000, 2048, 128)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", nargs="+", type=int, default=[2, 1])
    args = parser.parse_args()
    linear = torch.ops.mkldnn._linear_pointwise
    print(f"machine: {machine_description()}")
    print("| threads | product [rows, in] x [in, out] | MKL addmm us | oneDNN plain us | oneDNN blocked us | blocked / MKL |")
    print("|---|---|---|---|---|---|")
    torch.manual_seed(0)
    with torch.inference_mode():
        for threads in args.threads:
            torch.set_num_threads(threads)
            for rows, k, n in SHAPES:
                x, w, b = torch.randn(rows, k), torch.randn(n, k), torch.randn(n)
                plain, blocked = w.to_mkldnn(), torch.ops.mkldnn._reorder_linear_weight(w, 32)
                mkl = microseconds(lambda: torch.addmm(b, x, w.t()))
                t_plain = microseconds(lambda: linear(x, plain, b, "none", [], ""))
                t_blocked = microseconds(lambda: linear(x, blocked, b, "none", [], ""))
                print(f"| {threads} | [{rows}, {k}] x [{k}, {n}] | {mkl:,.0f} | {t_plain:,.0f} | {t_blocked:,.0f} | {t_blocked / mkl:.2f} |", flush=True)


if __name__ == "__main__":
    main()
