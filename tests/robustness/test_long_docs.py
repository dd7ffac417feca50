"""Long docs: one vector per token, and memory that holds the result once, not every overlapping window."""
import tracemalloc

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from tests.cli.conftest import save_tiny_model


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    # Wide output (3 x 256 floats per token), so that the result, not Python bookkeeping, dominates memory.
    return save_tiny_model(tmp_path_factory.mktemp("wide") / "model", projection_dim=128, lstm_dim=32)


def test_long_doc_holds_its_result_once(wide_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(wide_model), "max_batch_tokens": 1024, "window_size": 128,
                                 "window_overlap": 32, "cache_size_mb": 0})
    nlp("warm up")
    doc = Doc(nlp.vocab, words=[f"w{i % 97}" for i in range(3000)])
    tracemalloc.start()
    try:
        nlp(doc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    layers = doc._.elmo_data.layers
    assert layers.shape == (3, 3000, 256) and numpy.isfinite(layers).all()
    # Keeping all 128/32 windows and then concatenating them would need about 2.3 times the result.
    assert peak < 1.5 * layers.nbytes, f"peak {peak / 2**20:.1f} MB for a result of {layers.nbytes / 2**20:.1f} MB"
