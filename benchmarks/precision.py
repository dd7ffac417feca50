"""Opt-in reduced precision: speed and error of ``bilm.to(torch.bfloat16)`` against fp32.

Same workload as ``speed.py`` (500 eng.testa sentences, calls of 32, warm-up, empty token
cache per pass). Error is measured on every token of every layer against the fp32 fast path:
max |diff| and relative RMS error ``||bf16 - fp32|| / ||fp32||`` per layer.

    python benchmarks/precision.py --threads 2 --sizes small original
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Dict, List

import numpy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SIZE_NAMES, SIZES, conll_sentences, machine_description, random_weights, note_load_after, write_json  # noqa: E402
from speed import batches, load_ours, timed_pass  # noqa: E402


def embed_all(bilm, sentences, batch: int) -> List[numpy.ndarray]:
    return [a for chunk in batches(sentences, batch) for a in bilm.embed_sentences(chunk, batch_size=batch)]


def errors(got: List[numpy.ndarray], want: List[numpy.ndarray]) -> Dict[str, List[float]]:
    got_all = numpy.concatenate([g for g in got if g.size], axis=1)
    want_all = numpy.concatenate([w for w in want if w.size], axis=1)
    diff = got_all - want_all
    return {
        "max_abs": [float(numpy.abs(d).max()) for d in diff],
        "relative_rms": [float(numpy.linalg.norm(d) / numpy.linalg.norm(w)) for d, w in zip(diff, want_all)],
        "mean_abs_value": [float(numpy.abs(w).mean()) for w in want_all],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = conll_sentences(limit=args.sentences)
    n_tokens = sum(len(s) for s in sentences)
    raw: Dict = {"machine": machine_description(), "threads": args.threads, "tokens": n_tokens, "load_average_before": os.getloadavg(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "sizes": {}}
    print(f"machine: {raw['machine']}; {args.threads} threads; {n_tokens} tokens", flush=True)
    rows = []
    for size in args.sizes:
        folder = random_weights(size)
        entry: Dict = {}
        outputs = {}
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            bilm = load_ours(folder, dtype)
            embed = lambda c: bilm.embed_sentences(c, batch_size=args.batch)  # noqa: E731
            seconds = [timed_pass(embed, bilm.clear_token_cache, sentences, args.batch) for _ in range(args.repeats)]
            entry[name] = {"seconds": statistics.median(seconds), "seconds_all": seconds, "tokens_per_second": n_tokens / statistics.median(seconds)}
            outputs[name] = embed_all(bilm, sentences, args.batch)
            print(f"{size} {name}: {entry[name]}", flush=True)
        entry["bf16_error"] = errors(outputs["bf16"], outputs["fp32"])
        raw["sizes"][size] = entry
        err = entry["bf16_error"]
        rows.append(
            f"| {SIZE_NAMES[size]} | {entry['fp32']['tokens_per_second']:,.0f} | {entry['bf16']['tokens_per_second']:,.0f} | "
            f"{entry['bf16']['tokens_per_second'] / entry['fp32']['tokens_per_second']:.2f}x | "
            + " / ".join(f"{e:.1e}" for e in err["max_abs"]) + " | " + " / ".join(f"{e:.1%}" for e in err["relative_rms"]) + " |"
        )
    print()
    note_load_after(raw)
    print()
    print("| weights | fp32 tokens/s | bf16 tokens/s | bf16 speed-up | bf16 max abs error (layer 0/1/2) | bf16 relative RMS error (layer 0/1/2) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        write_json(args.json, raw)


if __name__ == "__main__":
    main()
