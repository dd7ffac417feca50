"""Pretraining throughput: training tokens per second (wall and per CPU-second) for a pretrain config.

    python benchmarks/pretrain_throughput.py --config configs/pretrain_default.cfg --threads 1

Runs real training steps (forward, backward, Adam) of the config's model on the first lines of the LM corpus.
Tokens are predictions per direction, as in the progress bar. Tokens per CPU-second is the figure to compare
on a shared machine; wall-clock tokens/s depends on what else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "lm-corpus" / "train.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "pretrain_default.cfg")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"LM corpus not found at {args.corpus}; put ../shared beside the checkout or pass --corpus")

    from spacy_elmo.training.batching import BatchMaker, epoch_batches
    from spacy_elmo.training.config import PretrainConfig
    from spacy_elmo.training.trainer import build_lm, prepare_corpus
    from spacy_elmo.training.vocab import Vocabulary

    torch.set_num_threads(args.threads)
    config = PretrainConfig.from_file(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.txt"
        with open(args.corpus, encoding="utf-8") as src:
            sample.write_text("".join(line for _, line in zip(range(args.lines), src)), encoding="utf-8")
        corpus = prepare_corpus(sample, config, Path(tmp), progress=False)
    vocab = Vocabulary.from_counts(corpus.types, corpus.counts, config.corpus.vocab_size)
    maker = BatchMaker(corpus, vocab, config.model.max_characters_per_token)
    t = config.training
    batches = epoch_batches(maker.lengths, t.seed, 0, t.batch_tokens, t.max_batch_sentences)
    needed = args.warmup + args.steps
    if len(batches) < needed:
        raise SystemExit(f"only {len(batches)} batches in {args.lines} lines; raise --lines")
    torch.manual_seed(0)
    lm = build_lm(config, len(vocab)).train()
    optimizer = torch.optim.Adam(lm.parameters(), lr=t.learning_rate)
    tokens = 0
    for i, ids in enumerate(batches[:needed]):
        if i == args.warmup:
            tokens, wall, cpu = 0, time.perf_counter(), time.process_time()
        out = lm(maker.make(ids))
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), t.grad_clip)
        optimizer.step()
        tokens += out.n_tokens
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
        "threads": args.threads,
        "steps": args.steps,
        "tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1),
        "tokens_per_cpu_second": round(tokens / cpu, 1),
        "cpu_share": round(cpu / wall / args.threads, 2),
        "biLM_parameters": sum(p.numel() for p in lm.bilm.parameters()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
