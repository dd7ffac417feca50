"""Accuracy (and speed) of the bf16 CPU route against the fp32 route: ``precision = "bf16"`` vs ``"fp32"``.

Issue 21, item 2: per layer, max abs error and relative RMS error ``||bf16 - fp32|| / ||fp32||`` over every
token of real text (the first 500 sentences of CoNLL-2003 eng.testa), for the packaged models and for random
weights of the published shapes; the same float32 weights serve both routes (bf16 copies are made by the route).
Speed: passes of ``embed_sentences`` in calls of 32 (as ``speed.py``), fp32 and bf16 alternating, each from an
empty token cache.

    python benchmarks/precision.py --models en_elmo_small en_elmo_medium --sizes original --threads 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Dict

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SIZE_NAMES, SIZES, conll_sentences, machine_description, random_weights, note_load_after, write_json  # noqa: E402
from speed import embed_all, layer_errors, load_ours, timed_pass  # noqa: E402


def load(target: str):
    if target in SIZES:
        return load_ours(random_weights(target)), f"{SIZE_NAMES[target]}, random weights"
    from spacy_elmo.weights import resolve_weights

    return resolve_weights(target).load().eval(), f"{target} (packaged)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["en_elmo_small", "en_elmo_medium"], help="packaged model names")
    parser.add_argument("--sizes", nargs="*", default=["original"], choices=list(SIZES), help="random weights of these shapes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=0, help="timed passes per precision (0: accuracy only)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = conll_sentences(limit=args.sentences)
    n_tokens = sum(len(s) for s in sentences)
    raw: Dict = {"machine": machine_description(), "threads": args.threads, "tokens": n_tokens, "load_average_before": os.getloadavg(),
                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "models": {}}
    print(f"machine: {raw['machine']}; {args.threads} threads; {n_tokens} tokens", flush=True)
    rows = []
    for target in list(args.models) + list(args.sizes):
        bilm, label = load(target)
        entry: Dict = {"label": label}
        outputs = {}
        for name in ("fp32", "bf16"):
            bilm.precision = name
            outputs[name] = embed_all(bilm, sentences, args.batch)
        entry["bf16_error"] = err = layer_errors(outputs["bf16"], outputs["fp32"])
        speed = "n/a"
        if args.repeats:
            seconds: Dict[str, list] = {"fp32": [], "bf16": []}
            embed = lambda c: bilm.embed_sentences(c, batch_size=args.batch)  # noqa: E731
            for _ in range(args.repeats):
                for name in seconds:
                    bilm.precision = name
                    seconds[name].append(timed_pass(embed, bilm.clear_token_cache, sentences, args.batch))
            entry["seconds_all"] = seconds
            tps = {n: n_tokens / statistics.median(t) for n, t in seconds.items()}
            speed = f"{tps['fp32']:,.0f} / {tps['bf16']:,.0f} ({tps['bf16'] / tps['fp32']:.2f}x)"
        raw["models"][target] = entry
        print(f"{label}: {err}", flush=True)
        rows.append(
            f"| {label} | " + " / ".join(f"{e:.1e}" for e in err["max_abs"]) + " | "
            + " / ".join(f"{e:.2%}" for e in err["relative_rms"]) + " | " + " / ".join(f"{e:.3f}" for e in err["mean_abs_value"])
            + f" | {speed} |"
        )
    print()
    note_load_after(raw)
    print()
    print("| weights | bf16 max abs error (layer 0 / 1 / 2) | bf16 relative RMS error (layer 0 / 1 / 2) | mean abs fp32 value | tokens/s fp32 / bf16 |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        write_json(args.json, raw)


if __name__ == "__main__":
    main()
