"""End-to-end spaCy throughput of the "elmo" component, and memory over a long stream of docs.

- throughput: ``nlp.pipe`` words/s over every sentence of CoNLL-2003 eng.testa (one doc per
  sentence, tokens joined by spaces), next to ``spacy.blank("en")`` alone for scale;
- memory: peak RSS while piping 10,000 docs (eng.train sentences), sampled every 1,000 docs,
  with the component's layer cache size beside it: a flat line means nothing grows with the count.

    python benchmarks/spacy_pipeline.py --threads 2 [--model DIR] [--inference-threads auto|torch|N]

This script imports torch before spacy_elmo, as ``import spacy`` does, so with the default
``--inference-threads auto`` and no ``OMP_WAIT_POLICY=PASSIVE`` in the environment each biLM call runs on one
intra-op thread with the two LSTM directions on two one-thread workers (``spacy_elmo.bilm.fast.threads``;
``1``: all on one thread, the default before issue 27); ``torch`` uses ``--threads`` whatever OpenMP does.
``default_speed.py`` compares these defaults, each in a fresh process.

Without ``--model`` it uses the packaged default model if installed, else random weights of
the ELMo small shape (written once by ``common.random_weights``); the output says which.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONLL_TESTA, WEIGHTS_DIR, conll_sentences, machine_description, random_weights, note_load_after, write_json  # noqa: E402

CONLL_TRAIN = CONLL_TESTA.with_name("eng.train")


def pick_model(model: Optional[Path]) -> Path:
    """``model``, else the packaged default, else a native copy of random ELMo-small weights."""
    if model is not None:
        return model
    try:
        from spacy_elmo.models import default_model_dir

        return default_model_dir()
    except Exception:
        native = WEIGHTS_DIR / "small-native"
        if not (native / "weights.safetensors").is_file():
            from spacy_elmo import load_bilm

            folder = random_weights("small")
            load_bilm(folder / "options.json", folder / "weights.hdf5").save(native)
        return native


def make_nlp(model_dir: Path, cache_size_mb: Optional[float] = None, precision: str = "fp32"):
    import spacy

    nlp = spacy.blank("en")
    config = {"weights": str(model_dir), "precision": precision}
    if cache_size_mb is not None:
        config["cache_size_mb"] = cache_size_mb
    nlp.add_pipe("elmo", config=config)
    return nlp


def words_per_second(nlp, texts: List[str], batch_size: int) -> Dict[str, float]:
    list(nlp.pipe(texts[:batch_size], batch_size=batch_size))  # warm-up: load weights, first call
    start = time.perf_counter()
    words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    return {"words": words, "seconds": seconds, "words_per_second": words / seconds}


def memory_profile(nlp, texts: List[str], batch_size: int, every: int = 1000) -> List[Dict[str, float]]:
    """RSS (MB) after every ``every`` docs; docs are dropped as they come, as a streaming user would."""
    import psutil

    process = psutil.Process()
    component = nlp.get_pipe("elmo")
    samples, peak = [], 0.0
    for i, _doc in enumerate(nlp.pipe(texts, batch_size=batch_size), start=1):
        if i % 50 == 0 or i % every == 0:
            peak = max(peak, process.memory_info().rss / 2 ** 20)
        if i % every == 0:
            cache = component.model.cache
            samples.append({"docs": i, "rss_mb": process.memory_info().rss / 2 ** 20, "peak_rss_mb": peak,
                            "layer_cache_mb": cache.n_bytes / 2 ** 20, "token_cache_mb": token_cache_mb(component.bilm)})
            print(f"  {samples[-1]}", flush=True)
    return samples


def token_cache_mb(bilm) -> float:
    cache = bilm.token_cache
    return len(cache) * bilm.options.projection_dim * 4 / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size")
    parser.add_argument("--memory-docs", type=int, default=10_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--layer-cache-mb", type=float, default=None, help="the component's cache_size_mb (default: its own)")
    parser.add_argument("--inference-threads", default="auto", help="auto (the library default), torch, or a number")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "auto"],
                        help="the component's inference precision(s); throughput of each, alternating over --rounds")
    parser.add_argument("--rounds", type=int, default=1, help="throughput passes per precision")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from spacy_elmo.bilm.fast.threads import inference_threads, set_inference_threads

    set_inference_threads(args.inference_threads)

    import spacy

    model_dir = pick_model(args.model)
    texts = [" ".join(s) for s in conll_sentences(limit=0)]
    raw: Dict = {"machine": machine_description(), "threads": args.threads, "model": str(model_dir),
                 "load_average_before": os.getloadavg(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "docs": len(texts),
                 "inference_threads_choice": args.inference_threads, "inference_threads": inference_threads() or args.threads}
    print(f"machine: {raw['machine']}; {args.threads} threads; model {model_dir}", flush=True)
    if not args.skip_throughput:
        raw["blank"] = words_per_second(spacy.blank("en"), texts, args.batch_size)
        print(f"spacy.blank('en'): {raw['blank']}", flush=True)
        pipelines = {p: make_nlp(model_dir, args.layer_cache_mb, p) for p in dict.fromkeys(args.precision)}
        for round_ in range(args.rounds):
            for name, nlp in pipelines.items():
                elmo = nlp.get_pipe("elmo").model
                elmo.cache.clear()  # each pass from empty layer and token caches
                elmo.bilm.clear_token_cache()
                key = "elmo" if name == "fp32" else f"elmo_{name}"
                raw.setdefault(f"{key}_rounds", []).append(words_per_second(nlp, texts, args.batch_size))
                raw[key] = raw[f"{key}_rounds"][-1]
                print(f"blank + elmo ({name}), round {round_ + 1}: {raw[key]}", flush=True)
    if not args.skip_memory:
        stream = [" ".join(s) for s in conll_sentences(CONLL_TRAIN, limit=args.memory_docs)]
        print(f"memory over {len(stream)} docs (component cache_size_mb={'default' if args.layer_cache_mb is None else args.layer_cache_mb}):", flush=True)
        raw["memory"] = memory_profile(make_nlp(model_dir, args.layer_cache_mb, args.precision[0]), stream, args.batch_size)
    note_load_after(raw)
    if args.json:
        write_json(args.json, raw)


if __name__ == "__main__":
    main()
