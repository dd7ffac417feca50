"""Fixtures for bad-input tests: a pipeline on the tiny model (``tests/conftest.py``)."""
import pytest
import spacy


@pytest.fixture(scope="module")
def nlp(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    return nlp
