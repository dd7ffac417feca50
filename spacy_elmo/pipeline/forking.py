"""What a forked worker process does with torch's threads: one explicit, documented choice.

``nlp.pipe(texts, n_process=2)`` forks on Linux. GNU OpenMP's thread team does not survive
``fork()``: once the parent has run a parallel MKL sgemm, a child's first one can wait forever
on threads that do not exist. So, by default, every process forked after an "elmo" component
was created sets torch to **one intra-op thread** -- which is also what several worker
processes sharing one machine want.

The choice is yours:

- :func:`set_forked_worker_threads` ``(n)``: ``n`` threads in each forked child; ``None`` leaves
  torch's setting alone (only safe if the parent has not run torch yet, or with a non-GNU OpenMP);
- the environment variable ``SPACY_ELMO_FORKED_WORKER_THREADS`` (a number, or ``none``) sets the
  same before the program starts.

The fork handler is installed when the first "elmo" component is created (never at import), and
only once. Processes started with ``spawn`` (macOS, Windows, ``multiprocessing.get_context("spawn")``)
are not forks and keep torch's defaults.
"""
from __future__ import annotations

import os
from typing import Optional

ENV_VAR = "SPACY_ELMO_FORKED_WORKER_THREADS"
DEFAULT_THREADS = 1


def _from_env() -> Optional[int]:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value == "":
        return DEFAULT_THREADS
    if value in ("none", "default", "0"):
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{ENV_VAR}={value!r}: give a number of threads, or 'none' to leave torch's setting.") from None


_threads: Optional[int] = _from_env()
_installed = False


def set_forked_worker_threads(n: Optional[int]) -> None:
    """Torch intra-op threads in each process forked from here on (``None``: leave torch's setting)."""
    global _threads
    if n is not None and n < 1:
        raise ValueError(f"forked worker threads must be >= 1 or None, got {n}.")
    _threads = n


def forked_worker_threads() -> Optional[int]:
    return _threads


def _in_forked_child() -> None:
    if _threads is not None:
        import torch

        torch.set_num_threads(_threads)


def install_fork_handler() -> bool:
    """Register the after-fork handler (idempotent); False where the OS has no ``fork``."""
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return _installed
    os.register_at_fork(after_in_child=_in_forked_child)
    _installed = True
    return True
