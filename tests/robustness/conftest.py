"""Fixtures for bad-input tests: tiny models on disk and a pipeline factory."""
import pytest
import spacy

from tests.cli.conftest import cli, save_tiny_model, tiny_model  # noqa: F401  (shared fixtures)


@pytest.fixture(scope="module")
def nlp(tiny_model):  # noqa: F811
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    return nlp
