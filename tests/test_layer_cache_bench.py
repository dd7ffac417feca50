"""benchmarks/layer_cache.py measures what it says: distinct sentences for "fresh" text, hits only from the
second pass of "repeated" text, none with the cache off, and a variant in its own process reports back."""
import argparse
from pathlib import Path

import pytest
import torch

from tests.helpers import DATA, load_script, needs_shared

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "layer_cache.py"
CONLL = DATA / "conll2003" / "eng.testa"
pytestmark = needs_shared(CONLL)


@pytest.fixture(scope="module")
def bench():
    return load_script(PATH)


def variant(bench, model, text, cache_mb, n=4, repeats=2):
    return argparse.Namespace(n_sents=n, repeats=repeats, batch_size=8, threads=torch.get_num_threads(), model=str(model),
                              text=text, cache_size_mb=cache_mb)


def test_fresh_sentences_are_distinct_and_apart_from_the_warm_up(bench):
    texts = bench.distinct_sentences(50)
    assert len(texts) == 50 + bench.WARM_UP_SENTENCES and len(set(texts)) == len(texts)


@pytest.mark.parametrize("text, cache_mb, hits, misses", [("repeated", 1.0, 4, 4), ("repeated", 0.0, 0, 0), ("fresh", 1.0, 0, 4)])
def test_a_variant_counts_the_hits_it_should(bench, tiny_model, text, cache_mb, hits, misses):
    record = bench.run_variant(variant(bench, tiny_model, text, cache_mb))
    assert (record["cache_hits"], record["cache_misses"]) == (hits, misses)
    assert len(record["passes"]) == (2 if text == "repeated" else 1)
    assert (record["cache_used_mb"] > 0) == (cache_mb > 0)
    assert record["peak_rss_mb"] >= record["rss_before_model_mb"] > 0


@pytest.mark.slow
def test_a_variant_runs_in_its_own_process(bench, tiny_model):
    args = argparse.Namespace(n_sents=3, repeats=2, batch_size=8, threads=1, model=str(tiny_model))
    record = bench.spawn(args, "repeated", 1.0)
    assert record["cache_hits"] == 3 and len(record["load_average_after"]) == 3
    assert "| repeated | 1 |" in bench.table([record])
