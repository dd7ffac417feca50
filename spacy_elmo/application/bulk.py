"""Embed a whole file of documents, in chunks, resumably, optionally in several processes.

The unit of work is a chunk of ``chunk_size`` consecutive documents: it is embedded
and written as one part file (see :mod:`spacy_elmo.application.embedding_io`), so an interruption
loses at most the chunks in flight, and a rerun of the same command skips every part
already on disk. With ``n_process > 1`` each worker process loads the model once and
writes its own parts; the parent only reads the input and counts progress.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy

from ..bilm.batching import DEFAULT_BATCH_SIZE
from ..bilm.fast.precision import check_precision
from ..errors import ElmoError
from ..layer_choice import LayerSpec, mix_coefficients, parse_layers, select_layers
from ..progress import progress_bar
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

    def __init__(self, nlp, layers: LayerSpec, fmt: str, batch_size: int = DEFAULT_BATCH_SIZE):
        from ..pipeline.data import ElmoData

        self._ElmoData = ElmoData
        self.nlp = nlp
        self.layers = layers
        self.fmt = fmt
        self.batch_size = batch_size

    def to_docs(self, items: Sequence[Any]) -> List[Any]:
        from spacy.tokens import Doc

        from ..pipeline.data import hooks_set_again

        docs = []
        for item in items:
            if isinstance(item, bytes):
                with hooks_set_again():  # the pipeline runs on them next, which sets the hooks again
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
        """The requested layers of one doc (:func:`~spacy_elmo.layer_choice.select_layers`); for a
        DocBin output, the doc keeps what gives the same vectors as ``token._.elmo`` (:func:`stored_data`)."""
        data = doc._.elmo_data
        array = select_layers(data.layers, self.layers, data.vectors)
        if self.fmt == "docbin":
            doc._.elmo_data = stored_data(data, self.layers, self._ElmoData)
        return numpy.ascontiguousarray(array, dtype=numpy.float32)


def stored_data(data, spec: LayerSpec, elmo_data_cls):
    """What a DocBin output stores for a layer choice: the component's data for ``mix``; the top layer;
    all layers with equal weights for ``average``; the kept layers, concatenated, for ``all`` and numbers."""
    if spec == "mix":
        return data
    if spec == "top":
        return elmo_data_cls(data.layers[-1:], numpy.ones(1, numpy.float32))
    if spec == "average":
        return elmo_data_cls(data.layers, mix_coefficients("average", data.n_output_layers))
    return elmo_data_cls(select_layers(data.layers, spec), None)


def _embed_and_write(embedder: DocEmbedder, run: PartialRun, k: int, items: Sequence[Any]) -> Tuple[int, int, int]:
    docs, arrays = embedder(items)
    run.write_part(k, docs, arrays)
    return k, len(docs), sum(len(d) for d in docs)


# -- the job: planned and checked once, run by one of the engines ---------------------------------------
@dataclass
class EmbedJob:
    """What is left of one run, and what a worker needs to do its share of it (all JSON-able)."""

    source: EmbedSource
    run: PartialRun
    layers: str
    batch_size: int
    load_args: Dict[str, Any]
    resumed: List[int]

    @property
    def todo(self) -> List[int]:
        done = set(self.resumed)
        return [k for k in range(self.run.n_chunks) if k not in done]

    @property
    def worker_settings(self) -> Tuple[Any, ...]:
        """Everything a worker process needs besides a chunk: absolute paths, so any host can use them."""
        return (self.load_args, parse_layers(self.layers), self.run.fmt, self.batch_size, str(self.run.output), self.run.manifest)

    def tasks(self) -> Iterator[Tuple[int, List[Any]]]:
        """``(chunk number, its documents)`` for every chunk still to do, read lazily from the input."""
        todo = set(self.todo)
        size = self.run.chunk_size
        items: List[Any] = []
        for index, item in enumerate(self.source.items()):
            k = index // size
            if k in todo:
                items.append(item)
            if (index + 1) % size == 0 or index + 1 == self.source.n_docs:
                if k in todo:
                    yield k, items
                items = []

    def load_checked(self):
        """Load the model here and check the layer numbers against it, so that a bad model or
        option is one clear line before any worker starts."""
        from .loading import elmo_pipe, load_nlp

        nlp = load_nlp(**self.load_args)
        parse_layers(self.layers, elmo_pipe(nlp).bilm.options.n_output_layers)  # a clear error on a bad layer number
        return nlp

    def finish(self, n_tokens: int) -> EmbedSummary:
        """Assemble ``OUTPUT`` from the parts once every chunk is on disk."""
        finished = len(self.run.done_chunks()) == self.run.n_chunks
        if finished:
            self.run.merge(self.layers)
        return EmbedSummary(self.source.n_docs, n_tokens, self.run.n_chunks, len(self.resumed), finished, self.run.output)


def start_job(
    input_path: Path,
    output: Path,
    *,
    layers: str = "mix",
    model: Optional[Path] = None,
    options: Optional[Path] = None,
    weights: Optional[Path] = None,
    lang: Optional[str] = None,
    precision: str = "fp32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    restart: bool = False,
    overwrite: bool = False,
) -> EmbedJob:
    """Check the settings and the input, then start ``OUTPUT.partial/`` or resume the matching one."""
    from .loading import model_source

    input_path, output = Path(input_path), Path(output).absolute()
    fmt = output_format(output)
    if batch_size < 1 or chunk_size < 1:
        raise ElmoError("--batch-size and --chunk-size must be at least 1.")
    if output.exists() and not overwrite:
        raise ElmoError(f"{output} already exists (a finished run). Add --overwrite to replace it.")
    parse_layers(layers)
    check_precision(precision)
    source = EmbedSource.open(input_path)
    if lang is not None and source.kind != "text":
        raise ElmoError(
            f"--lang {lang!r} does not apply to {input_path}: a .spacy DocBin brings its own tokens, which are embedded "
            "as they are. Drop --lang, or give plain text (one document per line) to tokenize it."
        )
    if source.n_docs == 0:
        raise ElmoError(f"{input_path} is empty: there are no documents (lines) to embed.")
    manifest = {
        "input": {"path": str(input_path.resolve()), "n_docs": source.n_docs, "sha256": source.sha256},
        "model": model_source(model, options, weights),
        "layers": layers,
        "lang": lang or "en",  # what older versions wrote, so that their runs resume
        "chunk_size": chunk_size,
        "format": fmt,
    }
    if precision != "fp32":  # a run never mixes precisions; fp32 runs keep the manifest older versions wrote
        manifest["precision"] = precision
    run = PartialRun.start_or_resume(output, manifest, restart=restart)
    # Rows per biLM call; no layer cache: each document is embedded once, and memory stays flat.
    # Absolute paths: workers on other hosts (or in other directories) load the same files.
    load_args = dict(model=_absolute(model), options=_absolute(options), weights=_absolute(weights), lang=lang,
                     elmo_settings={"batch_size": batch_size, "cache_size_mb": 0.0, "precision": precision})
    return EmbedJob(source, run, layers, batch_size, load_args, run.done_chunks())


def _absolute(path: Optional[Path]) -> Optional[Path]:
    """Absolute, so that workers elsewhere read the same files; a packaged model's name stays a name."""
    from ..models import is_packaged_name

    if path is None:
        return None
    path = Path(path)
    return path if not path.exists() and is_packaged_name(str(path)) else path.absolute()


class ChunkProgress:
    """The client's progress bar: documents done (the bar), chunks done and tokens/s (its postfix)."""

    def __init__(self, job: EmbedJob, enabled: bool = True):
        self.n_tokens = 0
        self.written = 0  # chunks written by this call
        self._done = len(job.resumed)
        self._n_chunks = job.run.n_chunks
        self._start = time.perf_counter()
        done_docs = sum(job.run.chunk_range(k)[1] - job.run.chunk_range(k)[0] for k in job.resumed)
        self.bar = progress_bar(enabled, total=job.source.n_docs, initial=done_docs, unit="doc", desc=f"embed -> {job.run.output.name}")

    def update(self, n_docs: int, n_tokens: int) -> None:
        self.n_tokens += n_tokens
        self.written += 1
        self._done += 1
        if self.bar is not None:
            rate = self.n_tokens / max(time.perf_counter() - self._start, 1e-9)
            self.bar.set_postfix_str(f"chunks {self._done}/{self._n_chunks}, {rate:,.0f} tok/s", refresh=False)
            self.bar.update(n_docs)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- worker processes (a multiprocessing pool here; Dask workers in .distributed) ------------------------
_WORKER: Dict[str, Any] = {"loads": 0}


def _worker_init(settings: Tuple[Any, ...], threads: int) -> None:
    """Make this process ready for chunks of one job; the model is loaded only if it changed."""
    import torch

    from .loading import load_nlp

    load_args, spec, fmt, batch_size, output, manifest = settings
    torch.set_num_threads(threads)
    if _WORKER.get("load_args") != load_args:
        _WORKER["nlp"] = None  # free the old model before loading another
        _WORKER["nlp"] = load_nlp(**load_args)
        _WORKER["load_args"] = load_args
        _WORKER["loads"] += 1
    _WORKER["embedder"] = DocEmbedder(_WORKER["nlp"], spec, fmt, batch_size)
    _WORKER["run"] = PartialRun(Path(output), manifest)
    _WORKER["settings"] = settings


def _worker_task(task: Tuple[int, List[Any]]) -> Tuple[int, int, int]:
    k, items = task
    return _embed_and_write(_WORKER["embedder"], _WORKER["run"], k, items)


def worker_embed(settings: Tuple[Any, ...], threads: int, task: Tuple[int, List[Any]]) -> Tuple[int, int, int]:
    """One chunk in a long-lived worker that may serve several jobs (a Dask worker): it gets
    ready for a job on that job's first chunk, loading the model only if another was loaded."""
    if _WORKER.get("settings") != settings:
        _worker_init(settings, threads)
    return _worker_task(task)


# -- the driver ---------------------------------------------------------------------------------------
def embed_file(
    input_path: Path,
    output: Path,
    *,
    n_process: int = 1,
    progress: bool = True,
    stop_after: Optional[int] = None,
    on_chunk: Optional[Callable[[int], None]] = None,
    **settings: Any,
) -> EmbedSummary:
    """Embed ``input_path`` into ``output``; rerunning after an interruption continues it.

    ``settings`` are those of :func:`start_job` (``layers``, ``model``, ``options``, ``weights``,
    ``lang``, ``precision``, ``batch_size``, ``chunk_size``, ``restart``, ``overwrite``). ``stop_after`` (chunks
    written in this call) and ``on_chunk`` exist so that tests can interrupt a run at a known
    point; a user simply presses Ctrl-C or loses the machine.
    """
    if n_process < 1:
        raise ElmoError("--n-process must be at least 1.")
    job = start_job(input_path, output, **settings)
    # Worker processes load their own copy; this one checks the model first either way.
    nlp = job.load_checked() if job.todo else None
    bar = ChunkProgress(job, progress)
    try:
        if not job.todo:
            pass
        elif n_process == 1:
            embedder = DocEmbedder(nlp, parse_layers(job.layers), job.run.fmt, job.batch_size)
            for k, items in job.tasks():
                _, n_docs, n_tok = _embed_and_write(embedder, job.run, k, items)
                bar.update(n_docs, n_tok)
                if on_chunk is not None:
                    on_chunk(k)
                if stop_after is not None and bar.written >= stop_after:
                    break
        else:
            del nlp
            _run_pool(job, n_process, bar, stop_after)
    finally:
        bar.close()
    return job.finish(bar.n_tokens)


def _run_pool(job: EmbedJob, n_process: int, bar: ChunkProgress, stop_after: Optional[int]) -> None:
    """Workers embed and write chunks; at most ``2 * n_process`` chunks are read ahead."""
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // n_process)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n_process, initializer=_worker_init, initargs=(job.worker_settings, threads)) as pool:
        pending: List[Any] = []
        tasks = job.tasks()
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * n_process and (stop_after is None or bar.written + len(pending) < stop_after):
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                pending.append(pool.apply_async(_worker_task, (task,)))
            if not pending:
                break
            _, n_docs, n_tok = pending.pop(0).get()
            bar.update(n_docs, n_tok)
