"""Bulk ``embed`` throughput: one process, ``--n-process 2`` and a 2-worker Dask ``LocalCluster``.

Throughput: for each engine, one whole run (input read, chunks embedded and written, OUTPUT
assembled) of the same documents into ``.npz``; docs/s and tokens/s of its wall time. For
``--n-process`` the worker processes start and load the model inside that time; the Dask cluster
is started before (as a running cluster would be) and timed twice: cold (its workers load the
model during the run) and warm (a second run: workers keep their model).

Overhead per chunk: runs of 1-token documents, one per chunk, where embedding costs next to
nothing, with ``--overhead-chunks`` and 5x as many chunks; the difference in wall time over the
difference in chunks is what a chunk costs beyond its embedding (scheduling, a part file, progress),
and what is left is the fixed cost of a run (model load, process start, final assembly).

    python benchmarks/embed_cluster.py                        # default model, 600 lines of the LM dev set
    python benchmarks/embed_cluster.py --docs 2000 --model DIR --out benchmarks/results/embed_cluster.json

Needs the ``dask`` extra. Without ../shared/data the documents are synthetic (benchmarks/synthetic.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine_description, note_load_after, write_json  # noqa: E402

LM_DEV = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "lm-corpus" / "dev.txt"


def documents(n: int) -> List[str]:
    if LM_DEV.is_file():
        lines = [line for line in LM_DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
        return (lines * (n // max(1, len(lines)) + 1))[:n]
    import numpy

    from synthetic import sentence_lengths, words

    rng = numpy.random.default_rng(0)
    vocab = words(5000)
    return [" ".join(rng.choice(vocab, size=int(k))) for k in sentence_lengths(n, rng)]


def timed(run):
    start = time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - start
    assert summary.finished
    return seconds, summary


def engines(client, model: Optional[Path]):
    """``(label, run(text, out, chunk_size))`` for the three engines; the cluster's first run is cold."""
    from spacy_elmo.application.bulk import embed_file
    from spacy_elmo.application.distributed import embed_on_cluster

    common = dict(model=model, layers="all", progress=False, overwrite=True)
    return [
        ("--n-process 1", lambda text, out, chunk: embed_file(text, out, n_process=1, chunk_size=chunk, **common)),
        ("--n-process 2", lambda text, out, chunk: embed_file(text, out, n_process=2, chunk_size=chunk, **common)),
        ("--cluster local:2", lambda text, out, chunk: embed_on_cluster(client, text, out, chunk_size=chunk, **common)),
    ]


def write_docs(path: Path, docs: List[str]) -> Path:
    path.write_text("\n".join(docs) + "\n", encoding="utf-8")
    return path


def throughput(runs, docs: List[str], chunk_size: int, workdir: Path) -> List[Dict]:
    text = write_docs(workdir / "docs.txt", docs)
    rows = []
    for label, run in runs:
        for repeat in ((" (cold)", " (warm)") if "cluster" in label else ("",)):
            seconds, summary = timed(lambda: run(text, workdir / "out.npz", chunk_size))
            rows.append({"engine": label + repeat, "seconds": round(seconds, 2), "docs": summary.n_docs,
                         "tokens": summary.n_tokens, "chunks": summary.n_chunks,
                         "docs_per_s": round(summary.n_docs / seconds, 1), "tokens_per_s": round(summary.n_tokens / seconds, 1)})
            print(rows[-1], flush=True)
    return rows


def overhead(runs, n_chunks: int, workdir: Path) -> List[Dict]:
    rows = []
    for label, run in runs:
        seconds = {}
        for n in (n_chunks, 5 * n_chunks):
            text = write_docs(workdir / f"one-token-{n}.txt", ["a"] * n)
            seconds[n], _ = timed(lambda: run(text, workdir / "out.npz", 1))
        per_chunk = (seconds[5 * n_chunks] - seconds[n_chunks]) / (4 * n_chunks)
        rows.append({"engine": label, "seconds": {str(k): round(v, 2) for k, v in seconds.items()},
                     "ms_per_chunk": round(1000 * per_chunk, 1), "fixed_s": round(seconds[n_chunks] - n_chunks * per_chunk, 2)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=600, help="documents (lines) in the throughput runs")
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--overhead-chunks", type=int, default=40, help="1-token chunks in the shorter overhead run (the longer has 5x)")
    parser.add_argument("--model", type=Path, default=None, help="default: the packaged model")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed_cluster.json")
    args = parser.parse_args()

    import distributed

    raw: Dict = {"machine": machine_description(), "load_average_before": os.getloadavg(),
                 "settings": {"docs": args.docs, "chunk_size": args.chunk_size, "overhead_chunks": args.overhead_chunks,
                              "model": str(args.model or "packaged default"), "layers": "all", "format": ".npz",
                              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}}
    with tempfile.TemporaryDirectory() as tmp, \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        runs = engines(client, args.model)
        print("throughput:", flush=True)
        raw["throughput"] = throughput(runs, documents(args.docs), args.chunk_size, Path(tmp))
        print("overhead per chunk (1-token documents, one per chunk):", flush=True)
        raw["overhead"] = overhead(runs, args.overhead_chunks, Path(tmp))
    note_load_after(raw)
    write_json(args.out, raw)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
