"""Run the biLSTM's two independent directions at the same time, one worker thread each.

WHY: an LSTM step at ELMo's sizes is a chain of small ops; splitting each op over two
OpenMP threads makes the threads meet ~10 times per step, and each meeting costs as much
as the op (far more when the machine is shared). Forward and backward never exchange
data, so each runs whole on its own thread with half the intra-op threads instead.

The workers are two long-lived threads of this module; their intra-op thread count is a
per-thread setting, so the caller's own setting is untouched. The work passed to them must
release the GIL (the TorchScript loop of ``lstm_direction`` does) to overlap.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Tuple

import torch

#: Set False to run the two directions one after the other in the calling thread.
ENABLED = True

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
    """``(fn(*first), fn(*second))``, concurrently when the caller allows 2+ intra-op threads.

    Only for work without autograd: the workers run it under ``no_grad`` (or ``inference_mode``
    when the caller is in it). Each worker gets half the caller's intra-op threads, so the total
    stays what the caller set; with 1 thread both run in the calling thread, one after the other.
    """
    threads = torch.get_num_threads()
    if not ENABLED or threads < 2:
        return fn(*first), fn(*second)
    pool = _executor()
    inference = torch.is_inference_mode_enabled()
    futures = [pool.submit(_with_threads, threads // 2, inference, fn, args) for args in (first, second)]
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
