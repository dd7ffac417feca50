"""Fixtures for the spaCy face: a pipeline factory on the tiny model (``tests/conftest.py``)."""
import pytest


@pytest.fixture
def tiny_nlp(tiny_model):
    """A blank English pipeline with an 'elmo' component on the tiny model; call with config overrides."""
    import spacy

    def make(**config):
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"weights": str(tiny_model), **config})
        return nlp

    return make
