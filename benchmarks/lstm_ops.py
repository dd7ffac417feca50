"""Microseconds per op of one LSTM step at a size's shapes, for each way the fast path could run it.

WHY: the choices in ``bilm/fast/lstm_direction.py`` and ``bilm/fast/onednn.py`` (oneDNN over MKL, oneDNN's
blocked weight layout, ``sigmoid`` in place of ``tanh``) are decided by these per-op costs; this
script shows them on the machine at hand. One intra-op thread (what each direction's worker gets).

    python benchmarks/lstm_ops.py --size small --rows 1 4 13 32
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SIZES, machine_description, microseconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=list(SIZES))
    parser.add_argument("--rows", nargs="+", type=int, default=[1, 4, 13, 32], help="rows per LSTM step")
    parser.add_argument("--input-rows", type=int, default=416, help="rows of the all-steps input product")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = SIZES[args.size]
    proj, cell = shape.get("projection_dim", 512), shape.get("lstm_dim", 4096)
    torch.manual_seed(0)
    w_rec, w_proj, bias = torch.randn(4 * cell, proj), torch.randn(proj, cell), torch.randn(4 * cell)
    linear = torch.ops.mkldnn._linear_pointwise
    layouts = {"plain": (w_rec.to_mkldnn(), w_proj.to_mkldnn())}
    if hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        layouts["blocked"] = tuple(torch.ops.mkldnn._reorder_linear_weight(w, 32) for w in (w_rec, w_proj))
    print(f"machine: {machine_description()}; 1 thread; {args.size}: cell {cell}, projection {proj}")
    print("| op | " + " | ".join(f"{n} rows" for n in args.rows) + " |")
    print("|---|" + "---|" * len(args.rows))

    def row(name: str, make: Callable[[int], Callable[[], object]]) -> None:
        print(f"| {name} | " + " | ".join(f"{microseconds(make(n)):.1f}" for n in args.rows) + " |", flush=True)

    with torch.inference_mode():
        row(f"recurrent [n,{proj}]x[{proj},{4 * cell}] + gates, MKL (addmm_)", lambda n: (lambda g=torch.randn(n, 4 * cell), h=torch.randn(n, proj): g.addmm_(h, w_rec.t())))
        for name, (rec, _) in layouts.items():
            row(f"same, oneDNN {name} weight, sum as post-op", lambda n, rec=rec: (lambda g=torch.randn(n, 4 * cell), h=torch.randn(n, proj): linear(h, g, rec, None, "add")))
        row(f"projection [n,{cell}]x[{cell},{proj}] + clamp_, MKL", lambda n: (lambda x=torch.randn(n, cell): torch.mm(x, w_proj.t()).clamp_(-3, 3)))
        for name, (_, pw) in layouts.items():
            row(f"same, oneDNN {name} weight, clip as post-op", lambda n, pw=pw: (lambda x=torch.randn(n, cell): linear(x, pw, None, "hardtanh", [-3.0, 3.0], "")))
        row(f"tanh on [n,{cell}]", lambda n: (lambda x=torch.randn(n, cell): torch.tanh(x)))
        row(f"sigmoid on [n,{cell}]", lambda n: (lambda x=torch.randn(n, cell): torch.sigmoid(x)))
        row(f"sigmoid_ on all gates [n,{4 * cell}]", lambda n: (lambda x=torch.randn(n, 4 * cell): x.sigmoid_()))
        x = torch.randn(args.input_rows, proj)
        w_in = torch.randn(4 * cell, proj)
        mkl = microseconds(lambda: torch.addmm(bias, x, w_in.t()))
        layouts_in = {"plain": w_in.to_mkldnn()}
        if "blocked" in layouts:
            layouts_in["blocked"] = torch.ops.mkldnn._reorder_linear_weight(w_in, 32)
        flops = 2 * args.input_rows * proj * 4 * cell
        print(f"\ninput gates over all steps [{args.input_rows},{proj}]x[{proj},{4 * cell}] + bias: MKL addmm {mkl:.0f} us ({flops / mkl / 1e3:.0f} GFLOP/s)", end="")
        for name, w in layouts_in.items():
            t = microseconds(lambda w=w: linear(x, w, bias, "none", [], ""))
            print(f"; oneDNN {name} {t:.0f} us ({flops / t / 1e3:.0f} GFLOP/s)", end="")
        print()


if __name__ == "__main__":
    main()
