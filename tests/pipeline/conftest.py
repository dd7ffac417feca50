"""Fixtures for the spaCy face: a tiny random biLM saved as a native model directory."""
import pytest

from tests.helpers import tiny_options


def make_tiny_bilm(seed: int = 0):
    import torch

    from spacy_elmo.bilm import BiLM

    torch.manual_seed(seed)
    bilm = BiLM(tiny_options())
    with torch.no_grad():  # weights large enough that gates and clipping matter
        for p in bilm.parameters():
            p.uniform_(-0.5, 0.5)
    return bilm.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A native model dir (options.json + weights.safetensors) of a tiny random biLM."""
    path = tmp_path_factory.mktemp("tiny_elmo") / "model"
    make_tiny_bilm().save(path)
    return path


@pytest.fixture
def tiny_nlp(tiny_model_dir):
    """A blank English pipeline with an 'elmo' component on the tiny model; call with config overrides."""
    import spacy

    def make(**config):
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"weights": str(tiny_model_dir), **config})
        return nlp

    return make
