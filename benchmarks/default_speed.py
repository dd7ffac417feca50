"""The speed a user gets without tuning anything, beside the tuned settings and AllenNLP (issue 27).

Every variant runs in a fresh Python process of its own (so each starts as a new user's program would:
its own import order, environment, OpenMP wait policy and oneDNN kernels), one run each, over the first
``--sentences`` (300) sentences of CoNLL-2003 eng.testa, one doc per sentence (tokens joined by spaces),
``nlp.pipe(batch_size=64)``, timed after a warm-up batch with the token and layer caches emptied.
Weights: random, with the shapes of AllenNLP's published models (``common.random_weights``: original hdf5
layout, read through the component's ``options_file`` / ``weight_file``).

Variants (``--variants``; all by default):

- ``default``: ``import spacy`` first (it imports torch, so ``spacy_elmo`` cannot set the OpenMP wait
  policy), then ``nlp.add_pipe("elmo")`` with no setting but the weights: what most users run;
- ``auto``: the same with ``precision = "auto"`` (its verdict measured in the child's warm-up, from an
  empty cache folder unless ``--keep-verdict-cache``; the row says what it chose);
- ``one-thread``: the same as ``default`` with ``SPACY_ELMO_INFERENCE_THREADS=1``: the default route
  before issue 27 (each call on one thread, the two LSTM directions one after the other);
- ``tuned-fp32``: ``OMP_WAIT_POLICY=PASSIVE`` + ``SPACY_ELMO_INFERENCE_THREADS=torch``, ``precision = "fp32"``;
- ``tuned-bf16``: the same with ``precision = "bf16"`` (skipped on a CPU without native bf16);
- ``allennlp``: AllenNLP's ``Elmo`` (``simple-elmo-pytorch==0.2``, the code of AllenNLP 2.10.1; the
  ``bench`` extra) on the same sentences' tokens, 64 sentences per call, torch's threads.

Every variant uses torch's default thread count unless ``--threads`` is given. ``--load K`` runs K
busy processes (a pure-Python spin loop each) beside every variant: the loaded-machine comparison.
``--latency`` also times ``nlp(text)`` one sentence at a time over the first ``--latency-sentences`` (100)
sentences (a service's use: the token cache warm from the throughput pass, the layer cache emptied, each
sentence once) and reports p50 and p99 per variant (not for ``allennlp``); ``one-thread`` is the "before".

    python benchmarks/default_speed.py                                  # small + original, every variant
    python benchmarks/default_speed.py --sizes original --load 1        # under load: one busy process
    python benchmarks/default_speed.py --latency --variants default one-thread tuned-fp32 auto

Prints the machine (CPU model, family/model, bf16 extensions), a markdown table per size with the
issue's ratios, the targets and whether each holds; ``--json`` keeps the raw figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
VARIANTS = ("default", "auto", "one-thread", "tuned-fp32", "tuned-bf16", "allennlp")
DESCRIPTIONS = {
    "default": "`import spacy`, then the \"elmo\" component with no settings",
    "auto": "the same with `precision = \"auto\"`",
    "one-thread": "the same with `SPACY_ELMO_INFERENCE_THREADS=1` (the default before issue 27)",
    "tuned-fp32": "`OMP_WAIT_POLICY=PASSIVE` + `SPACY_ELMO_INFERENCE_THREADS=torch`, fp32",
    "tuned-bf16": "the same, `precision = \"bf16\"`",
    "allennlp": "AllenNLP `Elmo` (simple-elmo-pytorch 0.2 = AllenNLP 2.10.1), same sentences",
}
#: Variables a variant's process must not inherit: each variant sets the ones it is about.
CLEARED_ENV = ("OMP_WAIT_POLICY", "SPACY_ELMO_INFERENCE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "SPACY_ELMO_FORKED_WORKER_THREADS")
BATCH = 64


# -- one variant, in its own process -------------------------------------------------------------------
def child(args: argparse.Namespace) -> Dict:
    """Run one variant here (this process was started for it) and return its figures."""
    variant = args.child
    if variant != "allennlp":
        import spacy  # first, as a user's program does: it imports torch before spacy_elmo can set anything

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(HERE))
    from common import conll_sentences, random_weights

    sentences = conll_sentences(limit=args.sentences)
    folder = random_weights(args.size)
    out: Dict = {"variant": variant, "size": args.size, "torch_threads": torch.get_num_threads(), "sentences": len(sentences)}
    if variant == "allennlp":
        out.update(time_allennlp(folder, sentences))
        return out
    config = {"options_file": str(folder / "options.json"), "weight_file": str(folder / "weights.hdf5")}
    if variant == "auto":
        config["precision"] = "auto"
    elif variant.startswith("tuned-"):
        config["precision"] = variant.split("-")[1]
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config=config)
    texts = [" ".join(s) for s in sentences]
    elmo = nlp.get_pipe("elmo").model
    started = time.perf_counter()
    list(nlp.pipe(texts[:BATCH], batch_size=BATCH))  # warm-up: weights read, auto measured, kernels built
    out["warm_up_s"] = time.perf_counter() - started
    from spacy_elmo.bilm.fast import precision_auto, threads

    bilm = elmo.bilm
    out["compute_dtype"] = str(bilm.compute_dtype()).replace("torch.", "")
    out["passive_wait"] = threads.PASSIVE_WAIT
    out["call_threads"] = threads.inference_threads() or torch.get_num_threads()
    out["direction_threads"] = threads.direction_threads(threads.inference_threads())
    if variant == "auto":
        verdict = precision_auto.auto_verdict(precision_auto.ProductSizes.of(bilm.options))
        out["verdict"] = {"precision": verdict.precision, "speedup": verdict.speedup, "source": verdict.source, "why": verdict.describe()}
    elmo.cache.clear()
    bilm.clear_token_cache()
    started = time.perf_counter()
    tokens = sum(len(doc) for doc in nlp.pipe(texts, batch_size=BATCH))
    seconds = time.perf_counter() - started
    out.update(tokens=tokens, seconds=seconds, tokens_per_second=tokens / seconds)
    if args.latency:
        elmo.cache.clear()  # new sentences for the layer cache, as a service sees; token vectors stay warm
        times = []
        for text in texts[: args.latency_sentences]:
            t0 = time.perf_counter()
            nlp(text)
            times.append(time.perf_counter() - t0)
        out["latency_ms"] = latency_summary(times)
    return out


def time_allennlp(folder: Path, sentences: List[List[str]]) -> Dict:
    """AllenNLP's ``Elmo`` over the same sentences, ``BATCH`` per call, after one warm-up call."""
    import torch

    try:
        from simple_elmo_pytorch.models.elmo import Elmo, batch_to_ids
    except ImportError:
        return {"skipped": "needs the bench extra: pip install --no-deps simple-elmo-pytorch==0.2"}
    elmo = Elmo(str(folder / "options.json"), str(folder / "weights.hdf5"), num_output_representations=1, dropout=0.0).eval()
    with torch.no_grad():
        elmo(batch_to_ids(sentences[:BATCH]))
        started = time.perf_counter()
        for i in range(0, len(sentences), BATCH):
            elmo(batch_to_ids(sentences[i : i + BATCH]))
        seconds = time.perf_counter() - started
    tokens = sum(len(s) for s in sentences)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


def latency_summary(times: List[float]) -> Dict[str, float]:
    """p50, p99 (nearest rank) and mean of per-call seconds, in milliseconds."""
    ordered = sorted(times)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1e3

    return {"p50": rank(0.50), "p99": rank(0.99), "mean": sum(times) / len(times) * 1e3, "calls": len(times)}


# -- the parent: one fresh process per variant -----------------------------------------------------------
def variant_env(variant: str, verdict_cache: Optional[str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    if variant == "one-thread":
        env["SPACY_ELMO_INFERENCE_THREADS"] = "1"
    if variant.startswith("tuned-"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        env["SPACY_ELMO_INFERENCE_THREADS"] = "torch"
    if variant == "auto" and verdict_cache is not None:
        env["SPACY_ELMO_CACHE"] = verdict_cache  # a new user's machine: nothing measured yet
    return env


def run_variant(variant: str, size: str, args: argparse.Namespace, verdict_cache: Optional[str]) -> Dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--size", size, "--sentences", str(args.sentences),
               "--latency-sentences", str(args.latency_sentences)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.latency:
        command.append("--latency")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        load_before = os.getloadavg()
        done = subprocess.run(command, env=variant_env(variant, verdict_cache), capture_output=True, text=True, timeout=args.timeout)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    if done.returncode != 0:
        return {"variant": variant, "size": size, "failed": done.stderr.strip().splitlines()[-1:] or ["no output"]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average_before"] = load_before
    return result


def machine() -> Dict[str, str]:
    """The CPU as the issue asks it named: model (with family/model numbers), bf16 extensions, cores."""
    sys.path.insert(0, str(HERE))
    from common import machine_description

    from spacy_elmo.bilm.fast import cpu_bf16, precision_auto

    caps = cpu_bf16.cpu_capabilities()
    bf16 = [name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"), ("bf16", "BF16")) if caps.get(flag)]
    return {"cpu": precision_auto.cpu_model(), "bf16": ", ".join(bf16) or "none", "description": machine_description()}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def size_table(size: str, rows: Dict[str, Dict]) -> List[str]:
    """The issue's table for one size, its ratios and its targets."""
    tps = {v: r.get("tokens_per_second") for v, r in rows.items()}
    tuned = [t for t in (tps.get("tuned-fp32"), tps.get("tuned-bf16")) if t]
    best = max(tuned) if tuned else None
    lines = [f"### {size}", "", "| variant | tokens/s | vs best tuned fp32 | vs best tuned | vs AllenNLP | computes in | threads (call / per direction) | note |",
             "|---|---|---|---|---|---|---|---|"]
    for variant, r in rows.items():
        if "failed" in r or "skipped" in r:
            lines.append(f"| {DESCRIPTIONS[variant]} | - | | | | | | {r.get('failed') or r.get('skipped')} |")
            continue
        note = ""
        if "verdict" in r:
            note = f"auto chose {r['verdict']['precision']} ({r['verdict']['source']}, bf16/fp32 products {r['verdict']['speedup'] or 0:.2f}x)"
        threads = "-" if variant == "allennlp" else f"{r['call_threads']} / {r['direction_threads'] or 'serial'}"
        lines.append(f"| {DESCRIPTIONS[variant]} | {r['tokens_per_second']:,.0f} | {fmt(ratio(r['tokens_per_second'], tps.get('tuned-fp32')))} "
                     f"| {fmt(ratio(r['tokens_per_second'], best))} | {fmt(ratio(r['tokens_per_second'], tps.get('allennlp')), 1)} "
                     f"| {r.get('compute_dtype', 'float32')} | {threads} | {note} |")
    lines += ["", "Targets (issue 27):", ""]
    checks = [("default >= 0.9x the tuned fp32", ratio(tps.get("default"), tps.get("tuned-fp32")), 0.9),
              ("auto >= 0.9x the best tuned of either precision", ratio(tps.get("auto"), best), 0.9)]
    if size == "original":
        checks.append(("default >= 8x AllenNLP (goal 10x)", ratio(tps.get("default"), tps.get("allennlp")), 8.0))
    verdict = rows.get("auto", {}).get("verdict", {})
    if verdict.get("precision") == "bf16" and size == "original":
        checks.append(("auto >= 1.8x the default (bf16 pays here)", ratio(tps.get("auto"), tps.get("default")), 1.8))
    elif verdict.get("precision") == "bf16":
        lines.append(f"- auto / default: {fmt(ratio(tps.get('auto'), tps.get('default')))} (the issue's 1.8x target is at original size)")
    elif verdict:
        lines.append("- auto >= 1.8x the default: not applicable, auto chose fp32 here (bf16 does not pay)")
    for name, value, target in checks:
        state = "not measured" if value is None else ("holds" if value >= target else "MISSED")
        lines.append(f"- {name}: {fmt(value)} ({state})")
    latency = {v: r["latency_ms"] for v, r in rows.items() if "latency_ms" in r}
    if latency:
        lines += ["", "| variant, one sentence per `nlp(text)` | p50 ms | p99 ms | mean ms |", "|---|---|---|---|"]
        lines += [f"| {DESCRIPTIONS[v]} | {l['p50']:.2f} | {l['p99']:.2f} | {l['mean']:.2f} |" for v, l in latency.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["small", "original"], choices=["small", "original"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--sentences", type=int, default=300, help="first N sentences of eng.testa")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads in every variant (default: torch's own)")
    parser.add_argument("--load", type=int, default=0, help="busy processes running beside each variant (the loaded comparison)")
    parser.add_argument("--latency", action="store_true", help="also time nlp(text) one sentence at a time: p50, p99")
    parser.add_argument("--latency-sentences", type=int, default=100, help="sentences timed one by one (original size: ~0.1-0.3 s each)")
    parser.add_argument("--keep-verdict-cache", action="store_true", help="auto reads the user cache (default: measures afresh)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per variant")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--size", default="small", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    sys.path.insert(0, str(HERE))
    from common import random_weights

    info = machine()
    print(f"CPU: {info['cpu']}; bf16: {info['bf16']}\n{info['description']}; load: {args.load} busy process(es)", flush=True)
    raw: Dict = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "sizes": {}}
    report: List[str] = []
    for size in args.sizes:
        random_weights(size)  # written once, before any variant (they would race for it)
        rows: Dict[str, Dict] = {}
        for variant in args.variants:
            if variant == "tuned-bf16" and info["bf16"] == "none":
                rows[variant] = {"variant": variant, "skipped": "no native bf16 on this CPU"}
                continue
            with tempfile.TemporaryDirectory() as verdict_cache:
                rows[variant] = run_variant(variant, size, args, None if args.keep_verdict_cache else verdict_cache)
            print(f"{size} {variant}: {json.dumps(rows[variant])}", flush=True)
        raw["sizes"][size] = rows
        report += size_table(size, rows) + [""]
    print()
    print(f"CPU: {info['cpu']} ({info['bf16']}); {args.sentences} sentences; each variant a fresh process, one run; "
          f"load: {args.load} busy process(es)\n")
    print("\n".join(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
