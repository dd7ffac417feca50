"""Paths to ../shared and tiny model options, importable from any test module."""
from __future__ import annotations

import os
from pathlib import Path

import numpy
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
REFERENCE = DATA / "elmo-reference"



def needs_shared(*paths: Path):
    """Mark a test that reads these paths under ``../shared``. Without them it is skipped with a
    reason, except in CI (``CI=true``), where ``tests/conftest.py`` fails the whole run instead."""
    return pytest.mark.shared(*paths)


needs_reference = needs_shared(REFERENCE)


def random_bilm(seed: int = 0, scale: float = 0.5, **overrides):
    """A tiny biLM (``tiny_options(**overrides)``) with weights uniform in ``[-scale, scale]``:
    large enough that gates and clipping actually matter. In eval mode."""
    import torch

    from spacy_elmo.bilm import BiLM

    torch.manual_seed(seed)
    bilm = BiLM(tiny_options(**overrides))
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-scale, scale)
    return bilm.eval()


def save_tiny_model(path, seed: int = 0, **overrides) -> Path:
    """:func:`random_bilm` saved as a native model directory (options.json + weights.safetensors)."""
    random_bilm(seed, **overrides).save(path)
    return Path(path)


def tiny_options(**overrides):
    from spacy_elmo.bilm import BiLMOptions

    settings = dict(
        char_embedding_dim=4,
        filters=((1, 4), (2, 8), (3, 8)),
        n_highway=1,
        lstm_dim=24,
        projection_dim=8,
        n_lstm_layers=2,
        cell_clip=3.0,
        proj_clip=3.0,
        use_skip_connections=True,
    )
    settings.update(overrides)
    return BiLMOptions(**settings)


# A tiny exclusive textcat whose tok2vec is an ElmoListener (width 8), for pipeline-level tests.
TINY_TEXTCAT_LISTENER_CFG = """
[model]
@architectures = "spacy.TextCatReduce.v1"
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = true
use_reduce_mean = true

[model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 8
"""


def on_exact_path(bilm, fn):
    """``fn()`` with the biLM's fast inference path off: the reference the fast path must match."""
    bilm.fast_inference = False
    try:
        return fn()
    finally:
        bilm.fast_inference = True


def assert_arrays_close(got, want, atol=1e-5):
    """Two lists of arrays: same length, same shapes, values within ``atol`` (rtol 1e-5)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        numpy.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


def stateful_runs_fast_and_exact(bilm, ids, states):
    """``bilm.run(ids, stateful=True)`` from the same start ``states`` on the fast path and then
    on the exact path: ``(fast_output, fast_end_states, exact_output, exact_end_states)``."""
    import torch

    bilm._states = [(h.clone(), c.clone()) for h, c in states]
    with torch.no_grad():
        fast = bilm.run(ids, stateful=True)
        fast_states = bilm._states
        bilm._states = [(h.clone(), c.clone()) for h, c in states]
        slow = on_exact_path(bilm, lambda: bilm.run(ids, stateful=True))
    return fast, fast_states, slow, bilm._states


def load_script(path):
    """A script that is not part of the package (a benchmark, a project tool), imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Lines of a text file to embed: empty and blank lines, Unicode, a one-letter doc, then many alike.
EMBED_LINES = [
    "The river bank was muddy .",
    "The bank raised rates on Friday , again .",
    "",
    "   ",
    "Ünïcödé text , emoji 😀 and שלום in one line",
    "A",
    "Stock prices edged up in quiet trading .",
] + [f"Sentence number {i} talks about the bank and the river ." for i in range(13)]


def kill_when_halted(proc, halted, what: str, timeout: float = 120.0) -> None:
    """SIGKILL ``proc`` once ``halted()`` is true. The process stops itself in a hook at that point (it waits
    there), so the kill always lands midway: the test never races a run that could finish first."""
    import signal
    import time

    try:
        deadline = time.time() + timeout
        while not halted():
            assert proc.poll() is None, f"the process ended before {what}: {proc.stderr.read().decode()[-2000:]}"
            assert time.time() < deadline, f"no {what} after {timeout:.0f} s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()


def assert_same_embeddings(got_path, want_path):
    """Two embedding files hold the same tokens and vectors (within float rounding)."""
    from spacy_elmo.application.embedding_io import read_embeddings

    got, want = read_embeddings(got_path), read_embeddings(want_path)
    assert len(got) == len(want) > 0
    for (t1, a1), (t2, a2) in zip(got, want):
        assert t1 == t2
        assert a1.shape == a2.shape
        numpy.testing.assert_allclose(a1, a2, rtol=0, atol=1e-6)
