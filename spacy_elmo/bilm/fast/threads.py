"""torch's threads, decided in one place: per inference call, per LSTM direction, per forked worker.

Three choices, each with its reason below and its override:

- **An inference call** (:func:`inference_thread_count`) runs on a thread count that is safe on a busy
  machine and, by default, still uses two cores (``SPACY_ELMO_INFERENCE_THREADS``, :func:`set_inference_threads`).
- **The biLSTM's two directions** (:func:`run_both`) run at the same time, one worker thread each
  (``TWO_DIRECTION_THREADS``), with the intra-op threads the call's plan gives them (:func:`direction_threads`).
- **A forked worker process** (``nlp.pipe(..., n_process=2)``) sets torch to one intra-op thread
  (``SPACY_ELMO_FORKED_WORKER_THREADS``, :func:`set_forked_worker_threads`).

Torch only: nothing here knows spaCy or the biLM.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Optional, Tuple, Union

import torch

# -- one inference call --------------------------------------------------------------------------------
# How many intra-op threads a biLM inference call uses: a safe default on a busy machine.
#
# WHY: torch's OpenMP (GNU libgomp on Linux) makes a team's idle threads spin-wait unless
# ``OMP_WAIT_POLICY=PASSIVE`` was set before torch was imported. When other work shares the cores,
# spinning threads and barrier waits on descheduled threads collapse throughput: ``nlp.pipe`` on a
# loaded 2-core machine ran at 366-1,081 tokens/s with torch's 2 threads, 2,320 with passive waits and
# 2,900 on one thread (BENCHMARKS.md). libgomp reads the policy once, so it cannot be changed later.
#
# So (``"auto"``, the default): ``import spacy_elmo`` sets ``OMP_WAIT_POLICY=PASSIVE`` when torch is not
# imported yet (the CLI, scripts that import spacy_elmo first); then inference uses torch's thread
# count, split between the two LSTM directions. If torch was imported first without that setting
# (``import spacy`` imports torch), an inference call runs on one intra-op thread, so no OpenMP team
# ever spins or waits at a barrier, and the two LSTM directions -- most of the work -- run at the same
# time on two worker threads with one intra-op thread each (where torch's setting and the cores this
# process may use are both >= 2); the token path's new tokens are split over the same two workers
# (:func:`run_split`). Two independent single-threaded workers never wait for each other inside an op:
# on a loaded machine each just gets less CPU, on an idle one both cores work.
#
# Override: ``SPACY_ELMO_INFERENCE_THREADS`` (``auto``, ``torch`` = always torch's setting, or a number)
# before the program starts, or :func:`set_inference_threads` at any time. Training is not affected.
INFERENCE_ENV_VAR = "SPACY_ELMO_INFERENCE_THREADS"
Choice = Union[str, int]  # "auto", "torch" or a number of threads


def _parse_inference_threads(value: Choice) -> Choice:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"inference threads must be >= 1, 'auto' or 'torch'; got {value}.")
        return value
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return "auto"
    if text == "torch":
        return "torch"
    try:
        return _parse_inference_threads(int(text))
    except ValueError:
        raise ValueError(f"{INFERENCE_ENV_VAR}={value!r}: use 'auto', 'torch' or a number of threads.") from None


#: Whether OpenMP waits passively: what OMP_WAIT_POLICY said when this package was imported, which is
#: what libgomp read when torch was imported (``spacy_elmo/__init__`` sets it first where it can).
PASSIVE_WAIT = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"
_choice: Choice = _parse_inference_threads(os.environ.get(INFERENCE_ENV_VAR, "auto"))


def set_inference_threads(choice: Choice) -> None:
    """``"auto"`` (the default, see the module docstring), ``"torch"`` (torch's setting) or a number."""
    global _choice
    _choice = _parse_inference_threads(choice)


def inference_threads() -> Optional[int]:
    """The thread count for the next inference call; None means torch's own setting."""
    if _choice == "torch" or (_choice == "auto" and PASSIVE_WAIT):
        return None
    return 1 if _choice == "auto" else int(_choice)


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS tells it, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))  # Linux (and a few other Unixes) only
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def direction_threads(call_threads: Optional[int] = None, caller_threads: Optional[int] = None) -> int:
    """Intra-op threads each LSTM direction gets when the two run at once; 0: one after the other.

    ``call_threads``: the call's count (:func:`inference_threads`, None = torch's); ``caller_threads``:
    torch's setting in the calling thread (default: now). With torch's or an explicit count ``n``, each
    direction gets ``n // 2``. The default without passive waits (``"auto"``, call on one thread) gives
    each direction one thread where the caller allows 2+ threads and the process may use 2+ cores: the
    machine's two cores without any OpenMP team.
    """
    caller = torch.get_num_threads() if caller_threads is None else caller_threads
    if not TWO_DIRECTION_THREADS:
        return 0
    if _choice == "auto" and call_threads == 1 and not PASSIVE_WAIT:
        return 1 if caller >= 2 and available_cores() >= 2 else 0
    n = caller if call_threads is None else call_threads
    return n // 2 if n >= 2 else 0


_plan = threading.local()  # .per_direction: what the current call gives each direction; .split: see run_split


@contextlib.contextmanager
def inference_thread_count(device: torch.device) -> Iterator[None]:
    """Run the block with :func:`inference_threads` intra-op threads (CPU only), then put torch's back;
    inside it, :func:`run_both` gives each direction :func:`direction_threads`."""
    threads = inference_threads() if device.type == "cpu" else None
    before = torch.get_num_threads()
    outer = (getattr(_plan, "per_direction", None), getattr(_plan, "split", False))
    _plan.per_direction = direction_threads(threads, before) if device.type == "cpu" else None
    _plan.split = threads == 1 and bool(_plan.per_direction)  # the caller on one thread, two one-thread workers
    changed = threads is not None and threads != before
    if changed:
        torch.set_num_threads(threads)  # type: ignore[arg-type]
    try:
        yield
    finally:
        _plan.per_direction, _plan.split = outer
        if changed:
            torch.set_num_threads(before)


# -- the two directions at once ------------------------------------------------------------------------
# Run the biLSTM's two independent directions at the same time, one worker thread each.
#
# WHY: an LSTM step at ELMo's sizes is a chain of small ops; splitting each op over two
# OpenMP threads makes the threads meet ~10 times per step, and each meeting costs as much
# as the op (far more when the machine is shared). Forward and backward never exchange
# data, so each runs whole on its own thread with half the intra-op threads instead.
#
# The workers are two long-lived threads of this module; their intra-op thread count is a
# per-thread setting (OpenMP's nthreads ICV), set once and kept, so the caller's own setting is
# untouched. One caveat of torch: ``set_num_threads`` in any thread also changes the default that
# threads started later pick up (``at::set_num_threads`` stores it process-wide), so ``run_both``
# puts that back. With one intra-op thread per worker (the default when torch came first, see above)
# no op starts an OpenMP team: two cores busy, nothing spinning. The work passed to them must
# release the GIL (the TorchScript loop of ``lstm_direction`` does) to overlap.
#: Set False to run the two directions one after the other in the calling thread.
TWO_DIRECTION_THREADS = True

_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _forget_pool_in_forked_child() -> None:
    """A forked child has none of the parent's threads; an inherited executor would queue work
    that no thread ever runs. Start afresh (a new pool on the child's first use)."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_forked_child)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="spacy-elmo-direction")
        return _pool


def _with_threads(threads: int, inference_mode: bool, fn: Callable[..., Any], args: Tuple) -> Tuple[Any, bool]:
    """Run ``fn(*args)`` in a worker with ``threads`` intra-op threads and the caller's no-grad or
    inference mode (both are per-thread); say whether it had to set the thread count."""
    changed = torch.get_num_threads() != threads
    if changed:
        torch.set_num_threads(threads)
    with torch.inference_mode() if inference_mode else torch.no_grad():
        return fn(*args), changed


def run_both(fn: Callable[..., Any], first: Tuple, second: Tuple) -> Tuple[Any, Any]:
    """``(fn(*first), fn(*second))``, concurrently when the plan gives each direction a thread.

    Only for work without autograd: the workers run it under ``no_grad`` (or ``inference_mode``
    when the caller is in it). Inside :func:`inference_thread_count` each worker gets the call's
    :func:`direction_threads`; elsewhere half the caller's intra-op threads, so the total stays what
    the caller set. With no thread to give, both run in the calling thread, one after the other.
    """
    threads = torch.get_num_threads()
    planned = getattr(_plan, "per_direction", None)
    per_direction = planned if planned is not None else threads // 2
    if not TWO_DIRECTION_THREADS or per_direction < 1:
        return fn(*first), fn(*second)
    pool = _executor()
    inference = torch.is_inference_mode_enabled()
    futures = [pool.submit(_with_threads, per_direction, inference, fn, args) for args in (first, second)]
    changed = False
    try:
        (a, changed_a), (b, changed_b) = futures[0].result(), futures[1].result()
        changed = changed_a or changed_b
    except BaseException:
        changed = True  # a worker may have set its thread count before failing
        raise
    finally:
        for future in futures:  # never return while a worker may still write our tensors
            if not future.done():
                future.exception()
        if changed:
            # torch.set_num_threads in a worker also changes the default that threads started later
            # pick up; put it back to the caller's value (which also re-sets the caller's own).
            torch.set_num_threads(threads)
    return a, b


#: Fewer rows than this are not split by :func:`run_split`: two hand-offs cost more than half the work saves.
MIN_SPLIT_ROWS = 32


def run_split(fn: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
    """``fn(rows)`` for a row-wise ``fn`` (row ``i`` of the result depends on row ``i`` only).

    WHY: when the call runs on one intra-op thread with the LSTM directions on two one-thread workers
    (the torch-first default), the token path (char CNN, highways, projection: a third of ELMo small's
    time) would use one core of two. So there the even and the odd rows run at once on the two workers
    (each half has the same mix of token lengths) and are interleaved back; elsewhere, or for few rows,
    ``fn(rows)`` runs here. Row-wise work gives each row the same arithmetic either way.
    """
    if not getattr(_plan, "split", False) or rows.shape[0] < MIN_SPLIT_ROWS:
        return fn(rows)
    even, odd = run_both(fn, (rows[0::2].contiguous(),), (rows[1::2].contiguous(),))
    out = even.new_empty((rows.shape[0],) + tuple(even.shape[1:]))
    out[0::2] = even
    out[1::2] = odd
    return out


# -- forked worker processes ---------------------------------------------------------------------------
# What a forked worker process does with torch's threads: one explicit, documented choice.
#
# ``nlp.pipe(texts, n_process=2)`` forks on Linux. GNU OpenMP's thread team does not survive
# ``fork()``: once the parent has run a parallel MKL sgemm, a child's first one can wait forever
# on threads that do not exist. So, by default, every process forked after an "elmo" component
# was created sets torch to **one intra-op thread** -- which is also what several worker
# processes sharing one machine want.
#
# The choice is yours:
#
# - :func:`set_forked_worker_threads` ``(n)``: ``n`` threads in each forked child; ``None`` leaves
#   torch's setting alone (only safe if the parent has not run torch yet, or with a non-GNU OpenMP);
# - the environment variable ``SPACY_ELMO_FORKED_WORKER_THREADS`` (a number, or ``none``) sets the
#   same before the program starts.
#
# The fork handler is installed when the first "elmo" component is created (never at import), and
# only once. Processes started with ``spawn`` (macOS, Windows, ``multiprocessing.get_context("spawn")``)
# are not forks and keep torch's defaults.
FORKED_ENV_VAR = "SPACY_ELMO_FORKED_WORKER_THREADS"
DEFAULT_FORKED_THREADS = 1


def _forked_threads_from_env() -> Optional[int]:
    value = os.environ.get(FORKED_ENV_VAR, "").strip().lower()
    if value == "":
        return DEFAULT_FORKED_THREADS
    if value in ("none", "default", "0"):
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{FORKED_ENV_VAR}={value!r}: give a number of threads, or 'none' to leave torch's setting.") from None


_forked_threads: Optional[int] = _forked_threads_from_env()
_installed = False


def set_forked_worker_threads(n: Optional[int]) -> None:
    """Torch intra-op threads in each process forked from here on (``None``: leave torch's setting)."""
    global _forked_threads
    if n is not None and n < 1:
        raise ValueError(f"forked worker threads must be >= 1 or None, got {n}.")
    _forked_threads = n


def forked_worker_threads() -> Optional[int]:
    return _forked_threads


def _in_forked_child() -> None:
    if _forked_threads is not None:
        torch.set_num_threads(_forked_threads)


def install_fork_handler() -> bool:
    """Register the after-fork handler (idempotent); False where the OS has no ``fork``."""
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return _installed
    os.register_at_fork(after_in_child=_in_forked_child)
    _installed = True
    return True
