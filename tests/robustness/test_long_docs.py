"""Long docs: one vector per token, and memory that holds the result once, not every overlapping window."""
import os
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from tests.helpers import save_tiny_model

CLEAR_REFS = Path("/proc/self/clear_refs")


def process_memory(key: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    # Wide output (3 x 256 floats per token), so that the result, not Python bookkeeping, dominates memory.
    return save_tiny_model(tmp_path_factory.mktemp("wide") / "model", projection_dim=128, lstm_dim=32)


@pytest.mark.skipif(not os.access(CLEAR_REFS, os.W_OK), reason="needs Linux's /proc/self/clear_refs to reset the peak RSS")
def test_long_doc_holds_its_result_once(wide_model):
    """Peak resident memory (RSS), which sees torch's and numpy's allocations alike (tracemalloc
    sees only Python's allocator, so it misses what the biLM allocates)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(wide_model), "max_batch_tokens": 1024, "window_size": 128,
                                 "window_overlap": 32, "cache_size_mb": 0})
    nlp(Doc(nlp.vocab, words=[f"w{i % 97}" for i in range(3000)]))  # warm up: kernels and buffers of every shape
    doc = Doc(nlp.vocab, words=[f"w{i % 97}" for i in range(20000)])
    CLEAR_REFS.write_text("5")  # the peak (VmHWM) starts again from the current RSS
    before = process_memory("VmRSS")
    nlp(doc)
    peak = process_memory("VmHWM") - before
    layers = doc._.elmo_data.layers
    assert layers.shape == (3, 20000, 256) and numpy.isfinite(layers).all()
    # Keeping all 128/32 windows and then concatenating them would need about 2.3 times the result
    # (measured here: 1.26 times, the rest being the biLM's working memory).
    assert peak < 1.5 * layers.nbytes, f"peak {peak / 2**20:.1f} MB for a result of {layers.nbytes / 2**20:.1f} MB"
