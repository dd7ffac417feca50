"""Shared fixtures (the tiny random biLM, in memory and on disk; the CLI runner; the reference
models) and the rule for tests that need ``../shared``: skipped locally, an error in CI."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import EMBED_LINES, REFERENCE, random_bilm, save_tiny_model


# -- tests that need ../shared ------------------------------------------------------------------
def in_ci() -> bool:
    """``CI=true`` (GitHub Actions, GitLab, most CI services) or ``CI=1``."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def shared_paths(item: pytest.Item) -> list:
    """What a test reads under ../shared: its ``shared`` marks, and the reference models when it
    uses the ``reference_model`` fixture."""
    paths = [Path(p) for mark in item.iter_markers("shared") for p in mark.args]
    if "reference_model" in getattr(item, "fixturenames", ()):
        paths.append(REFERENCE)
    return paths


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "shared(*paths): needs these paths under ../shared; skipped without them, a failed run in CI"
    )


def pytest_collection_modifyitems(config, items):
    missing = {}
    for item in items:
        absent = sorted({str(p) for p in shared_paths(item) if not p.exists()})
        if absent:
            missing.setdefault(", ".join(absent), []).append(item.nodeid)
            item.add_marker(pytest.mark.skip(
                reason=f"shared data not found: {', '.join(absent)}; put ../shared beside the checkout "
                "or set SPACY_ELMO_SHARED (in CI, with CI=true, this fails the run instead)"
            ))
    if missing and in_ci():
        n_tests = sum(len(ids) for ids in missing.values())
        raise pytest.UsageError(
            f"CI=true, but {n_tests} selected tests need shared data that is not there: "
            + "; ".join(f"{paths} ({len(ids)} tests, e.g. {ids[0]})" for paths, ids in missing.items())
            + ". Put ../shared beside the checkout or set SPACY_ELMO_SHARED; CI must not skip them."
        )


# -- the user's cache is not the tests' ---------------------------------------------------------------
@pytest.fixture(autouse=True, scope="session")
def private_user_cache(tmp_path_factory):
    """Every test (and every process a test starts) gets a cache folder of the session's own: a precision
    verdict measured on a busy test machine must not decide a user's precision, a user's cached verdicts or
    models must not decide a test, and no test downloads into the user's cache. Tests that need an empty
    cache of their own set SPACY_ELMO_CACHE again (tests/published/conftest.py)."""
    from spacy_elmo.user_cache import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("user_cache"))
    yield Path(os.environ[CACHE_ENV])
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


# -- the tiny random biLM -------------------------------------------------------------------------
@pytest.fixture
def tiny_bilm():
    """A tiny random biLM in memory (a fresh one per test: tests may change its weights)."""
    return random_bilm()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The same tiny random biLM as a native model dir (options.json + weights.safetensors)."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny_elmo") / "model")


@pytest.fixture
def cli():
    """``cli("embed", "in.txt", ...)`` -> click Result with ``.exit_code``, ``.stdout``, ``.stderr``."""
    from typer.testing import CliRunner

    from spacy_elmo.cli import app

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


# -- the reference models -------------------------------------------------------------------------
@pytest.fixture(params=["allennlp", "bilm-tf/model"], ids=["allennlp-residual", "bilm-tf-no-residual"])
def reference_model(request):
    """(bilm, sentences as 3 lists of 10, expected per row k: {batch index: [2, n, dim]})."""
    import json

    import h5py

    from spacy_elmo import load_bilm

    folder = REFERENCE / request.param
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    names = ["sentences.json", "lm_embeddings_sentences.json"]
    sentences_file = next(folder / n for n in names if (folder / n).is_file())
    sentences = json.loads(sentences_file.read_text())
    expected = []
    for k in range(3):
        with h5py.File(folder / f"lm_embeddings_{k}.hdf5", "r") as h5:
            expected.append({int(key): h5[key][...] for key in h5})
    return bilm, sentences, expected


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(EMBED_LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def component_layers(tiny_model):
    """All layers of every line of ``text_file``, straight from the component."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    return [([t.text for t in doc], doc._.elmo_data.layers, doc._.elmo_data.vectors) for doc in nlp.pipe(EMBED_LINES)]
