"""Shared fixtures: tiny random models and the reference models."""
import pytest

from tests.helpers import REFERENCE, needs_reference, tiny_options


@pytest.fixture
def tiny_bilm():
    import torch

    from spacy_elmo.bilm import BiLM

    torch.manual_seed(0)
    bilm = BiLM(tiny_options())
    # Random weights large enough that gates and clipping actually matter.
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-0.5, 0.5)
    return bilm.eval()


@pytest.fixture(params=["allennlp", "bilm-tf/model"], ids=["allennlp-residual", "bilm-tf-no-residual"])
def reference_model(request):
    """(bilm, sentences as 3 lists of 10, expected per row k: {batch index: [2, n, dim]})."""
    if not REFERENCE.is_dir():
        pytest.skip(needs_reference.kwargs["reason"])
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
