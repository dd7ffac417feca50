"""benchmarks/original_size_ner.py: its weight writer, its cache-size rule and its epoch accounting.

The benchmark itself (93.6M parameters, minutes of CPU) is not run here; these are the pieces whose
mistakes would make its figures wrong without any error.
"""
import json
import math
from pathlib import Path

import numpy
import pytest

from spacy_elmo import load_bilm
from spacy_elmo.bilm import BiLMOptions
from spacy_elmo.bilm.io_original import expected_shapes
from tests.helpers import load_script

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "original_size_ner.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(PATH)


SMALL = {
    "lstm": {"use_skip_connections": True, "projection_dim": 8, "cell_clip": 3, "proj_clip": 3, "dim": 24, "n_layers": 2},
    "char_cnn": {
        "activation": "relu", "filters": [[1, 4], [2, 4], [3, 8]], "n_highway": 2, "embedding": {"dim": 4},
        "n_characters": 262, "max_characters_per_token": 50,
    },
}


def test_original_options_are_the_published_93_6m_parameter_shape(bench):
    options = BiLMOptions.from_dict(bench.ORIGINAL_OPTIONS)
    assert options == BiLMOptions()  # the package's defaults are the original model
    n_params = sum(math.prod(shape) for shape in expected_shapes(options).values())
    assert round(n_params / 1e6, 1) == 93.6
    assert (options.n_output_layers, options.output_dim) == (3, 1024)


def test_writer_makes_original_files_that_load_bilm_reads(bench, tmp_path):
    options_path, weights_path = bench.write_original_weights(tmp_path / "w", SMALL, stem="elmo_small_test")
    assert options_path.name == "elmo_small_test_options.json" and weights_path.name == "elmo_small_test_weights.hdf5"
    assert json.loads(options_path.read_text()) == SMALL  # the user's file, verbatim
    assert not (tmp_path / "w" / "options.json").exists()
    import h5py

    with h5py.File(weights_path, "r") as h5:
        found = {}
        h5.visititems(lambda name, obj: found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    assert found == expected_shapes(BiLMOptions.from_dict(SMALL))
    bilm = load_bilm(options_path, weights_path)
    layers = bilm.embed_sentences([["Original", "shape", "."]])[0]
    assert layers.shape == (3, 3, 16) and numpy.isfinite(layers).all() and float(abs(layers).max()) > 0


def test_cache_size_rule_is_what_the_layer_cache_counts(bench):
    from spacy_elmo.layers.cache import LayerCache

    cache = LayerCache(10)
    for n in (5, 17):
        cache.put(tuple(f"w{i}" for i in range(n)), numpy.zeros((3, n, 1024), dtype=numpy.float32))
    assert cache.n_bytes == bench.cache_bytes(22) == 22 * (3 * 1024 * 4 + 64)


def test_trace_is_split_into_epochs_with_updates_evaluations_and_saves(bench):
    def event(kind, start, end, **extra):
        return {"kind": kind, "start": start, "end": end, **extra}

    trace = {
        "finalize_time": 30.0,
        "events": [
            event("update", 0.0, 4.0, epoch=0, words=100, cache={"hits": 0, "misses": 5}),
            event("evaluate", 4.0, 6.0, cache={"hits": 0, "misses": 8}),
            event("save", 6.0, 7.0),
            event("update", 7.0, 10.0, epoch=0, words=50, cache={"hits": 0, "misses": 10}),
            event("update", 12.0, 13.0, epoch=1, words=150, cache={"hits": 10, "misses": 10}),
            event("evaluate", 13.0, 13.5, cache={"hits": 13, "misses": 10}),
        ],
    }
    first, second = bench.summarize_trace(trace, 2)["epochs"]
    assert (first["wall_s"], first["update_s"], first["evaluate_s"], first["save_s"], first["words"]) == (12.0, 7.0, 2.0, 1.0, 150)
    assert (first["cache_hits"], first["cache_misses"]) == (0, 10)
    assert (second["wall_s"], second["update_s"], second["evaluate_s"], second["n_updates"]) == (18.0, 1.0, 0.5, 1)
    assert (second["cache_hits"], second["cache_misses"]) == (13, 0)
