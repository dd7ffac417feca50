"""Long documents: what windowing costs in vector quality, and how much memory a 100,000-token doc takes.

    # quality: windows (no sentence boundaries) vs each sentence embedded whole, on CoNLL-2003 testa
    python benchmarks/long_docs.py quality --model spacy_elmo/models/en_elmo_small --tokens 8400 --doc-tokens 4200
    # memory: peak RSS of one process embedding one doc of N tokens (one child process per N)
    python benchmarks/long_docs.py memory --model spacy_elmo/models/en_elmo_small --tokens 10000 30000 100000

The 'elmo' component (``split = spacy-elmo.sentences.v1`` with ``sentencizer = false`` here) embeds
a doc sentence by sentence when it has sentence boundaries, and cuts a sequence longer than
``max_batch_tokens`` into windows of ``window_size`` tokens overlapping by ``window_overlap`` (each token takes its vector from the window where it is furthest from an
edge). The reference here is every sentence embedded on its own, which is how ELMo was trained
and how the original tools embed text; "whole doc" (one sequence of all tokens) is shown too.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONLL_TESTA, ROOT, conll_sentences, machine_description, write_json  # noqa: E402

LM_DEV = CONLL_TESTA.parents[1] / "lm-corpus" / "dev.txt"
RESULTS = ROOT / "benchmarks" / "results"
WINDOWS = [(128, 32), (256, 64), (512, 128)]


def make_nlp(model: str, window_size: int = 256, window_overlap: int = 64, **config):
    import spacy

    nlp = spacy.blank("en")
    # sentencizer = false: only the doc's own boundaries, so a doc without them measures the windows
    # (the default, sentencizer = true, would find sentences in it instead)
    split = {"@misc": "spacy-elmo.sentences.v1", "sentencizer": False, "window_size": window_size, "window_overlap": window_overlap}
    settings = {"cache_size_mb": 0.0, "split": split}
    if model:
        settings["weights"] = model
    settings.update(config)
    nlp.add_pipe("elmo", config=settings)
    return nlp


def cosine_rows(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    na, nb = numpy.linalg.norm(a, axis=-1), numpy.linalg.norm(b, axis=-1)
    return (a * b).sum(-1) / numpy.maximum(na * nb, 1e-12)


def compare(reference: Sequence[numpy.ndarray], other: Sequence[numpy.ndarray]) -> Dict[str, Dict[str, float]]:
    """Per output layer: mean / 1st-percentile cosine, mean and max absolute difference, relative to the reference."""
    ref = numpy.concatenate(reference, axis=1)
    oth = numpy.concatenate(other, axis=1)
    out = {}
    for layer in range(ref.shape[0]):
        cos = cosine_rows(ref[layer], oth[layer])
        diff = numpy.abs(ref[layer] - oth[layer])
        out[f"layer{layer}"] = {
            "cos_mean": float(cos.mean()),
            "cos_p1": float(numpy.percentile(cos, 1)),
            "cos_min": float(cos.min()),
            "abs_mean": float(diff.mean()),
            "abs_max": float(diff.max()),
            "changed_tokens": float((diff.max(-1) > 1e-5).mean()),
        }
    return out


def long_conll_docs(path: Path, n_tokens: int, doc_tokens: int) -> List[List[List[str]]]:
    """Consecutive CoNLL sentences (news articles in file order) joined into long docs of >= ``doc_tokens`` tokens."""
    out: List[List[List[str]]] = [[]]
    total = 0
    for sentence in conll_sentences(path, limit=0):
        if sum(len(s) for s in out[-1]) >= doc_tokens:
            if total >= n_tokens:
                return out
            out.append([])
        out[-1].append(sentence)
        total += len(sentence)
    return out


def quality(args) -> Dict:
    import torch
    from spacy.tokens import Doc

    torch.set_num_threads(args.threads)
    docs = long_conll_docs(Path(args.conll), args.tokens, args.doc_tokens)
    words = [[w for s in d for w in s] for d in docs]
    n_tokens = sum(len(w) for w in words)
    print(f"{len(docs)} long docs of {', '.join(str(len(w)) for w in words)} tokens "
          f"({sum(len(d) for d in docs)} sentences) from {args.conll}", flush=True)

    base = make_nlp(args.model)
    bilm = base.get_pipe("elmo").bilm
    # Reference: each sentence on its own, exactly as BiLM.embed_sentences gives it.
    start = time.perf_counter()
    reference = [numpy.concatenate(bilm.embed_sentences(d, batch_size=64), axis=1) for d in docs]
    timings = {"sentences": time.perf_counter() - start}

    def run(name: str, nlp, make_doc) -> None:
        start = time.perf_counter()
        variants[name] = [doc._.elmo_data.layers for doc in nlp.pipe([make_doc(nlp, i) for i in range(len(docs))])]
        timings[name] = time.perf_counter() - start

    def with_sents(nlp, i):
        starts = [j == 0 for s in docs[i] for j in range(len(s))]
        return Doc(nlp.vocab, words=words[i], sent_starts=starts)

    def plain(nlp, i):
        return Doc(nlp.vocab, words=words[i])

    variants: Dict[str, List[numpy.ndarray]] = {}
    # Docs longer than max_batch_tokens (4096 by default) are split: into sentences when they have
    # boundaries, else into overlapping windows.
    if args.check_sentences:  # the component's sentence path must reproduce the reference exactly
        run("component, sentence boundaries", make_nlp(args.model), with_sents)
    for size, overlap in WINDOWS:
        run(f"windows {size}/{overlap}", make_nlp(args.model, window_size=size, window_overlap=overlap), plain)
    run("whole doc, one sequence", make_nlp(args.model, max_batch_tokens=10 ** 6), plain)

    results = {name: compare(reference, layers) for name, layers in variants.items()}
    # Windows against the whole doc isolates the cost of the window edges from the sentence effect.
    whole = variants["whole doc, one sequence"]
    results_vs_whole = {name: compare(whole, variants[name]) for name in variants if name.startswith("windows")}
    report = {
        "benchmark": "long_docs.quality",
        "machine": machine_description(),
        "model": args.model or "default",
        "model_shape": bilm.options.describe(),
        "data": f"{args.conll}: {len(docs)} long docs of consecutive sentences, {n_tokens} tokens",
        "vs_sentences": results,
        "windows_vs_whole_doc": results_vs_whole,
        "seconds": timings,
    }
    top = f"layer{bilm.options.n_lstm_layers}"
    print(f"\nagainst each sentence embedded whole ({top} = top layer; layer1 = first LSTM layer):")
    print(f"{'variant':<34}{'top cos mean':>13}{'top cos p1':>12}{'top |d| max':>12}{'L1 cos mean':>13}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<34}{r[top]['cos_mean']:>13.5f}{r[top]['cos_p1']:>12.5f}{r[top]['abs_max']:>12.3f}{r['layer1']['cos_mean']:>13.5f}{timings[name]:>9.1f}")
    print("\nwindows against the whole doc as one sequence:")
    for name, r in results_vs_whole.items():
        print(f"{name:<34}{r[top]['cos_mean']:>13.5f}{r[top]['cos_p1']:>12.5f}{r[top]['abs_max']:>12.3f}  changed tokens {r[top]['changed_tokens']:.1%}")
    return report


# -- memory ------------------------------------------------------------------------------------------
def long_text(n_tokens: int) -> str:
    """Paragraphs of the LM dev corpus, repeated until the text has about ``n_tokens`` whitespace tokens."""
    lines = [l for l in LM_DEV.read_text(encoding="utf-8").splitlines() if l.strip()]
    out, count, i = [], 0, 0
    while count < n_tokens:
        line = lines[i % len(lines)]
        out.append(line)
        count += len(line.split())
        i += 1
    return " ".join(out)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_child(args) -> Dict:
    """One process, one doc: peak RSS before and after embedding it."""
    import torch

    torch.set_num_threads(args.threads)
    nlp = make_nlp(args.model, cache_size_mb=args.cache_mb)
    if args.sentences:
        nlp.add_pipe("sentencizer", first=True)
    nlp("Warm up the model once .")
    text = long_text(args.tokens)
    doc = nlp.make_doc(text)
    words = [t.text for t in doc][: args.tokens]
    from spacy.tokens import Doc

    doc = Doc(nlp.vocab, words=words)
    before = peak_rss_mb()
    start = time.perf_counter()
    doc = nlp(doc)
    seconds = time.perf_counter() - start
    after = peak_rss_mb()
    layers = doc._.elmo_data.layers
    output_mb = layers.nbytes / 2 ** 20
    return {
        "tokens": len(doc),
        "sentences": bool(args.sentences),
        "cache_mb": args.cache_mb,
        "peak_rss_before_mb": round(before, 1),
        "peak_rss_mb": round(after, 1),
        "growth_mb": round(after - before, 1),
        "output_mb": round(output_mb, 1),
        "working_mb": round(after - before - output_mb, 1),
        "seconds": round(seconds, 1),
        "tokens_per_s": round(len(doc) / seconds),
        "finite": bool(numpy.isfinite(layers).all()),
        "shape": list(layers.shape),
    }


def memory(args) -> Dict:
    runs = []
    for sentences in {"windows": [False], "sentences": [True], "both": [False, True]}[args.split]:
        for cache_mb in args.cache:
            for n in args.tokens:
                cmd = [sys.executable, __file__, "_memory_child", "--tokens", str(n), "--cache-mb", str(cache_mb), "--threads", str(args.threads)]
                if args.model:
                    cmd += ["--model", args.model]
                if sentences:
                    cmd.append("--sentences")
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                runs.append(row)
                print(json.dumps(row), flush=True)
    return {"benchmark": "long_docs.memory", "machine": machine_description(), "model": args.model or "default", "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--model", default="", help="native model dir (default: the packaged model)")
    q.add_argument("--conll", default=str(CONLL_TESTA))
    q.add_argument("--tokens", type=int, default=15_000, help="about this many tokens in all")
    q.add_argument("--doc-tokens", type=int, default=5_000, help="each long doc has at least this many tokens")
    q.add_argument("--check-sentences", action="store_true", help="also run the component's sentence path")
    q.add_argument("--threads", type=int, default=2)
    m = sub.add_parser("memory")
    m.add_argument("--model", default="")
    m.add_argument("--tokens", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    m.add_argument("--cache", type=float, nargs="+", default=[0.0])
    m.add_argument("--split", choices=["windows", "sentences", "both"], default="windows",
                   help="doc without sentence boundaries (windows), with them (spaCy's sentencizer), or both")
    m.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("_memory_child")
    c.add_argument("--model", default="")
    c.add_argument("--tokens", type=int, required=True)
    c.add_argument("--cache-mb", type=float, default=0.0)
    c.add_argument("--sentences", action="store_true")
    c.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "_memory_child":
        print(json.dumps(memory_child(args)))
        return
    report = quality(args) if args.command == "quality" else memory(args)
    name = f"long_docs_{args.command}.json"
    write_json(RESULTS / name, report)
    print(f"\nwrote {RESULTS / name}")


if __name__ == "__main__":
    main()
