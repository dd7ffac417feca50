"""Inference throughput of this biLM (CPU or GPU), against AllenNLP's ELMo (via simple-elmo-pytorch) on CPU.

Workload (issue 5): the first 500 sentences of CoNLL-2003 eng.testa in file order,
``embed_sentences`` on 32 sentences at a time, after one warm-up call on the first 32;
each timed pass starts from an empty token cache. Passes of the reference and of this
project alternate in the same run, so the ratio is measured under the same conditions.
Random weights of the published shapes, written in the original layout by ``common.random_weights``.

    python benchmarks/speed.py --threads 2 --sizes small original
    python benchmarks/speed.py --threads 2 --sizes original --precision fp32 bf16   # both CPU routes, same run
    python benchmarks/speed.py --device cuda:0 --sizes original --batch 256 --no-reference

``--precision fp32 bf16`` times this project's CPU inference in each precision (the ``precision``
setting: bf16 products, float32 cell and outputs), all passes alternating with the reference's, and
reports each precision's error against fp32 per layer; the share of peak is taken against the matmul
peak of the same precision measured here (``common.matmul_peak``).

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
from typing import Callable, Dict, List, Sequence

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
            device: str = "cpu", dtype: torch.dtype = torch.float32, compile_cell: bool = False,
            precisions: Sequence[str] = ("fp32",)) -> Dict:
    """Median seconds per pass of this project in each precision (and of the reference), plus the
    fast-vs-exact check (fp32) and each other precision's error against fp32."""
    from spacy_elmo.bilm.fast import batched_lstm

    bilm = load_ours(folder, dtype, device)
    bilm.lstm_settings.compile_cell = compile_cell
    batched_lstm.ROUTES.clear()
    parts = {p: Breakdown(bilm) for p in precisions} if breakdown else {}
    ours_embed = lambda c: bilm.embed_sentences(c, batch_size=batch)  # noqa: E731
    ref_embed = load_reference(folder) if reference_repeats else None
    times: Dict[str, List[float]] = {ours_name(p): [] for p in precisions}
    times["reference"] = []
    for rep in range(max(repeats, reference_repeats)):  # passes alternate, so load changes hit all
        if rep < repeats:
            for p in precisions:
                bilm.precision = p
                times[ours_name(p)].append(timed_pass(ours_embed, bilm.clear_token_cache, sentences, batch, parts.get(p)))
        if ref_embed is not None and rep < reference_repeats:
            times["reference"].append(timed_pass(ref_embed, lambda: None, sentences, batch))
        print(f"  pass {rep + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items() if t), flush=True)
    result = {name: {"seconds": statistics.median(t), "seconds_all": t} for name, t in times.items() if t}
    for p in precisions:
        ours = result[ours_name(p)]
        ours["precision"] = p
        ours["batches_per_pass"] = len(batches(sentences, batch))
        if p in parts:
            ours["breakdown_seconds_all"] = parts[p].parts
            print(f"  {ours_name(p)}, per pass: " + "; ".join(f"{n} " + ", ".join(f"{x:.3f}" for x in v) + " s" for n, v in parts[p].parts.items()), flush=True)
    result[ours_name(precisions[0])]["routes"] = dict(batched_lstm.ROUTES)
    if check:
        outputs = {}
        for p in precisions:
            bilm.precision = p
            outputs[p] = embed_all(bilm, sentences[:check], batch)
        bilm.precision = precisions[0]
        for p in precisions:
            ours = result[ours_name(p)]
            ours["checked_sentences"] = len(sentences[:check])
            if p == "fp32":
                ours["max_abs_diff_vs_exact"] = parity(bilm, sentences[:check], batch, outputs[p])
            elif "fp32" in outputs:
                ours["error_vs_fp32"] = layer_errors(outputs[p], outputs["fp32"])
    return result


def ours_name(precision: str) -> str:
    return "ours" if precision == "fp32" else f"ours-{precision}"


def embed_all(bilm, sentences, batch: int) -> List[numpy.ndarray]:
    return [a for chunk in batches(sentences, batch) for a in bilm.embed_sentences(chunk, batch_size=batch)]


def layer_errors(got: List[numpy.ndarray], want: List[numpy.ndarray]) -> Dict[str, List[float]]:
    """Per layer: max |got - want| and the relative RMS error ``||got - want|| / ||want||`` over every token."""
    got_all = numpy.concatenate([g for g in got if g.size], axis=1)
    want_all = numpy.concatenate([w for w in want if w.size], axis=1)
    diff = got_all - want_all
    return {
        "max_abs": [float(numpy.abs(d).max()) for d in diff],
        "relative_rms": [float(numpy.linalg.norm(d) / numpy.linalg.norm(w)) for d, w in zip(diff, want_all)],
        "mean_abs_value": [float(numpy.abs(w).mean()) for w in want_all],
    }


def parity(bilm, sentences, batch: int, fast: List[numpy.ndarray]) -> float:
    """Largest |fast - exact| over every layer of every token of the workload (``fast``: the fp32 fast path's)."""
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
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "auto"],
                        help="this project's CPU inference precision(s), timed in the same run (float32 weights)")
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
    precisions = list(dict.fromkeys(args.precision))
    if device.type != "cpu" and precisions != ["fp32"]:
        raise SystemExit("--precision applies to the CPU route; on a GPU use --dtype bfloat16 (bf16 weights)")
    peaks: Dict[str, float] = {}
    raw["peaks"] = {}
    for kind in ["fp32" if dtype == torch.float32 else precision(device, weights_dtype=dtype)] + [peak_kind(p, device) for p in precisions]:
        if kind not in peaks:
            flop_s, source = peak_flops(device, kind, args.threads)
            peaks[kind] = flop_s / 1e9
            raw["peaks"][kind] = {"gflops": peaks[kind], "source": source}
            print(f"peak {kind}: {peaks[kind]:.0f} GFLOP/s ({source})", flush=True)
    print(f"machine: {raw['machine']}; {args.threads} threads", flush=True)
    print(f"workload: {len(sentences)} {raw['workload']} sentences, {n_tokens} tokens, batches of {args.batch}", flush=True)
    from spacy_elmo.bilm import BiLMOptions

    rows = []
    for size in args.sizes:
        print(f"{size}:", flush=True)
        flops = flops_per_token(BiLMOptions(**SIZES[size]))["total"]
        ref_repeats = 0 if args.no_reference else args.reference_repeats
        entry = {"flops_per_token": flops, **measure(random_weights(size), sentences, args.batch, args.repeats, ref_repeats,
                                                     args.check_sentences, args.breakdown, str(device), dtype, args.compile, precisions)}
        raw["sizes"][size] = entry
        rows += [table_row(size, p, entry, n_tokens, peaks[peak_kind(p, device)], peaks[next(iter(peaks))]) for p in precisions]
    print()
    note_load_after(raw)
    print()
    print(table_header())
    print("\n".join(rows))
    if args.json:
        write_json(args.json, raw)


def peak_kind(precision_setting: str, device: torch.device) -> str:
    """Which matmul peak a precision setting's products run against: what it computes in on this device."""
    from spacy_elmo.bilm.fast.precision import compute_dtype

    return "bf16" if compute_dtype(precision_setting, device) == torch.bfloat16 else "fp32"


def table_header() -> str:
    return (
        "| weights | precision | reference tokens/s | ours tokens/s | ours batches/s | speed-up vs reference | vs fp32 | FLOPs/token "
        "| ours GFLOP/s (% of this precision's peak) | reference GFLOP/s (% of fp32 peak) | accuracy |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )


def table_row(size: str, precision_setting: str, entry: Dict, n_tokens: int, peak: float, reference_peak: float) -> str:
    """GFLOP/s counts the reference's FLOPs per token (``common.flops_per_token``) for both, so
    the figure for this project is an effective rate: it skips work the reference does. Accuracy:
    max |fast - exact| for fp32; per layer max abs / relative RMS error against fp32 otherwise."""
    ours = entry[ours_name(precision_setting)]
    ours_tps = n_tokens / ours["seconds"]
    ref = entry.get("reference")
    ref_tps = n_tokens / ref["seconds"] if ref else float("nan")
    fp32 = entry.get("ours")
    flops = entry["flops_per_token"]
    rate = lambda tps, top: f"{tps * flops / 1e9:.1f} ({100 * tps * flops / 1e9 / top:.0f}%)"  # noqa: E731
    if "max_abs_diff_vs_exact" in ours:
        accuracy = f"max abs diff vs exact {ours['max_abs_diff_vs_exact']:.1e}"
    elif "error_vs_fp32" in ours:
        err = ours["error_vs_fp32"]
        accuracy = ("vs fp32, layer 0/1/2: max abs " + " / ".join(f"{e:.1e}" for e in err["max_abs"])
                    + "; relative RMS " + " / ".join(f"{e:.2%}" for e in err["relative_rms"]))
    else:
        accuracy = "n/a"
    speedup = f"{ours_tps / ref_tps:.1f}x" if ref else "n/a"
    vs_fp32 = f"{fp32['seconds'] / ours['seconds']:.2f}x" if fp32 else "n/a"
    ref_text = f"{ref_tps:,.0f}" if ref else "n/a"
    batches_per_s = ours["batches_per_pass"] / ours["seconds"]
    return (
        f"| {SIZE_NAMES[size]} | {precision_setting} | {ref_text} | {ours_tps:,.0f} | {batches_per_s:.2f} | {speedup} | {vs_fp32} | "
        f"{flops / 1e6:.0f} M | {rate(ours_tps, peak)} | {rate(ref_tps, reference_peak) if ref else 'n/a'} | {accuracy} |"
    )


if __name__ == "__main__":
    main()
