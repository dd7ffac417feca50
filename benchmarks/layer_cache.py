"""What the "elmo" component's layer cache buys at inference, and what it costs in memory.

The layer cache (``spacy_elmo/layers/cache.py``; the component's ``cache_size_mb``, default
``DEFAULT_CACHE_SIZE_MB`` there) keeps the biLM's layers of every segment it has seen, keyed by the
segment's token texts. It was made for training (``spacy train`` feeds the same docs every epoch);
this measures plain inference with ``nlp.pipe``:

- fresh text: every sentence once (CoNLL-2003 eng.testa sentences, duplicates removed), so the cache
  can only cost (copies, keys, memory) and never hit;
- repeated text: the same sentences ``--repeats`` times, so from the second pass on every segment
  can be a hit (words/s per pass);

each with the cache off (``cache_size_mb = 0``) and at each ``--cache-mb`` size, every variant in a
fresh Python process (its own peak RSS, nothing warm from another variant). Docs are dropped as they
come, as a streaming user would, so the memory figures are the model, its copies and the caches.

    python benchmarks/layer_cache.py                               # 300 sentences, cache off vs 512 MB
    python benchmarks/layer_cache.py --n-sents 1000 --repeats 3 --cache-mb 0 64 512 --threads 1
    python benchmarks/layer_cache.py --n-sents 20 --repeats 2     # a quick check that it runs

Run it on an otherwise idle machine: the output records the load average before and after each
variant, and a loaded machine's timings are not a benchmark. Peak RSS is Linux's VmHWM, reset after
the warm-up (``/proc/self/clear_refs``), so it covers the measured piping; where that reset is not
allowed it is the whole process's peak, and the output says so.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONLL_TESTA, ROOT, conll_sentences, machine_description, proc_status_mb, write_json  # noqa: E402

TEXTS = ("fresh", "repeated")
WARM_UP_SENTENCES = 32


def default_cache_mb() -> float:
    sys.path.insert(0, str(ROOT))
    from spacy_elmo.layers.cache import DEFAULT_CACHE_SIZE_MB

    return DEFAULT_CACHE_SIZE_MB


def distinct_sentences(n: int, path: Path = CONLL_TESTA) -> List[str]:
    """The first ``n + WARM_UP_SENTENCES`` distinct sentences of ``path`` as text (tokens joined by spaces):
    the last ``WARM_UP_SENTENCES`` warm the process up and are never measured."""
    seen, out = set(), []
    for tokens in conll_sentences(path, limit=0):
        text = " ".join(tokens)
        if text not in seen:
            seen.add(text)
            out.append(text)
        if len(out) == n + WARM_UP_SENTENCES:
            return out
    raise SystemExit(f"{path} has only {len(out)} distinct sentences; ask for at most {len(out) - WARM_UP_SENTENCES}.")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_variant(args) -> Dict:
    """One variant in this process: load, warm up, pipe, measure."""
    import torch

    torch.set_num_threads(args.threads)
    import spacy

    texts = distinct_sentences(args.n_sents)
    measured, warm_up = texts[: args.n_sents], texts[args.n_sents :]
    rss_before_model = proc_status_mb("VmRSS")
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": args.model, "cache_size_mb": args.cache_size_mb})
    component = nlp.get_pipe("elmo")
    for _ in nlp.pipe(warm_up, batch_size=args.batch_size):  # reads the weights, builds the fast route's copies
        pass
    cache = component.model.cache
    cache.clear()
    cache.hits = cache.misses = 0
    rss_after_warm_up = proc_status_mb("VmRSS")
    peak_reset = _reset_peak()
    passes = []
    for _ in range(args.repeats if args.text == "repeated" else 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        words = 0
        for doc in nlp.pipe(measured, batch_size=args.batch_size):  # each doc dropped as it comes
            words += len(doc)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        passes.append({"words": words, "seconds": seconds, "cpu_seconds": cpu_seconds, "words_per_second": words / seconds,
                       "words_per_cpu_second": words / cpu_seconds if cpu_seconds else None})
    words = sum(p["words"] for p in passes)
    seconds = sum(p["seconds"] for p in passes)
    return {
        "text": args.text,
        "cache_size_mb": args.cache_size_mb,
        "n_sentences": len(measured),
        "passes": passes,
        "words_per_second": words / seconds,
        "rss_before_model_mb": rss_before_model,
        "rss_after_warm_up_mb": rss_after_warm_up,
        "peak_rss_mb": proc_status_mb("VmHWM"),
        "peak_covers": "the measured piping" if peak_reset else "the whole process (VmHWM could not be reset)",
        "cache_used_mb": cache.n_bytes / 2 ** 20,
        "cache_entries": len(cache),
        "cache_hits": cache.hits,
        "cache_misses": cache.misses,
        "token_cache_mb": component.bilm.token_cache._slab.numel() * component.bilm.token_cache._slab.element_size() / 2 ** 20,
    }


def spawn(args, text: str, cache_mb: float) -> Dict:
    """``run_variant`` in a fresh interpreter; returns its JSON line."""
    command = [sys.executable, __file__, "--worker", "--text", text, "--cache-size-mb", str(cache_mb), "--n-sents", str(args.n_sents),
               "--repeats", str(args.repeats), "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--model", args.model]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    load_before = os.getloadavg()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"variant {text}, cache {cache_mb:g} MB failed:\n{result.stderr}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["load_average_before"], record["load_average_after"] = load_before, os.getloadavg()
    return record


def table(records: List[Dict]) -> str:
    lines = ["| text | cache_size_mb | words/s (all passes) | words/s per pass | peak RSS MB | RSS after warm-up MB | cache used MB | hits / misses | load avg before -> after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        per_pass = ", ".join(f"{p['words_per_second']:.0f}" for p in r["passes"])
        load = f"{r['load_average_before'][0]:.2f} -> {r['load_average_after'][0]:.2f}"
        lines.append(f"| {r['text']} | {r['cache_size_mb']:g} | {r['words_per_second']:.0f} | {per_pass} | {r['peak_rss_mb']:.0f} | "
                     f"{r['rss_after_warm_up_mb']:.0f} | {r['cache_used_mb']:.1f} | {r['cache_hits']} / {r['cache_misses']} | {load} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-sents", type=int, default=300, help="distinct eng.testa sentences piped per pass (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the same sentences for the repeated text (default 3)")
    parser.add_argument("--cache-mb", type=float, nargs="+", default=None,
                        help="cache sizes to measure, 0 = off (default: 0 and the component's default)")
    parser.add_argument("--texts", nargs="+", choices=TEXTS, default=list(TEXTS))
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch_size (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads and OMP_NUM_THREADS of each variant (default 1)")
    parser.add_argument("--model", default="en_elmo_small", help="the component's weights (default: en_elmo_small, the packaged model)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "layer_cache.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--text", choices=TEXTS, help=argparse.SUPPRESS)
    parser.add_argument("--cache-size-mb", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n_sents < 1 or args.repeats < 1:
        parser.error("--n-sents and --repeats must be at least 1")
    if args.worker:
        print(json.dumps(run_variant(args)), flush=True)
        return
    sizes = args.cache_mb if args.cache_mb is not None else [0.0, default_cache_mb()]
    raw = {"machine": machine_description(), "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "variants": []}
    print(raw["machine"], flush=True)
    for text in args.texts:
        for size in sizes:
            record = spawn(args, text, size)
            raw["variants"].append(record)
            print(f"{text:9s} cache {size:>7g} MB: {record['words_per_second']:8.0f} words/s, peak RSS {record['peak_rss_mb']:.0f} MB, "
                  f"cache {record['cache_used_mb']:.1f} MB, load {record['load_average_before'][0]:.2f} -> "
                  f"{record['load_average_after'][0]:.2f}", flush=True)
    print()
    print(table(raw["variants"]))
    write_json(args.out, raw)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
