"""Embed a whole file of documents, in chunks, resumably, optionally in several processes.

The unit of work is a chunk of ``chunk_size`` consecutive documents: it is embedded
and written as one part file (see :mod:`spacy_elmo.application.embedding_io`), so an interruption
loses at most the chunks in flight, and a rerun of the same command skips every part
already on disk. With ``n_process > 1`` each worker process loads the model once and
writes its own parts; the parent only reads the input and counts progress.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy

from .analysis import LayerSpec, parse_layers
from ..bilm.errors import ElmoError
from .embedding_io import EmbedSource, PartialRun, output_format

DEFAULT_CHUNK_SIZE = 256


@dataclass
class EmbedSummary:
    n_docs: int
    n_tokens: int
    n_chunks: int
    resumed_chunks: int
    finished: bool
    output: Path


class DocEmbedder:
    """Docs in, one array per doc out (per the layer spec), via the pipeline's "elmo" component."""

    def __init__(self, nlp, layers: LayerSpec, fmt: str, batch_size: int = 64):
        from ..pipeline.data import ElmoData

        self._ElmoData = ElmoData
        self.nlp = nlp
        self.layers = layers
        self.fmt = fmt
        self.batch_size = batch_size

    def to_docs(self, items: Sequence[Any]) -> List[Any]:
        from spacy.tokens import Doc

        docs = []
        for item in items:
            if isinstance(item, bytes):
                docs.append(Doc(self.nlp.vocab).from_bytes(item))
            else:
                docs.append(self.nlp.make_doc(item))
        return docs

    def __call__(self, items: Sequence[Any]) -> Tuple[List[Any], List[numpy.ndarray]]:
        # The whole chunk in one pipe batch: the component sorts its sentences by length and
        # batches them itself (``batch_size`` rows, ``max_batch_tokens``), which pads least.
        docs = list(self.nlp.pipe(self.to_docs(items), batch_size=max(1, len(items))))
        arrays = [self.select(doc) for doc in docs]
        return docs, arrays

    def select(self, doc) -> numpy.ndarray:
        """The requested layers of one doc; for a DocBin output also what is stored on the doc."""
        data = doc._.elmo_data
        spec = self.layers
        if spec == "mix":
            array, stored = data.vectors, data
        elif spec == "top":
            array = data.layers[-1]
            stored = self._ElmoData(data.layers[-1:], numpy.ones(1, numpy.float32))
        elif spec == "average":
            array = data.layers.mean(axis=0)
            stored = self._ElmoData(data.layers, numpy.full(data.n_layers, 1.0 / data.n_layers, numpy.float32))
        elif spec == "all":
            array, stored = data.layers, self._ElmoData(data.layers, None)
        else:
            array = data.layers[list(spec)]
            stored = self._ElmoData(array, None)
        if self.fmt == "docbin":
            doc._.elmo_data = stored
        return numpy.ascontiguousarray(array, dtype=numpy.float32)


def _embed_and_write(embedder: DocEmbedder, run: PartialRun, k: int, items: Sequence[Any]) -> Tuple[int, int, int]:
    docs, arrays = embedder(items)
    run.write_part(k, docs, arrays)
    return k, len(docs), sum(len(d) for d in docs)


# -- worker processes ---------------------------------------------------------------------------------
_WORKER: Dict[str, Any] = {}


def _worker_init(load_args: Dict[str, Any], layers: LayerSpec, fmt: str, batch_size: int, output: str, manifest: Dict[str, Any], threads: int) -> None:
    import torch

    from .loading import load_nlp

    torch.set_num_threads(threads)
    nlp = load_nlp(**load_args)
    _WORKER["embedder"] = DocEmbedder(nlp, layers, fmt, batch_size)
    _WORKER["run"] = PartialRun(Path(output), manifest)


def _worker_task(task: Tuple[int, List[Any]]) -> Tuple[int, int, int]:
    k, items = task
    return _embed_and_write(_WORKER["embedder"], _WORKER["run"], k, items)


# -- the driver ---------------------------------------------------------------------------------------
def embed_file(
    input_path: Path,
    output: Path,
    *,
    layers: str = "mix",
    model: Optional[Path] = None,
    options: Optional[Path] = None,
    weights: Optional[Path] = None,
    lang: str = "en",
    batch_size: int = 64,
    n_process: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    restart: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: Optional[int] = None,
    on_chunk: Optional[Callable[[int], None]] = None,
) -> EmbedSummary:
    """Embed ``input_path`` into ``output``; rerunning after an interruption continues it.

    ``stop_after`` (chunks written in this call) and ``on_chunk`` exist so that tests can
    interrupt a run at a known point; a user simply presses Ctrl-C or loses the machine.
    """
    from .loading import model_source

    input_path, output = Path(input_path), Path(output)
    fmt = output_format(output)
    if batch_size < 1 or chunk_size < 1 or n_process < 1:
        raise ElmoError("--batch-size, --chunk-size and --n-process must be at least 1.")
    if output.exists() and not overwrite:
        raise ElmoError(f"{output} already exists (a finished run). Add --overwrite to replace it.")
    spec = parse_layers(layers)
    source = EmbedSource.open(input_path)
    if source.n_docs == 0:
        raise ElmoError(f"{input_path} is empty: there are no documents (lines) to embed.")
    manifest = {
        "input": {"path": str(input_path.resolve()), "n_docs": source.n_docs, "sha256": source.sha256},
        "model": model_source(model, options, weights),
        "layers": layers,
        "lang": lang,
        "chunk_size": chunk_size,
        "format": fmt,
    }
    run = PartialRun.start_or_resume(output, manifest, restart=restart)
    done = set(run.done_chunks())
    todo = [k for k in range(run.n_chunks) if k not in done]
    # Rows per biLM call; no layer cache: each document is embedded once, and memory stays flat.
    load_args = dict(model=model, options=options, weights=weights, lang=lang,
                     elmo_settings={"batch_size": batch_size, "cache_size_mb": 0.0})
    # Load (and check the layer numbers against) the model before the progress bar starts, so
    # that a bad model or option is one clear line. Worker processes load their own copy.
    nlp = _load_checked(load_args, spec) if todo else None
    if n_process > 1:
        nlp = None

    bar = None
    if progress:
        from tqdm import tqdm

        done_docs = sum(run.chunk_range(k)[1] - run.chunk_range(k)[0] for k in done)
        bar = tqdm(total=source.n_docs, initial=done_docs, unit="doc", desc=f"embed -> {output.name}", dynamic_ncols=True)

    n_tokens = 0
    written = 0

    def tasks():
        items: List[Any] = []
        todo_set = set(todo)
        k = 0
        for items_index, item in enumerate(source.items()):
            k = items_index // chunk_size
            if k in todo_set:
                items.append(item)
            if (items_index + 1) % chunk_size == 0 or items_index + 1 == source.n_docs:
                if k in todo_set:
                    yield k, items
                items = []

    try:
        if not todo:
            pass
        elif n_process == 1:
            embedder = DocEmbedder(nlp, spec, fmt, batch_size)
            for k, items in tasks():
                _, n_docs, n_tok = _embed_and_write(embedder, run, k, items)
                n_tokens += n_tok
                written += 1
                if bar is not None:
                    bar.update(n_docs)
                if on_chunk is not None:
                    on_chunk(k)
                if stop_after is not None and written >= stop_after:
                    break
        else:
            n_tokens, written = _run_pool(load_args, spec, fmt, batch_size, output, run, tasks(), n_process, bar, stop_after)
    finally:
        if bar is not None:
            bar.close()
    finished = len(run.done_chunks()) == run.n_chunks
    if finished:
        run.merge(layers)
    return EmbedSummary(source.n_docs, n_tokens, run.n_chunks, len(done), finished, output)


def _load_checked(load_args: Dict[str, Any], spec: LayerSpec):
    from .loading import elmo_pipe, load_nlp

    nlp = load_nlp(**load_args)
    n_layers = elmo_pipe(nlp).bilm.options.n_output_layers
    if isinstance(spec, tuple):
        parse_layers(",".join(map(str, spec)), n_layers)  # raises a clear error on a bad index
    return nlp


def _run_pool(load_args, spec, fmt, batch_size, output, run, tasks, n_process, bar, stop_after) -> Tuple[int, int]:
    """Workers embed and write chunks; at most ``2 * n_process`` chunks are read ahead."""
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // n_process)
    ctx = multiprocessing.get_context("spawn")
    n_tokens = written = 0
    with ctx.Pool(n_process, initializer=_worker_init, initargs=(load_args, spec, fmt, batch_size, str(output), run.manifest, threads)) as pool:
        pending = []
        tasks = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * n_process and (stop_after is None or written + len(pending) < stop_after):
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                pending.append(pool.apply_async(_worker_task, (task,)))
            if not pending:
                break
            result = pending.pop(0)
            _, n_docs, n_tok = result.get()
            n_tokens += n_tok
            written += 1
            if bar is not None:
                bar.update(n_docs)
    return n_tokens, written
