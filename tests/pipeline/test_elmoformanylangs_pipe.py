"""An ELMoForManyLangs model folder as the "elmo" component's weights, in a spaCy pipeline of its language."""
import json
import shutil
import warnings

import numpy
import pytest
import spacy

from spacy_elmo.bilm import load_bilm
from spacy_elmo.pipeline.pipe import LanguageMismatchWarning
from tests.helpers import REFERENCE, needs_shared, save_tiny_model

EFML = REFERENCE / "elmoformanylangs"
MODEL = EFML / "tiny.model"


@needs_shared(EFML)
def test_blank_german_pipeline_gives_every_layer_without_boundaries(tmp_path):
    nlp = spacy.blank("de")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LanguageMismatchWarning)  # the folder records no language: no warning
        elmo = nlp.add_pipe("elmo", config={"weights": str(MODEL)})
        assert elmo._output_shape() == (3, 32) and not elmo.model.shim.is_loaded  # listeners' dims, read without the weights
        doc = nlp("Ünïcödé ok supercalifragilisticexpialidocious 中文 .")  # one sentence: the component splits at sentence ends
    data = doc._.elmo_data
    assert data.layers.shape == (3, len(doc), 32)
    want = load_bilm(MODEL).embed_sentences([[t.text for t in doc]])[0]
    numpy.testing.assert_allclose(data.layers, want, rtol=0, atol=1e-6)
    numpy.testing.assert_allclose(doc[1]._.elmo, want.mean(axis=0)[1], rtol=0, atol=1e-6)
    # the pipeline saves the biLM natively (no pickle) and reads it back, by disk and by bytes
    nlp.to_disk(tmp_path / "pipeline")
    saved = tmp_path / "pipeline" / "elmo" / "bilm"
    assert (saved / "dictionaries.json").is_file() and not list(saved.glob("*.pkl"))
    numpy.testing.assert_array_equal(spacy.load(tmp_path / "pipeline")(doc.text)._.elmo_data.layers, data.layers)
    again = spacy.blank("de").add_pipe("elmo", config={"weights": str(MODEL)}).from_bytes(nlp.get_pipe("elmo").to_bytes())
    assert again.bilm.vocabulary.to_dict() == nlp.get_pipe("elmo").bilm.vocabulary.to_dict()


def test_a_model_of_another_language_warns(tmp_path):
    model = save_tiny_model(tmp_path / "model")
    options = json.loads((model / "options.json").read_text())
    (model / "options.json").write_text(json.dumps({**options, "lang": "de"}))
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(model)})
    with pytest.warns(LanguageMismatchWarning, match=r"W003\] The 'elmo' component's biLM is a 'de' model, but this pipeline's language is 'en'.*spacy.blank\('de'\)"):
        nlp("The bank .")
    german = spacy.blank("de")
    german.add_pipe("elmo", config={"weights": str(model)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LanguageMismatchWarning)
        german("Die Bank .")


def test_a_copy_keeps_its_recorded_language(tmp_path):
    model = save_tiny_model(tmp_path / "model")
    options = json.loads((model / "options.json").read_text())
    (model / "options.json").write_text(json.dumps({**options, "lang": "sv"}))
    bilm = load_bilm(model)
    assert bilm.options.lang == "sv"
    bilm.save(tmp_path / "copy")
    shutil.rmtree(model)
    assert load_bilm(tmp_path / "copy").options.lang == "sv"
