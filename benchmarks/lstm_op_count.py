"""Ops per training update of the biLSTM stack on each route: a CPU-side proxy for GPU kernel launches.

    python benchmarks/lstm_op_count.py [--compile]

Counts the profiler's leaf ``aten`` ops (and compiled kernels) that compute, leaving out views and
allocations, for one forward + backward of a 2-layer stack over 20 steps. On a GPU each is about one
kernel launch, which is what bounds the step loop there (issue 13).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spacy_elmo.bilm.fast.batched_lstm import BatchedSettings, run_bilstm  # noqa: E402
from tests.bilm.lstm_parity import random_stack, small_options  # noqa: E402

NOT_COMPUTE = {
    "aten::view", "aten::as_strided", "aten::_reshape_alias", "aten::unsqueeze", "aten::t", "aten::transpose",
    "aten::expand", "aten::slice", "aten::select", "aten::split", "aten::chunk", "aten::unbind", "aten::detach",
    "aten::alias", "aten::squeeze", "aten::permute", "aten::narrow", "aten::empty", "aten::empty_strided",
    "aten::resolve_conj", "aten::resolve_neg", "aten::lift_fresh", "aten::_unsafe_view", "aten::empty_like",
    "aten::set_", "aten::result_type",
}


def count(stack, x, lengths, settings) -> int:
    for _ in range(2):  # warm (and compile)
        f, b, _ = run_bilstm(stack, x, lengths, None, settings)
        (f[-1].sum() + b[-1].sum()).backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        f, b, _ = run_bilstm(stack, x, lengths, None, settings)
        (f[-1].sum() + b[-1].sum()).backward()
    leaves = [e for e in prof.events() if not e.cpu_children]
    kernels = [e for e in leaves if e.name.startswith("aten::") or "fused" in e.name or "Compiled" in e.name]
    return sum(1 for e in kernels if e.name not in NOT_COMPUTE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compile", action="store_true", help="also the torch.compile route (about a minute on CPU)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, layers = 20, 2
    stack = random_stack(small_options(n_lstm_layers=layers), dropout=0.1)
    x = torch.randn(8, steps, 8, requires_grad=True)
    lengths = torch.full((8,), steps)
    routes = {"loop": BatchedSettings(impl="loop"), "batched": BatchedSettings(impl="batched")}
    if args.compile:
        routes["batched + compile"] = BatchedSettings(impl="batched", compile_cell=True)
    print("| route | ops per update (20 steps, 2 layers, forward + backward) | per step and layer |\n|---|---|---|")
    for name, settings in routes.items():
        n = count(stack, x, lengths, settings)
        print(f"| {name} | {n:,} | {n / (steps * layers):.0f} |", flush=True)


if __name__ == "__main__":
    main()
