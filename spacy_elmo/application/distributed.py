"""Embed a file on a Dask cluster: the chunks of :mod:`.bulk` become Dask tasks.

The client plans the run exactly as ``embed`` does (the same ``OUTPUT.partial/``, manifest and
resume rules), reads the input, and sends each chunk's documents to a worker. A worker loads the
model once (per worker process, not per task), embeds the chunk and writes its part file itself,
so ``OUTPUT`` must be on a filesystem that the client and every worker see at the same path. The
client assembles ``OUTPUT`` from the parts as the single-process run does.

Faults lose nothing: a part is written under a temporary name and renamed, so a worker killed
mid-chunk leaves no part, and the scheduler gives the chunk to another worker (up to Dask's
``distributed.scheduler.allowed-failures`` deaths per chunk). A killed client leaves whole parts;
the same command resumes.

Needs the optional ``dask`` extra (``dask`` and ``distributed``).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import ElmoError
from .bulk import ChunkProgress, EmbedJob, EmbedSummary, start_job, worker_embed
from .embedding_io import partial_dir

DASK_MISSING = "Embedding on a Dask cluster needs the optional 'dask' extra: pip install 'spacy-elmo[dask]' (dask and distributed)."
CONNECT_TIMEOUT_S = 20.0


def require_distributed():
    """The ``distributed`` package, or one line that says what to install."""
    try:
        import distributed
    except ImportError as err:
        raise ElmoError(DASK_MISSING) from err
    return distributed


def parse_cluster(spec: str) -> int:
    """``local:N`` -> N worker processes."""
    kind, _, n = spec.partition(":")
    if kind != "local" or not n.isdigit() or int(n) < 1:
        raise ElmoError(f"--cluster {spec!r} is not understood: use local:N (N worker processes on this machine), "
                        "or --scheduler ADDRESS for a running Dask cluster.")
    return int(n)


@contextlib.contextmanager
def connect(scheduler: Optional[str] = None, cluster: Optional[str] = None, timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``scheduler``, or of a new ``LocalCluster``
    of ``local:N`` single-threaded worker processes (closed on exit)."""
    if (scheduler is None) == (cluster is None):
        raise ElmoError("Give either --scheduler ADDRESS or --cluster local:N, not both.")
    n_workers = parse_cluster(cluster) if cluster is not None else 0
    distributed = require_distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise ElmoError(f"Cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: {err}). "
                            "Start one with `dask scheduler` and give the address it prints (tcp://HOST:8786).") from err
        with client:
            yield client
        return
    # A random port for its HTTP server: 8787 may belong to another scheduler on this machine.
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        with distributed.Client(local) as client:
            yield client


def embed_on_cluster(
    client,
    input_path: Path,
    output: Path,
    *,
    progress: bool = True,
    stop_after: Optional[int] = None,
    on_chunk: Optional[Callable[[int], None]] = None,
    **settings: Any,
) -> EmbedSummary:
    """:func:`.bulk.embed_file` with the chunks run on the workers of a ``distributed.Client``.

    The same settings (those of :func:`.bulk.start_job`), the same outputs and the same
    ``OUTPUT.partial/`` (a run may be resumed by either). ``OUTPUT`` and the model must be at the
    same path on the client and every worker.
    """
    require_distributed()
    job = start_job(input_path, output, **settings)
    if job.todo:
        job.load_checked()  # a bad model or layer number is one line here, not one error per worker
    bar = ChunkProgress(job, progress)
    try:
        if job.todo:
            _run_on_cluster(client, job, bar, stop_after, on_chunk)
    finally:
        bar.close()
    return job.finish(bar.n_tokens)


def _run_on_cluster(client, job: EmbedJob, bar: ChunkProgress, stop_after: Optional[int],
                    on_chunk: Optional[Callable[[int], None]]) -> None:
    """Keep about two chunks per worker thread in flight; the input is read only that far ahead."""
    from distributed import as_completed

    settings = job.worker_settings
    run_id = uuid.uuid4().hex[:8]
    tasks = job.tasks()
    running: Dict[str, Tuple[int, Any]] = {}
    finished = as_completed()
    slots = _Slots(client)

    def submit_more() -> None:
        while len(running) < slots.limit() and (stop_after is None or bar.written + len(running) < stop_after):
            task = next(tasks, None)
            if task is None:
                return
            k = task[0]
            future = client.submit(_chunk_task, settings, slots.workers_per_host, task, key=f"elmo-embed-{run_id}-chunk-{k}")
            running[future.key] = (k, future)
            finished.add(future)

    try:
        submit_more()
        for future in finished:
            k, _ = running.pop(future.key)
            _, n_docs, n_tokens = _result(future, k)
            bar.update(n_docs, n_tokens)
            if on_chunk is not None:
                on_chunk(k)
            submit_more()
    finally:
        if running:  # stopped early or failed: the chunks in flight are not waited for
            client.cancel([f for _, f in running.values()])


class _Slots:
    """How many chunks to keep in flight, and worker processes per host (for torch's threads);
    asked of the scheduler at most every few seconds, as workers may come and go."""

    def __init__(self, client, every_s: float = 5.0):
        self.client = client
        self.every_s = every_s
        self._when = -every_s
        self._limit = 2
        self.workers_per_host: Dict[str, int] = {}

    def limit(self) -> int:
        if time.monotonic() - self._when >= self.every_s:
            from distributed.comm import get_address_host

            nthreads = self.client.nthreads()  # {worker address: threads}
            per_host: Dict[str, int] = {}
            for address in nthreads:
                host = get_address_host(address)
                per_host[host] = per_host.get(host, 0) + 1
            self.workers_per_host = per_host
            self._limit = 2 * max(1, sum(nthreads.values()))
            self._when = time.monotonic()
        return self._limit


def _result(future, k: int) -> Tuple[int, int, int]:
    """A chunk's result; a failure becomes one line that names the chunk (finished chunks are kept)."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as err:
        raise ElmoError(f"Chunk {k} killed every worker that ran it ({err}); out of memory? Try a smaller --batch-size "
                        "or --chunk-size. Finished chunks are kept: run the same command again to continue.") from err
    except ElmoError as err:
        raise ElmoError(f"Chunk {k} failed on a Dask worker: {err}") from err
    except Exception as err:  # anything raised on the worker, re-raised here by Dask
        raise ElmoError(f"Chunk {k} failed on a Dask worker: {type(err).__name__}: {err}") from err


# -- on the worker ---------------------------------------------------------------------------------------
_LOCK = threading.Lock()  # one chunk at a time per worker process: torch uses the cores


def _chunk_task(settings: Tuple[Any, ...], workers_per_host: Dict[str, int], task: Tuple[int, List[Any]]) -> Tuple[int, int, int]:
    """Runs on a Dask worker: embed one chunk and write its part file."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    host = get_address_host(get_worker().address)
    folder = partial_dir(Path(settings[4]))
    with _LOCK:
        if not folder.is_dir():
            raise ElmoError(f"{folder} does not exist on the worker at {host}: the output must be on a filesystem that the "
                            "client and every worker share, at the same path.")
        threads = max(1, _cpu_count() // workers_per_host.get(host, 1))
        return worker_embed(settings, threads, task)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
