"""``spacy_elmo.Elmo`` against AllenNLP's ``Elmo`` (simple-elmo-pytorch, the bench extra), the same code in both:
``elmo(batch_to_ids(chunk))`` on the first ``--n-sents`` sentences of CoNLL-2003 eng.testa, ``--batch`` at a time,
random weights of a published shape (``common.random_weights``). Two modes, passes of the two alternating:

- ``inference``: ``eval()`` under ``torch.no_grad()`` (what embedding a corpus does);
- ``train``: ``train()`` with the biLM frozen (the default), forward and backward through the scalar mixes (what
  training a downstream model on ELMo does; dropout 0.5 as AllenNLP's default).

A fresh module per pass (AllenNLP's is stateful; a fresh one starts from zero state, which is what ours
computes on every batch). Reports seconds per pass (median), tokens/s and the ratio, and the largest
difference of the inference outputs. Timings belong to an idle machine:

    python benchmarks/allennlp_module.py --threads 2 --sizes small original --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SIZE_NAMES, conll_sentences, random_weights, write_json  # noqa: E402


def modules(folder: Path) -> Dict[str, Callable]:
    """name -> (``make()`` -> a fresh module, its ``batch_to_ids``)."""
    try:
        from simple_elmo_pytorch.models.elmo import Elmo as AllenNLPElmo, batch_to_ids as allennlp_ids
    except ImportError:
        raise SystemExit("AllenNLP's Elmo comes with the bench extra: pip install --no-deps simple-elmo-pytorch==0.2")
    from spacy_elmo import Elmo, batch_to_ids

    options, weights = str(folder / "options.json"), str(folder / "weights.hdf5")
    return {
        "spacy_elmo": lambda: (Elmo(options, weights, 1), batch_to_ids),
        "allennlp": lambda: (AllenNLPElmo(options, weights, 1), allennlp_ids),
    }


def one_pass(make: Callable, sentences: List[List[str]], batch: int, mode: str) -> float:
    elmo, to_ids = make()
    chunks = [sentences[i : i + batch] for i in range(0, len(sentences), batch)]
    start = time.perf_counter()
    for chunk in chunks:
        if mode == "inference":
            with torch.no_grad():
                elmo.eval()(to_ids(chunk))
        else:
            out = elmo.train()(to_ids(chunk))["elmo_representations"][0]
            out.pow(2).mean().backward()
    return time.perf_counter() - start


def max_difference(makers: Dict[str, Callable], sentences: List[List[str]]) -> float:
    outputs = []
    for make in makers.values():
        elmo, to_ids = make()
        with torch.no_grad():
            outputs.append(elmo.eval()(to_ids(sentences))["elmo_representations"][0])
    return float((outputs[0] - outputs[1]).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["small"], choices=sorted(SIZE_NAMES))
    parser.add_argument("--modes", nargs="+", default=["inference", "train"], choices=["inference", "train"])
    parser.add_argument("--n-sents", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "allennlp_module.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = conll_sentences(limit=args.n_sents)
    n_tokens = sum(len(s) for s in sentences)
    results: Dict[str, Dict] = {}
    for size in args.sizes:
        makers = modules(random_weights(size))
        for mode in args.modes:
            times: Dict[str, List[float]] = {name: [] for name in makers}
            for rep in range(args.repeats):
                for name, make in makers.items():
                    times[name].append(one_pass(make, sentences, args.batch, mode))
                print(f"{size} {mode} pass {rep + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
            row = {name: {"seconds": statistics.median(t), "tokens_per_s": n_tokens / statistics.median(t), "seconds_all": t}
                   for name, t in times.items()}
            row["speedup"] = row["allennlp"]["seconds"] / row["spacy_elmo"]["seconds"]
            results[f"{size}/{mode}"] = row
            print(f"{SIZE_NAMES[size]}, {mode}: {row['speedup']:.2f}x AllenNLP's speed", flush=True)
        results[f"{size}/max_abs_difference"] = {"value": max_difference(makers, sentences[: args.batch])}
    write_json(args.output, {"threads": args.threads, "n_sents": len(sentences), "n_tokens": n_tokens, "batch": args.batch,
                             "results": results})


if __name__ == "__main__":
    main()
