"""The effect of bf16 autocast on training: dev perplexity (always computed in float32) after the same
updates with ``[training] autocast = "none"`` and ``"bfloat16"``, from the same seed and data.

    python benchmarks/autocast_perplexity.py   # defaults: 12,000 lines, 400 dev lines, 150 steps of 1,000 tokens
    python benchmarks/autocast_perplexity.py --device cuda:0 --steps 2000 --batch-tokens 24000   # on a GPU

Runs the real trainer (``Trainer``) on the first lines of the LM corpus, read as pretokenized (no spaCy).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402
from devices import device_name, parse_device  # noqa: E402

LM = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "lm-corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "pretrain" / "default.cfg")
    parser.add_argument("--lines", type=int, default=12000)
    parser.add_argument("--dev-lines", type=int, default=400)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-tokens", type=int, default=1000)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    device = parse_device(args.device)

    from spacy_elmo.training.config import PretrainConfig
    from spacy_elmo.training.trainer import Trainer

    result = {"device": device_name(device), "config": str(args.config), "steps": args.steps, "batch_tokens": args.batch_tokens,
              "lines": args.lines, "load_average_before": os.getloadavg(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines in (("train.txt", args.lines), ("dev.txt", args.dev_lines)):
            with open(LM / name, encoding="utf-8") as src:
                Path(tmp, name).write_text("".join(line for _, line in zip(range(lines), src)), encoding="utf-8")
        for autocast in ("none", "bfloat16"):
            config = PretrainConfig.from_file(args.config)
            config.corpus.pretokenized = True
            t = config.training
            t.max_steps, t.warmup_steps, t.batch_tokens = args.steps, args.warmup_steps, args.batch_tokens
            t.checkpoint_every_steps, t.checkpoint_every_minutes, t.autocast = 0, 0, autocast
            start = time.time()
            trainer = Trainer(Path(tmp, "train.txt"), Path(tmp, f"run-{autocast}"), config, dev_path=Path(tmp, "dev.txt"),
                              device=device, progress=False, log=lambda *a: None)
            metrics = trainer.train()
            run = {k: metrics[k] for k in ("train_loss", "dev_forward_ppl", "dev_backward_ppl", "dev_ppl", "dev_tokens")}
            run["wall_seconds"] = round(time.time() - start, 1)
            result["runs"][autocast] = run
            print(autocast, run, flush=True)
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
