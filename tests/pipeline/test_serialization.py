"""Serialization: pipelines (disk, bytes, spacy package), docs (bytes, DocBin, pickle, n_process=2)."""
import pickle
import shutil

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_elmo.pipeline import ElmoData, set_vector_hooks
from tests.helpers import REFERENCE, needs_reference

TEXTS = ["The bank of the river.", "", "Hi", "Money goes to the bank .\n\nTwice."]


def layers(docs):
    return [d._.elmo_data.layers for d in docs]


def assert_same_docs(a_docs, b_docs):
    for a, b in zip(a_docs, b_docs):
        assert [t.text for t in a] == [t.text for t in b]
        numpy.testing.assert_array_equal(a._.elmo_data.layers, b._.elmo_data.layers)
        for ta, tb in zip(a, b):
            numpy.testing.assert_array_equal(ta._.elmo, tb._.elmo)


def test_to_disk_and_load_bit_for_bit_without_the_source(tiny_model, tmp_path):
    source = tmp_path / "source_weights"
    shutil.copytree(tiny_model, source)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(source), "output_mix": "top"})
    expected = list(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "elmo" / "bilm" / "weights.safetensors").is_file()
    shutil.rmtree(source)  # the saved pipeline must not need the original weights
    loaded = spacy.load(tmp_path / "pipeline")
    got = list(loaded.pipe(TEXTS))
    assert_same_docs(expected, got)
    assert got[0]._.elmo_data.mix.tolist() == [0.0, 0.0, 1.0]


@needs_reference
def test_original_weights_are_stored_in_the_pipeline(tmp_path):
    folder = REFERENCE / "allennlp"
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"options_file": str(folder / "options.json"), "weight_file": str(folder / "lm_weights.hdf5")})
    expected = list(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "pipeline")
    assert not list((tmp_path / "pipeline").rglob("*.hdf5"))  # converted to the native format
    assert_same_docs(expected, list(spacy.load(tmp_path / "pipeline").pipe(TEXTS)))


def test_to_bytes_from_bytes(tiny_nlp):
    nlp = tiny_nlp(output_mix=[0.2, 0.3, 0.5])
    expected = list(nlp.pipe(TEXTS))
    data = nlp.to_bytes()
    other = spacy.blank("en").from_config(nlp.config)
    other.from_bytes(data)
    assert_same_docs(expected, list(other.pipe(TEXTS)))
    # component level too
    elmo_bytes = nlp.get_pipe("elmo").to_bytes()
    third = spacy.blank("en").from_config(nlp.config)
    third.get_pipe("elmo").from_bytes(elmo_bytes)
    assert_same_docs(expected, list(third.pipe(TEXTS)))


@pytest.mark.filterwarnings("ignore:.*W109")  # spaCy warns that it cannot serialize the (vector) hooks
def test_doc_to_bytes_docbin_and_pickle(tiny_nlp):
    nlp = tiny_nlp()
    docs = list(nlp.pipe(TEXTS))
    restored = [Doc(nlp.vocab).from_bytes(d.to_bytes()) for d in docs]
    assert all(isinstance(d._.elmo_data, ElmoData) for d in restored)
    assert_same_docs(docs, restored)

    docbin = DocBin(store_user_data=True, docs=docs)
    from_bin = list(DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab))
    assert_same_docs(docs, from_bin)
    # hooks are Python callables spaCy does not serialize; the getters work, and they can be set again
    assert "vector" not in from_bin[0].user_token_hooks
    set_vector_hooks(from_bin[0])
    numpy.testing.assert_array_equal(from_bin[0][1].vector, docs[0][1].vector)

    unpickled = pickle.loads(pickle.dumps(docs[0]))
    assert_same_docs([docs[0]], [unpickled])
    numpy.testing.assert_array_equal(unpickled[1].vector, docs[0][1]._.elmo)  # pickling keeps the hooks


@pytest.mark.filterwarnings("ignore:.*W109")
def test_n_process_2(tiny_nlp):
    nlp = tiny_nlp()
    texts = TEXTS * 2
    expected = list(nlp.pipe(texts, batch_size=2))
    nlp.get_pipe("elmo").model.cache.clear()
    got = list(nlp.pipe(texts, n_process=2, batch_size=2))
    assert len(got) == len(texts)
    for a, b in zip(expected, got):
        numpy.testing.assert_allclose(a._.elmo_data.layers, b._.elmo_data.layers, atol=1e-6)
        assert isinstance(b._.elmo_data, ElmoData)


def test_spacy_package(tiny_nlp, tmp_path):
    from spacy.cli.package import package

    nlp = tiny_nlp()
    expected = list(nlp.pipe(TEXTS))
    nlp.meta["name"] = "elmo_test"
    nlp.meta["version"] = "0.0.1"
    nlp.to_disk(tmp_path / "pipeline")
    (tmp_path / "packages").mkdir()
    package(tmp_path / "pipeline", tmp_path / "packages", create_sdist=False, create_wheel=False, silent=True)
    package_dir = tmp_path / "packages" / "en_elmo_test-0.0.1"
    meta = spacy.util.load_meta(package_dir / "meta.json")
    assert any(req.startswith("spacy-elmo") for req in meta["requirements"])  # found through the entry points
    data_dir = package_dir / "en_elmo_test" / "en_elmo_test-0.0.1"
    assert (data_dir / "elmo" / "bilm" / "weights.safetensors").is_file()
    assert_same_docs(expected, list(spacy.load(data_dir).pipe(TEXTS)))


def test_weights_can_be_a_saved_pipeline(tiny_nlp, tmp_path):
    """A biLM saved inside one pipeline (e.g. fine-tuned there) feeds a new one: weights = the pipeline dir."""
    nlp = tiny_nlp()
    nlp.to_disk(tmp_path / "trained")
    other = spacy.blank("en")
    other.add_pipe("elmo", config={"weights": str(tmp_path / "trained")})
    assert_same_docs(list(nlp.pipe(TEXTS)), list(other.pipe(TEXTS)))
