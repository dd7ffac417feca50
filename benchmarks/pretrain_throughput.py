"""Pretraining throughput: tokens/s, updates/s and the share of the device's peak, on any device.

    python benchmarks/pretrain_throughput.py --config configs/pretrain/default.cfg --threads 1
    python benchmarks/pretrain_throughput.py --device cuda:0 --shape medium --batch-tokens 24000 --synthetic
    python benchmarks/pretrain_throughput.py --shape medium --compare-impls   # loop vs batched, one run

Runs real training steps (forward, backward, gradient clipping, Adam) of the config's model, built as
the trainer builds it, on the first lines of the LM corpus or (``--synthetic``, or where the corpus is
absent) on synthetic Zipf text. Tokens are predictions per direction, as in the progress bar. No spaCy
is imported with ``--synthetic`` or ``--pretokenized``. The share of the peak counts the biLSTM and the
softmax head only (``common.train_flops_per_token``): a lower bound on what the device does.
On a shared CPU, tokens per CPU-second is the figure to compare; wall-clock tokens/s depends on what else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SIZES, train_flops_per_token  # noqa: E402
from devices import device_name, parse_device, peak_flops, precision, share, sync  # noqa: E402

CORPUS = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "lm-corpus" / "train.txt"


def load_config(args):
    from spacy_elmo.bilm import BiLMOptions
    from spacy_elmo.training.config import PretrainConfig

    config = PretrainConfig.from_file(args.config)
    if args.shape != "config":
        config = config.with_model(BiLMOptions(**SIZES[args.shape]))
    if args.batch_tokens:
        config.training.batch_tokens = args.batch_tokens
    if args.pretokenized:
        config.corpus.pretokenized = True
    t = config.training
    t.lstm_compile, t.cuda_graphs = args.compile, args.cuda_graphs
    t.autocast = args.autocast
    return config


def make_batches(config, args):
    """(BatchMaker, batch index arrays, vocabulary size): the trainer's own batching."""
    from spacy_elmo.training.batching import BatchMaker, epoch_batches
    from spacy_elmo.training.vocab import Vocabulary

    t = config.training
    needed = args.warmup + args.steps
    if args.synthetic or not args.corpus.is_file():
        import synthetic

        if not args.synthetic:
            print(f"LM corpus not found at {args.corpus}: synthetic text instead", flush=True)
        corpus = synthetic.corpus(n_tokens=int(1.3 * needed * t.batch_tokens) + 10_000, n_types=config.corpus.vocab_size)
    else:
        from spacy_elmo.training.trainer import prepare_corpus

        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / "sample.txt"
            with open(args.corpus, encoding="utf-8") as src:
                sample.write_text("".join(line for _, line in zip(range(args.lines), src)), encoding="utf-8")
            corpus = prepare_corpus(sample, config, Path(tmp), progress=False)
    vocab = Vocabulary.from_counts(corpus.types, corpus.counts, config.corpus.vocab_size)
    maker = BatchMaker(corpus, vocab, config.model.max_characters_per_token)
    batches = epoch_batches(maker.lengths, t.seed, 0, t.batch_tokens, t.max_batch_sentences)
    if len(batches) < needed:
        raise SystemExit(f"only {len(batches)} batches of {t.batch_tokens} tokens; raise --lines or lower --batch-tokens")
    return maker, batches[:needed], len(vocab)


def measure(config, maker, batches, vocab_size: int, device: torch.device, args, impl: str) -> Dict:
    """Timed training steps of one LSTM route; the same batches, seed and start weights for each route."""
    from spacy_elmo.bilm.fast import batched_lstm
    from spacy_elmo.training.trainer import autocast_context, build_lm

    config.training.lstm_impl = impl
    t = config.training
    torch.manual_seed(0)
    lm = build_lm(config, vocab_size).to(device).train()
    optimizer = torch.optim.Adam(lm.parameters(), lr=t.learning_rate)
    prepared = [maker.make(ids).to(device) for ids in batches]  # host-side batching is not what is timed
    batched_lstm.ROUTES.clear()

    def update(batch):
        with autocast_context(config, device):
            out = lm(batch)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), t.grad_clip)
        optimizer.step()
        return out

    # With CUDA graphs the untimed warm-up also covers every timed batch, so the timed steps replay
    # graphs (as a long run does after its first epoch's buckets) instead of timing their capture.
    graphs = t.cuda_graphs and device.type == "cuda"
    warm = prepared[: args.warmup] + (prepared[args.warmup :] if graphs else [])
    losses = [update(batch).loss.detach() for batch in warm]
    sync(device)
    tokens, wall, cpu = 0, time.perf_counter(), time.process_time()
    for batch in prepared[args.warmup :]:
        out = update(batch)
        tokens += out.n_tokens
        losses.append(out.loss.detach())
    sync(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "lstm_impl": impl,
        "tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1),
        "updates_per_second": round(args.steps / wall, 3),
        "tokens_per_cpu_second": round(tokens / cpu, 1) if device.type == "cpu" else None,
        "first_losses": [round(float(x), 5) for x in losses[: args.warmup + 2]],
        "routes": dict(batched_lstm.ROUTES),
    }


def main(argv: List[str] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "pretrain" / "default.cfg")
    parser.add_argument("--shape", default="config", choices=["config"] + list(SIZES), help="model shape (default: the config's)")
    parser.add_argument("--batch-tokens", type=int, default=0, help="override [training] batch_tokens")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--synthetic", action="store_true", help="synthetic Zipf text (no corpus, no tokenizer)")
    parser.add_argument("--pretokenized", action="store_true", help="read the corpus as whitespace-tokenised (no spaCy)")
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--lstm-impl", default=None, choices=["loop", "batched"], help="default: the config's")
    parser.add_argument("--compare-impls", action="store_true", help="time both LSTM routes in one run")
    parser.add_argument("--compile", action="store_true", help="[training] lstm_compile")
    parser.add_argument("--cuda-graphs", action="store_true", help="[training] cuda_graphs")
    parser.add_argument("--autocast", default="none", choices=["none", "bfloat16"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)

    device = parse_device(args.device)
    torch.set_num_threads(args.threads)
    config = load_config(args)
    maker, batches, vocab_size = make_batches(config, args)
    impls = ["loop", "batched"] if args.compare_impls else [args.lstm_impl or config.training.lstm_impl]
    kind = precision(device, autocast_bf16=args.autocast == "bfloat16")
    peak, peak_source = peak_flops(device, kind, args.threads)
    flops = train_flops_per_token(config.model, config.training.adaptive_cutoffs, vocab_size)
    result = {
        "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
        "shape": args.shape,
        "batch_tokens": config.training.batch_tokens,
        "data": "synthetic" if args.synthetic or not args.corpus.is_file() else str(args.corpus),
        "device": device_name(device),
        "threads": args.threads,
        "steps": args.steps,
        "compile": args.compile,
        "cuda_graphs": args.cuda_graphs,
        "autocast": args.autocast,
        "train_flops_per_token": flops,
        "peak_tflops": round(peak / 1e12, 3),
        "peak_source": peak_source,
        "load_average_before": os.getloadavg(),
        "biLM_parameters": None,
        "torch": torch.__version__,
        "runs": [],
    }
    for impl in impls:
        run = measure(config, maker, batches, vocab_size, device, args, impl)
        run["percent_of_peak"] = share(run["tokens_per_second"] * flops, peak)
        result["runs"].append(run)
        print(f"{impl}: {run['tokens_per_second']:,.0f} tokens/s, {run['updates_per_second']:.2f} updates/s, "
              f"{run['percent_of_peak']}% of {peak / 1e12:.2f} TFLOP/s ({peak_source}); routes {run['routes']}", flush=True)
    from spacy_elmo.bilm import BiLM

    result["biLM_parameters"] = sum(p.numel() for p in BiLM(config.model).parameters())
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
