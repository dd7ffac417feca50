"""Inference throughput of this biLM (CPU or GPU), against AllenNLP's ELMo (via simple-elmo-pytorch) on CPU.

Workload (issue 5): the first 500 sentences of CoNLL-2003 eng.testa in file order,
``embed_sentences`` on 32 sentences at a time, after one warm-up call on the first 32;
each timed pass starts from an empty token cache. Passes of the reference and of this
project alternate in the same run, so the ratio is measured under the same conditions.
Random weights of the published shapes, written in the original layout by ``common.random_weights``.

    python benchmarks/speed.py --threads 2 --sizes small original
    python benchmarks/speed.py --device cuda:0 --sizes original --batch 256 --no-reference

``--device cuda:N`` times this project alone (the reference runs on CPU only). Where the CoNLL file is
absent (or with ``--synthetic``) the workload is synthetic Zipf sentences of the same count. Reported:
tokens/s, batches/s (one ``embed_sentences`` call per batch) and the share of the device's peak
(``devices.py``: datasheet peaks of known GPUs, the measured matmul peak of a CPU). No spaCy is imported.

Needs the ``bench`` extra (``pip install --no-deps simple-elmo-pytorch==0.2``) for the
reference column; ``--no-reference`` times this project alone.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONLL_TESTA, SIZE_NAMES, SIZES, conll_sentences, flops_per_token, random_weights, note_load_after, write_json  # noqa: E402
from devices import device_name, parse_device, peak_flops, precision  # noqa: E402


def batches(sentences: List[List[str]], size: int) -> List[List[List[str]]]:
    return [sentences[i : i + size] for i in range(0, len(sentences), size)]


def load_ours(folder: Path, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    from spacy_elmo import load_bilm

    return load_bilm(folder / "options.json", folder / "weights.hdf5").to(device=device, dtype=dtype).eval()


def load_reference(folder: Path) -> Callable:
    """AllenNLP's ``Elmo`` (simple-elmo-pytorch copy) as a ``sentences -> output`` callable."""
    try:
        from simple_elmo_pytorch.models.elmo import Elmo, batch_to_ids
    except ImportError:
        raise SystemExit("The reference needs the bench extra: pip install --no-deps simple-elmo-pytorch==0.2 (or --no-reference)")
    elmo = Elmo(str(folder / "options.json"), str(folder / "weights.hdf5"), num_output_representations=1, dropout=0.0).eval()

    def embed(chunk):
        with torch.no_grad():
            return elmo(batch_to_ids(chunk))

    return embed


def timed_pass(embed: Callable, reset: Callable, sentences, batch: int, parts: "Breakdown" = None) -> float:
    """Seconds for one pass: reset, one warm-up call on the first batch, then every batch in order."""
    reset()
    embed(sentences[:batch])
    if parts is not None:
        parts.reset()
    start = time.perf_counter()
    for chunk in batches(sentences, batch):
        embed(chunk)
    seconds = time.perf_counter() - start
    if parts is not None:
        parts.close_pass()
    return seconds


class Breakdown:
    """Wall time inside the token path and the LSTM during our passes (``--breakdown``); the rest is
    char ids, packing and copying results out. Wrapping costs a few microseconds per batch."""

    def __init__(self, bilm) -> None:
        from spacy_elmo.bilm import model

        self.parts: Dict[str, List[float]] = {"token_path": [], "lstm": []}
        self.current = {"token_path": 0.0, "lstm": 0.0}
        token_embedding, fast_bilstm = bilm.token_embedding, model.fast_bilstm

        def timed(name, fn):
            def run(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.current[name] += time.perf_counter() - start

            return run

        bilm.token_embedding = timed("token_path", token_embedding)
        model.fast_bilstm = timed("lstm", fast_bilstm)

    def reset(self) -> None:
        self.current = {name: 0.0 for name in self.current}

    def close_pass(self) -> None:
        for name, seconds in self.current.items():
            self.parts[name].append(seconds)


def measure(folder: Path, sentences, batch: int, repeats: int, reference_repeats: int, check: int, breakdown: bool = False,
            device: str = "cpu", dtype: torch.dtype = torch.float32, compile_cell: bool = False) -> Dict:
    """Median seconds per pass of this project (and of the reference), plus the fast-vs-exact check."""
    from spacy_elmo.bilm.fast import batched_lstm

    bilm = load_ours(folder, dtype, device)
    bilm.lstm_settings.compile_cell = compile_cell
    batched_lstm.ROUTES.clear()
    parts = Breakdown(bilm) if breakdown else None
    ours_embed = lambda c: bilm.embed_sentences(c, batch_size=batch)  # noqa: E731
    ref_embed = load_reference(folder) if reference_repeats else None
    times: Dict[str, List[float]] = {"ours": [], "reference": []}
    for rep in range(max(repeats, reference_repeats)):  # passes alternate, so load changes hit both
        if rep < repeats:
            times["ours"].append(timed_pass(ours_embed, bilm.clear_token_cache, sentences, batch, parts))
        if ref_embed is not None and rep < reference_repeats:
            times["reference"].append(timed_pass(ref_embed, lambda: None, sentences, batch))
        print(f"  pass {rep + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items() if t), flush=True)
    result = {name: {"seconds": statistics.median(t), "seconds_all": t} for name, t in times.items() if t}
    result["ours"]["routes"] = dict(batched_lstm.ROUTES)
    result["ours"]["batches_per_pass"] = len(batches(sentences, batch))
    if parts is not None:
        result["ours"]["breakdown_seconds_all"] = parts.parts
        print("  ours, per pass: " + "; ".join(f"{n} " + ", ".join(f"{x:.3f}" for x in v) + " s" for n, v in parts.parts.items()), flush=True)
    if check:
        result["ours"]["max_abs_diff_vs_exact"] = parity(bilm, sentences[:check], batch)
        result["ours"]["checked_sentences"] = len(sentences[:check])
    return result


def parity(bilm, sentences, batch: int) -> float:
    """Largest |fast - exact| over every layer of every token of the workload."""
    fast = [a for chunk in batches(sentences, batch) for a in bilm.embed_sentences(chunk, batch_size=batch)]
    bilm.fast_inference = False
    try:
        exact = [a for chunk in batches(sentences, batch) for a in bilm.embed_sentences(chunk, batch_size=batch)]
    finally:
        bilm.fast_inference = True
    return float(max(numpy.abs(f - e).max() for f, e in zip(fast, exact) if f.size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["small", "original"], choices=list(SIZES))
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the reference runs on cpu only)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="this project's weights")
    parser.add_argument("--compile", action="store_true", help="fuse the batched LSTM route's cell with torch.compile (CUDA route)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic sentences instead of CoNLL-2003 eng.testa")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of this project (median reported)")
    parser.add_argument("--reference-repeats", type=int, default=1, help="timed passes of the reference, alternating with ours")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--check-sentences", type=int, default=160, help="sentences compared fast vs exact path (0: skip)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    parser.add_argument("--breakdown", action="store_true", help="also time our token path and LSTM within each pass")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = parse_device(args.device)
    dtype = getattr(torch, args.dtype)
    if device.type != "cpu" and not args.no_reference:
        print("the reference runs on CPU only: timing this project alone (--no-reference)", flush=True)
        args.no_reference = True
    synthetic = args.synthetic or not CONLL_TESTA.is_file()
    if synthetic:
        import synthetic as synthetic_text

        sentences = synthetic_text.sentences(args.sentences)
    else:
        sentences = conll_sentences(limit=args.sentences)
    n_tokens = sum(len(s) for s in sentences)
    raw = {"machine": device_name(device), "device": str(device), "dtype": args.dtype, "threads": args.threads, "tokens": n_tokens,
           "workload": "synthetic" if synthetic else "conll2003 eng.testa", "batch": args.batch,
           "load_average_before": os.getloadavg(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "sizes": {}}
    kind = precision(device, weights_dtype=dtype)
    peak_flop_s, raw["peak_source"] = peak_flops(device, kind, args.threads)
    peak = raw["peak_gflops"] = peak_flop_s / 1e9
    print(f"machine: {raw['machine']}; {args.threads} threads; peak {peak:.0f} GFLOP/s ({raw['peak_source']})", flush=True)
    print(f"workload: {len(sentences)} {raw['workload']} sentences, {n_tokens} tokens, batches of {args.batch}", flush=True)
    from spacy_elmo.bilm import BiLMOptions

    rows = []
    for size in args.sizes:
        print(f"{size}:", flush=True)
        flops = flops_per_token(BiLMOptions(**SIZES[size]))["total"]
        ref_repeats = 0 if args.no_reference else args.reference_repeats
        entry = {"flops_per_token": flops, **measure(random_weights(size), sentences, args.batch, args.repeats, ref_repeats,
                                                     args.check_sentences, args.breakdown, str(device), dtype, args.compile)}
        raw["sizes"][size] = entry
        rows.append(table_row(size, entry, n_tokens, peak))
    print()
    note_load_after(raw)
    print()
    print(table_header())
    print("\n".join(rows))
    if args.json:
        write_json(args.json, raw)


def table_header() -> str:
    return (
        "| weights | reference tokens/s | ours tokens/s | ours batches/s | speed-up | FLOPs/token | ours GFLOP/s (% of peak) | reference GFLOP/s (% of peak) | max abs diff vs exact |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )


def table_row(size: str, entry: Dict, n_tokens: int, peak: float) -> str:
    """GFLOP/s counts the reference's FLOPs per token (``common.flops_per_token``) for both, so
    the figure for this project is an effective rate: it skips work the reference does."""
    ours_tps = n_tokens / entry["ours"]["seconds"]
    ref = entry.get("reference")
    ref_tps = n_tokens / ref["seconds"] if ref else float("nan")
    flops = entry["flops_per_token"]
    rate = lambda tps: f"{tps * flops / 1e9:.1f} ({100 * tps * flops / 1e9 / peak:.0f}%)"  # noqa: E731
    diff = entry["ours"].get("max_abs_diff_vs_exact")
    diff_text = f"{diff:.1e}" if diff is not None else "n/a"
    speedup = f"{ours_tps / ref_tps:.1f}x" if ref else "n/a"
    ref_text = f"{ref_tps:,.0f}" if ref else "n/a"
    batches_per_s = entry["ours"]["batches_per_pass"] / entry["ours"]["seconds"]
    return (
        f"| {SIZE_NAMES[size]} | {ref_text} | {ours_tps:,.0f} | {batches_per_s:.2f} | {speedup} | {flops / 1e6:.0f} M | "
        f"{rate(ours_tps)} | {rate(ref_tps) if ref else 'n/a'} | {diff_text} |"
    )


if __name__ == "__main__":
    main()
