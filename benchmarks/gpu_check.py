"""Issue 13's GPU checks in one run: exactness of the batched LSTM routes, training and inference
throughput, written as ``results.json`` and ``results.md`` under ``--out`` (``$OUT`` from gpu_check.sh).

    bash benchmarks/gpu_check.sh             # a GPU machine with torch, numpy, safetensors, h5py
    bash benchmarks/gpu_check.sh --dry-run   # any machine: the same code on tiny shapes, on CPU

Sections, in order (each one's failure is recorded and the next runs):
1. exactness on the device: batched / compiled / CUDA-graphed LSTM vs the step loop (outputs, final
   states, gradients), the trainer's LM loss and gradients on both routes, the device's step loop vs
   the CPU's, and ``embed_sentences`` on the CUDA inference route vs the exact path;
2. training throughput, medium shape (char CNN 512 filters, 2 highways, LSTM 1024 -> 256) at
   24,000-token batches: loop, batched, + torch.compile, + CUDA graphs, + bf16 autocast;
3. training throughput, the original ELMo size (4096 -> 512) at 24,000-token batches: loop, batched;
4. inference throughput, the original size at batch 256 (500 sentences): the old stepwise route and
   the batched one (fp32, within 1e-4 of the exact path), + compile, + bf16 weights.
Sections that would start after ``--budget-s`` are recorded as skipped. spaCy and thinc are blocked
from import, so a hidden dependency on them fails here rather than on a bare GPU machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

TOLERANCE = 1e-4  # float32: outputs absolute, gradients relative to their largest magnitude


def block_spacy() -> None:
    for name in ("spacy", "thinc"):
        sys.modules[name] = None  # type: ignore[assignment]  # "import spacy" now raises ImportError


# -- 1. exactness ------------------------------------------------------------------------------
def exactness(device: str, with_compile: bool) -> Dict:
    import torch

    from spacy_elmo.bilm.fast import batched_lstm
    from spacy_elmo.bilm.fast.batched_lstm import BatchedSettings
    from tests.bilm.lstm_parity import (lm_loss_and_grads, max_diff, max_differences, random_case, random_lm_batch,
                                        random_stack, random_states, run_with_grads, small_options)

    routes = {"batched": BatchedSettings(impl="batched")}
    if with_compile:
        routes["batched+compile"] = BatchedSettings(impl="batched", compile_cell=True)
    if device.startswith("cuda"):
        routes["batched+cuda_graphs"] = BatchedSettings(impl="batched", cuda_graphs=True)
    cases = {
        "mixed lengths (incl. 1 and 0), clipped": (small_options(), [9, 1, 4, 0, 7], False, 0.0),
        "mixed lengths, unclipped": (small_options(cell_clip=0.0, proj_clip=0.0), [9, 1, 4, 0, 7], False, 0.0),
        "all length 1": (small_options(), [1, 1, 1], False, 0.0),
        "given states, dropout 0.3, 3 layers": (small_options(n_lstm_layers=3), [7, 3, 0, 1], True, 0.3),
    }
    rows = []
    for route, settings in routes.items():
        for name, (options, lengths, with_states, dropout) in cases.items():
            if with_states and settings.cuda_graphs:
                continue  # graphs serve stateless training only (given states take the eager route)
            batched_lstm.ROUTES.clear()
            stack = random_stack(options, dropout=dropout).to(device)
            inputs, lengths_t = random_case(len(lengths), max(lengths), options.projection_dim, lengths, device=device)
            states = random_states(options, len(lengths), device=device) if with_states else None
            d = max_differences(stack, inputs, lengths_t, settings, states=states)
            rows.append(_verdict({"check": f"{route} vs step loop: {name}", "routes": dict(batched_lstm.ROUTES), **d}))
    # The device's step loop against the CPU's (same weights and inputs).
    options = small_options()
    stack = random_stack(options)
    inputs, lengths_t = random_case(5, 9, options.projection_dim, [9, 1, 4, 0, 7])
    loop = BatchedSettings(impl="loop")
    cpu_out, cpu_grad = run_with_grads(stack, inputs, lengths_t, None, loop)
    dev_out, dev_grad = run_with_grads(stack.to(device), inputs.to(device), lengths_t.to(device), None, loop)
    rows.append(_verdict({
        "check": f"step loop on {device} vs on cpu",
        "outputs": max_diff([t.cpu() for t in dev_out], cpu_out),
        "gradients": max_diff([t.cpu() for t in dev_grad], cpu_grad),
        "gradients_scale": max(float(b.abs().max()) for b in cpu_grad if b.numel()),
    }))
    # The trainer's LM: loss and gradients on both routes.
    from spacy_elmo.training.config import PretrainConfig

    config = PretrainConfig(model=small_options())
    config.training.adaptive_cutoffs = [10, 20]
    batch = random_lm_batch()
    results = {}
    for impl in ("loop", "batched"):
        config.training.lstm_impl = impl
        results[impl] = lm_loss_and_grads(config, 30, batch, device=device)
    (loss_l, grads_l), (loss_b, grads_b) = results["loop"], results["batched"]
    rows.append(_verdict({
        "check": "trainer LM loss and gradients: batched vs loop",
        "outputs": float((loss_l - loss_b).abs()),
        "gradients": max_diff([grads_b[k] for k in grads_l], list(grads_l.values())),
        "gradients_scale": max(float(g.abs().max()) for g in grads_l.values() if g.numel()),
    }))
    rows.append(_inference_exactness(device))
    return {"rows": rows, "passed": all(r["passed"] for r in rows)}


def _inference_exactness(device: str) -> Dict:
    import numpy
    import torch

    from spacy_elmo.bilm.fast import batched_lstm
    from tests.bilm.lstm_parity import small_options

    from common import random_bilm
    import synthetic

    sentences = synthetic.sentences(40, n_types=300) + [["one"], []]
    bilm = random_bilm(small_options()).to(device).eval()
    batched_lstm.ROUTES.clear()
    fast = bilm.embed_sentences(sentences, batch_size=16)
    routes = dict(batched_lstm.ROUTES)
    bilm.fast_inference = False
    exact = bilm.embed_sentences(sentences, batch_size=16)
    cpu_exact = bilm.cpu().embed_sentences(sentences, batch_size=16)
    diff = max(float(numpy.abs(f - e).max()) for f, e in zip(fast, exact) if f.size)
    diff_cpu = max(float(numpy.abs(f - e).max()) for f, e in zip(fast, cpu_exact) if f.size)
    return _verdict({"check": f"embed_sentences on {device} (fast route) vs exact path", "outputs": diff,
                     "outputs_vs_cpu_exact": diff_cpu, "gradients": 0.0, "gradients_scale": 1.0, "routes": routes})


def _verdict(row: Dict) -> Dict:
    row["passed"] = row["outputs"] <= TOLERANCE and row["gradients"] <= TOLERANCE * max(1.0, row["gradients_scale"])
    return row


# -- 2, 3. training throughput -------------------------------------------------------------------------
def training(device: str, shape: str, variants: List[List[str]], dry_run: bool, out: Path) -> Dict:
    import torch

    import pretrain_throughput
    from spacy_elmo.bilm.fast import batched_lstm

    runs = []
    for extra in variants:
        if dry_run:
            argv = ["--config", "configs/pretrain/tiny.cfg", "--batch-tokens", "400", "--steps", "2", "--warmup", "1"]
        else:
            argv = ["--shape", shape, "--batch-tokens", "24000", "--steps", "12", "--warmup", "3"]
        argv += ["--synthetic", "--device", device, "--output", str(out / f"train-{shape}-{'-'.join(extra)}.json")] + extra
        result = pretrain_throughput.main(argv)
        for run in result["runs"]:
            variant = " ".join(a for a in extra if a not in ("--compare-impls", "--lstm-impl", "batched")) or "plain"
            runs.append({"variant": variant, **{k: result[k] for k in ("shape", "batch_tokens", "peak_tflops", "peak_source",
                                                                                 "train_flops_per_token", "device")}, **run})
        batched_lstm.clear_graphs()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return {"runs": runs}


# -- 4. inference throughput --------------------------------------------------------------------------------
def inference(device: str, dry_run: bool, with_compile: bool) -> Dict:
    import statistics

    import torch

    import synthetic
    from common import CONLL_TESTA, SIZES, conll_sentences, flops_per_token, random_bilm
    from devices import peak_flops, precision
    from speed import parity, timed_pass
    from spacy_elmo.bilm import BiLMOptions
    from spacy_elmo.bilm.fast import batched_lstm, packed_lstm
    from tests.bilm.lstm_parity import small_options

    options = small_options() if dry_run else BiLMOptions(**SIZES["original"])
    sentences = conll_sentences(limit=500) if CONLL_TESTA.is_file() else synthetic.sentences(500)
    if dry_run:
        sentences = sentences[:40]
    n_tokens = sum(len(s) for s in sentences)
    batch = 256
    flops = flops_per_token(options)["total"]
    runs = []
    here = (torch.device(device).type,)  # the batched route on this device (a dry run forces it onto the CPU)
    variants = [("stepwise (before)", torch.float32, False, ()), ("batched", torch.float32, False, here),
                ("batched, bf16 weights", torch.bfloat16, False, here)]
    if with_compile:
        variants.insert(2, ("batched + compile", torch.float32, True, here))
    reference = None
    for name, dtype, compile_cell, batched_devices in variants:
        packed_lstm.BATCHED_DEVICES = batched_devices
        bilm = random_bilm(options).to(device=device, dtype=dtype).eval()
        bilm.lstm_settings.compile_cell = compile_cell
        embed = lambda chunk: bilm.embed_sentences(chunk, batch_size=batch)  # noqa: E731
        batched_lstm.ROUTES.clear()
        seconds = [timed_pass(embed, bilm.clear_token_cache, sentences, batch) for _ in range(3)]
        row = {"variant": name, "dtype": str(dtype), "routes": dict(batched_lstm.ROUTES), "seconds_all": seconds,
               "tokens_per_second": round(n_tokens / statistics.median(seconds), 1),
               "batches_per_second": round(-(-len(sentences) // batch) / statistics.median(seconds), 3)}
        peak, source = peak_flops(torch.device(device), precision(torch.device(device), weights_dtype=dtype))
        row["percent_of_peak"] = round(100 * row["tokens_per_second"] * flops / peak, 2)
        row["peak_source"] = source
        if dtype == torch.float32:
            checked = sentences[:160]
            fast = [a for i in range(0, len(checked), batch) for a in embed(checked[i : i + batch])]
            row["max_abs_diff_vs_exact"] = parity(bilm, checked, batch, fast)
            row["passed"] = row["max_abs_diff_vs_exact"] <= TOLERANCE
        if name == "batched":
            reference = bilm.embed_sentences(sentences[:160], batch_size=batch)
        elif reference is not None and dtype == torch.bfloat16:
            got = bilm.embed_sentences(sentences[:160], batch_size=batch)
            row["max_abs_diff_vs_fp32"] = max(float(abs(g - r).max()) for g, r in zip(got, reference) if r.size)
        runs.append(row)
        del bilm
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    packed_lstm.BATCHED_DEVICES = ("cuda",)
    return {"shape": "tiny" if dry_run else "original", "batch": batch, "sentences": len(sentences), "tokens": n_tokens,
            "flops_per_token": flops, "runs": runs}


# -- the run --------------------------------------------------------------------------------------------
def markdown(results: Dict) -> str:
    lines = [f"# GPU check ({results['device_name']}, torch {results['torch']}, {results['started']})", ""]
    if results.get("dry_run"):
        lines += ["**Dry run on tiny shapes: no figure here is a GPU figure.**", ""]
    for section, body in results["sections"].items():
        lines.append(f"## {section}")
        if "error" in body or "skipped" in body:
            lines += [f"- {body.get('skipped') or body['error']}", ""]
            continue
        if "rows" in body:
            lines += ["| check | outputs max diff | gradients max diff | passed |", "|---|---|---|---|"]
            lines += [f"| {r['check']} | {r['outputs']:.2e} | {r['gradients']:.2e} | {r['passed']} |" for r in body["rows"]]
        else:
            lines += ["| variant | tokens/s | updates or batches/s | % of peak | routes | exact |", "|---|---|---|---|---|---|"]
            for r in body["runs"]:
                rate = r.get("updates_per_second", r.get("batches_per_second"))
                exact = r.get("max_abs_diff_vs_exact", r.get("max_abs_diff_vs_fp32", ""))
                label = f"{r.get('variant') or 'default'} {r.get('lstm_impl', '')}".strip()
                lines.append(f"| {label} | {r['tokens_per_second']:,.0f} | {rate} | {r['percent_of_peak']} | {r['routes']} | {exact} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check_results"))
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU: checks that the script runs")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no section after this many seconds")
    parser.add_argument("--allow-spacy", action="store_true", help="do not block importing spaCy/thinc")
    parser.add_argument("--compile", action="store_true", help="in a dry run, also exercise torch.compile (slow on CPU)")
    args = parser.parse_args()
    if not args.allow_spacy:
        block_spacy()
    import torch

    start = time.monotonic()
    device = "cpu" if args.dry_run else args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: torch {torch.__version__} sees no CUDA device. On a CPU machine run with --dry-run "
              "(tiny shapes, no GPU figures).", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "dry_run": args.dry_run, "device": device, "torch": torch.__version__,
        "cuda": torch.version.cuda, "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "sections": {},
    }
    on_cuda = device.startswith("cuda")
    with_compile = on_cuda or args.compile
    medium = [["--compare-impls"], ["--lstm-impl", "batched", "--cuda-graphs"], ["--lstm-impl", "batched", "--autocast", "bfloat16"]]
    if with_compile:
        medium.insert(1, ["--lstm-impl", "batched", "--compile"])
    sections: List = [
        ("1. exactness", lambda: exactness(device, with_compile)),
        ("2. training, medium shape, 24k-token batches", lambda: training(device, "medium", medium, args.dry_run, args.out)),
        ("3. training, original size, 24k-token batches", lambda: training(device, "original", [["--compare-impls"]], args.dry_run, args.out)),
        ("4. inference, original size, batch 256", lambda: inference(device, args.dry_run, with_compile)),
    ]
    for name, run in sections:
        elapsed = time.monotonic() - start
        if elapsed > args.budget_s:
            results["sections"][name] = {"skipped": f"not started: {elapsed:.0f} s used of the {args.budget_s:.0f} s budget"}
        else:
            print(f"== {name}", flush=True)
            try:
                results["sections"][name] = run()
            except Exception as err:  # noqa: BLE001 - record it and go on to the next section
                traceback.print_exc()
                results["sections"][name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            results["sections"][name]["seconds"] = round(time.monotonic() - start - elapsed, 1)
        _write(args.out, results)  # after every section, so a timeout still leaves what was done
    print(markdown(results))
    failed = [n for n, b in results["sections"].items() if "error" in b or b.get("passed") is False]
    print(f"gpu_check: results in {args.out}/results.json and results.md; {'FAILED: ' + ', '.join(failed) if failed else 'no failures'}")
    return 1 if failed else 0


def _write(out: Path, results: Dict) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(results) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
