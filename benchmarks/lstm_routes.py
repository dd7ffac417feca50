"""Time the fast biLSTM alone (no char CNN, no cache) on the speed workload's batch shapes, per route.

WHY: the LSTM's step loop is where ELMo small's inference time goes; this isolates it so each
change to ``bilm/fast/packed_lstm.py`` can be measured in seconds instead of a full ``speed.py`` run.
Batches are the first ``--sentences`` of CoNLL-2003 eng.testa, 32 at a time in file order, with
the sentence boundaries added and each direction's last step skipped, as ``BiLM.forward`` runs
them; inputs are random (the LSTM's cost does not depend on them). Routes:

- ``stepwise``: both directions advance in the same Python-level step (the GPU / bf16 route);
- ``scripted-serial``: each direction's whole stack as one TorchScript loop, one after the other,
  each op on all intra-op threads;
- ``scripted``: the same loops at once, one direction per worker thread (the CPU fp32 default).

    python benchmarks/lstm_routes.py --sizes small --threads 2 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SIZES, conll_sentences, machine_description, note_load_after, write_json  # noqa: E402

ROUTES = ("stepwise", "scripted-serial", "scripted")


@contextmanager
def route(name: str):
    from spacy_elmo.bilm.fast import packed_lstm, threads

    usable, enabled = packed_lstm._scripted_usable, threads.TWO_DIRECTION_THREADS
    if name == "stepwise":
        packed_lstm._scripted_usable = lambda *args: False
    if name == "scripted-serial":
        threads.TWO_DIRECTION_THREADS = False
    try:
        yield
    finally:
        packed_lstm._scripted_usable, threads.TWO_DIRECTION_THREADS = usable, enabled


def random_stack(size: str):
    from spacy_elmo.bilm import BiLMOptions
    from spacy_elmo.bilm.lstm import BiLstmStack

    torch.manual_seed(0)
    stack = BiLstmStack(BiLMOptions(**SIZES[size])).eval()
    with torch.no_grad():
        for p in stack.parameters():
            p.uniform_(-1, 1).mul_(p.shape[-1] ** -0.5 if p.dim() > 1 else 0.1)
    return stack


def workload(size: str, sentences: int, batch: int):
    dim = SIZES[size].get("projection_dim", 512)
    texts = conll_sentences(limit=sentences)
    torch.manual_seed(1)
    work = []
    for start in range(0, len(texts), batch):
        lengths = torch.tensor(sorted(len(s) + 2 for s in texts[start : start + batch]))  # + boundaries
        work.append((torch.randn(len(lengths), int(lengths.max()), dim), lengths))
    return work, sum(len(s) for s in texts)


def time_route(stack, work, repeats: int) -> List[float]:
    from spacy_elmo.bilm.fast.packed_lstm import fast_bilstm

    times = []
    with torch.inference_mode():
        for x, lengths in work[:2]:  # warm-up: scripting, weight packing, worker threads
            fast_bilstm(stack, x, lengths, skip_final_step=True)
        for _ in range(repeats):
            start = time.perf_counter()
            for x, lengths in work:
                fast_bilstm(stack, x, lengths, skip_final_step=True)
            times.append(time.perf_counter() - start)
    return times


def parity(stack, work) -> float:
    """Largest |route - exact| over outputs and final states of one batch."""
    from spacy_elmo.bilm.fast.packed_lstm import fast_bilstm

    x, lengths = work[len(work) // 2]
    with torch.inference_mode():
        fast = fast_bilstm(stack, x, lengths)
        slow = stack(x, lengths)
    pairs = list(zip(fast[0] + fast[1], slow[0] + slow[1]))
    pairs += [(f, s) for fs, ss in zip(fast[2], slow[2]) for f, s in zip(fs, ss)]
    return max(float((f - s).abs().max()) for f, s in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["small"], choices=list(SIZES))
    parser.add_argument("--threads", nargs="+", type=int, default=[2])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import os

    raw: Dict = {"machine": machine_description(), "load_average_before": os.getloadavg(), "runs": []}
    print(f"machine: {raw['machine']}", flush=True)
    print("| weights | threads | route | LSTM seconds per pass (median) | all passes | LSTM tokens/s | max abs diff vs exact |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        stack = random_stack(size)
        work, tokens = workload(size, args.sentences, args.batch)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for name in args.routes:
                with route(name):
                    times = time_route(stack, work, args.repeats)
                    diff = parity(stack, work)
                seconds = statistics.median(times)
                raw["runs"].append(dict(size=size, threads=threads, route=name, seconds=seconds, seconds_all=times, tokens=tokens, max_abs_diff=diff))
                all_text = ", ".join(f"{t:.3f}" for t in times)
                print(f"| {size} | {threads} | {name} | {seconds:.3f} | {all_text} | {tokens / seconds:,.0f} | {diff:.1e} |", flush=True)
    note_load_after(raw)
    if args.json:
        write_json(args.json, raw)


if __name__ == "__main__":
    main()
