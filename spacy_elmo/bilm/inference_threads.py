"""How many intra-op threads a biLM inference call uses: a safe default on a busy machine.

WHY: torch's OpenMP (GNU libgomp on Linux) makes a team's idle threads spin-wait unless
``OMP_WAIT_POLICY=PASSIVE`` was set before torch was imported. When other work shares the cores,
spinning threads and barrier waits on descheduled threads collapse throughput: ``nlp.pipe`` on a
loaded 2-core machine ran at 366-1,081 tokens/s with torch's 2 threads, 2,320 with passive waits and
2,900 on one thread (BENCHMARKS.md). libgomp reads the policy once, so it cannot be changed later.

So (``"auto"``, the default): ``import spacy_elmo`` sets ``OMP_WAIT_POLICY=PASSIVE`` when torch is not
imported yet (the CLI, scripts that import spacy_elmo first); then inference uses torch's thread
count. If torch was imported first without that setting (``import spacy`` imports torch), each
inference call runs on one thread instead (the two LSTM directions one after the other).

Override: ``SPACY_ELMO_INFERENCE_THREADS`` (``auto``, ``torch`` = always torch's setting, or a number)
before the program starts, or :func:`set_inference_threads` at any time. Training is not affected.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional, Union

import torch

ENV_VAR = "SPACY_ELMO_INFERENCE_THREADS"
Choice = Union[str, int]


def _parse(value: Choice) -> Choice:
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
        return _parse(int(text))
    except ValueError:
        raise ValueError(f"{ENV_VAR}={value!r}: use 'auto', 'torch' or a number of threads.") from None


#: Whether OpenMP waits passively: what OMP_WAIT_POLICY said when this package was imported, which is
#: what libgomp read when torch was imported (``spacy_elmo/__init__`` sets it first where it can).
PASSIVE_WAIT = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"
_choice: Choice = _parse(os.environ.get(ENV_VAR, "auto"))


def set_inference_threads(choice: Choice) -> None:
    """``"auto"`` (the default, see the module docstring), ``"torch"`` (torch's setting) or a number."""
    global _choice
    _choice = _parse(choice)


def inference_threads() -> Optional[int]:
    """The thread count for the next inference call; None means torch's own setting."""
    if _choice == "torch" or (_choice == "auto" and PASSIVE_WAIT):
        return None
    return 1 if _choice == "auto" else int(_choice)


@contextlib.contextmanager
def inference_thread_count(device: torch.device) -> Iterator[None]:
    """Run the block with :func:`inference_threads` intra-op threads (CPU only), then put torch's back."""
    threads = inference_threads() if device.type == "cpu" else None
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
