"""One pretraining run of the default config on the full LM corpus, fp32 or bf16 autocast, timed in CPU seconds.

Issue 21, item 4: run it twice (``--autocast none`` and ``--autocast bfloat16``, same seed, data and
schedule), each on one thread, then compare dev perplexity at the same steps and tokens per CPU-second:

    OMP_NUM_THREADS=1 python benchmarks/autocast_pretrain_long.py runs/ac_fp32 --autocast none --steps 2000
    OMP_NUM_THREADS=1 python benchmarks/autocast_pretrain_long.py runs/ac_bf16 --autocast bfloat16 --steps 2000
    python benchmarks/autocast_pretrain_long.py --compare runs/ac_fp32 runs/ac_bf16

The real trainer (``Trainer``) and the config's own tokenisation; ``--steps`` sets ``max_steps`` (the cosine
schedule's length), dev perplexity (full ``dev.txt``) at every ``--every`` steps. ``timing.jsonl`` in the run
directory records the process CPU time and wall time of the training updates alone (dev evaluations and
checkpoints excluded), so the rate holds on a shared machine. A stopped run continues with ``--resume``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402

LM = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "lm-corpus"


class Timing:
    """CPU and wall seconds spent inside training updates, written every ``every`` steps."""

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every
        self.cpu = self.wall = 0.0
        self.last_cpu, self.last_wall = time.process_time(), time.time()
        if path.is_file():  # resumed: continue the totals
            lines = path.read_text(encoding="utf-8").splitlines()
            if lines:
                last = json.loads(lines[-1])
                self.cpu, self.wall = last["train_cpu_seconds"], last["train_wall_seconds"]

    def on_step(self, trainer) -> None:
        now_cpu, now_wall = time.process_time(), time.time()
        self.cpu += now_cpu - self.last_cpu
        self.wall += now_wall - self.last_wall
        if trainer.step % self.every == 0:
            record = {"step": trainer.step, "tokens_seen": trainer.tokens_seen, "train_cpu_seconds": round(self.cpu, 2),
                      "train_wall_seconds": round(self.wall, 2), "load_average": os.getloadavg()}
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        # a checkpoint (and its dev evaluation) runs after this hook: do not count it
        self.last_cpu, self.last_wall = time.process_time(), time.time()


def run(args) -> None:
    from spacy_elmo.training.config import PretrainConfig
    from spacy_elmo.training.trainer import Trainer

    timing = Timing(args.run_dir / "timing.jsonl", args.log_every)
    if args.resume:
        # the schedule's length should change only before warm-up ends (where it changes nothing yet)
        overrides = {"training.checkpoint_every_steps": args.every}
        if args.steps:
            overrides["training.max_steps"] = args.steps
        trainer = Trainer(LM / "train.txt", args.run_dir, dev_path=LM / "dev.txt", resume=True, progress=False,
                          resume_overrides=overrides)
    else:
        config = PretrainConfig.from_file(args.config)
        t = config.training
        t.max_steps, t.autocast = args.steps or t.max_steps, args.autocast
        t.checkpoint_every_steps, t.checkpoint_every_minutes = args.every, 0
        trainer = Trainer(LM / "train.txt", args.run_dir, config, dev_path=LM / "dev.txt", progress=False)

    # The hook runs before the checkpoint of that step; re-arm the clocks after it, at the next step's start.
    original_metrics = trainer.metrics

    def metrics_then_rearm(loss):
        out = original_metrics(loss)
        timing.last_cpu, timing.last_wall = time.process_time(), time.time()
        return out

    trainer.metrics = metrics_then_rearm
    timing.last_cpu, timing.last_wall = time.process_time(), time.time()
    trainer.train(on_step=timing.on_step)


def timed_intervals(timing, checkpoints):
    """(tokens, CPU seconds, wall seconds) of the training updates whose time was recorded.

    ``timing.jsonl`` holds running totals written every ``--log-every`` steps; a session stopped between
    two records loses the time of its last steps, and the next session continues the totals from the last
    record while training from the stop's checkpoint. So each record is compared with the record before
    it, or, across a stop, with the checkpoint the session resumed from (its tokens, the last totals).
    """
    tokens = cpu = wall = 0.0
    prev = {"step": 0, "tokens_seen": 0, "train_cpu_seconds": 0.0, "train_wall_seconds": 0.0}
    for record in timing:
        resumed = [c for c in checkpoints if prev["step"] < c["step"] < record["step"]]
        start_tokens = resumed[-1]["tokens_seen"] if resumed else prev["tokens_seen"]
        tokens += record["tokens_seen"] - start_tokens
        cpu += record["train_cpu_seconds"] - prev["train_cpu_seconds"]
        wall += record["train_wall_seconds"] - prev["train_wall_seconds"]
        prev = record
    return tokens, cpu, wall


def compare(dirs) -> None:
    rows = {}
    for d in dirs:
        log = [json.loads(line) for line in (d / "log.jsonl").read_text(encoding="utf-8").splitlines()]
        timing = [json.loads(line) for line in (d / "timing.jsonl").read_text(encoding="utf-8").splitlines()]
        tokens, cpu, wall = timed_intervals(timing, log)
        rows[str(d)] = {
            "dev": {m["step"]: (m["dev_forward_ppl"], m["dev_backward_ppl"]) for m in log},
            "tokens_per_cpu_second": tokens / cpu,
            "tokens_per_wall_second": tokens / wall,
            "timed_tokens": tokens,
            "last_timed_step": timing[-1]["step"],
        }
    print(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument("--autocast", default="none", choices=["none", "bfloat16"])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "pretrain" / "default.cfg")
    parser.add_argument("--steps", type=int, default=None, help="max_steps (default: the config's); with --resume, a new max_steps")
    parser.add_argument("--every", type=int, default=500, help="dev perplexity and a checkpoint every this many steps")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--compare", type=Path, nargs="+")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
    else:
        run(args)


if __name__ == "__main__":
    main()
