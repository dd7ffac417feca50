"""Issue 28, item 2: ``spacy_elmo.load_bilm`` takes every name the component and ``--model`` take (through the one
resolver), ``load_bilm()`` is the packaged default, and the old ``load_bilm(options, weights)`` still works."""
import json
import shutil

import numpy
import pytest

from spacy_elmo import Elmo, load_bilm
from spacy_elmo.errors import ElmoError, WeightFileError
from spacy_elmo.weights import resolve_weights

from tests.helpers import REFERENCE, needs_shared
from tests.test_weights import original_dir, packaged, pipeline_dir  # noqa: F401 (fixtures)

EFML = REFERENCE / "elmoformanylangs"

SENTENCE = ["The", "river", "bank", "."]


def test_every_name_the_component_takes(tiny_model, packaged, pipeline_dir, original_dir, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    expected = resolve_weights(tiny_model).load().embed_sentence(SENTENCE)
    names = {
        "packaged name": ("en_elmo_medium",),
        "default": (),
        "native dir": (tiny_model,),
        "native dir as str": (str(tiny_model),),
        "pretraining run": (run,),
        "saved pipeline": (pipeline_dir,),
        "original folder": (original_dir,),
        "original pair": (original_dir / "options.json", original_dir / "lm_weights.hdf5"),
    }
    for label, args in names.items():
        bilm = load_bilm(*args)
        assert not bilm.training and bilm.precision == "fp32", label
        numpy.testing.assert_allclose(bilm.embed_sentence(SENTENCE), expected, atol=1e-6, err_msg=label)
    assert load_bilm(tiny_model, precision="auto").precision == "auto"


def test_the_packaged_default_without_arguments():
    bilm = load_bilm()
    assert bilm.options.output_dim == resolve_weights(None).load().options.output_dim
    assert bilm.embed_sentence(SENTENCE, layers="top").shape == (4, bilm.options.output_dim)


def test_clear_errors(tmp_path, original_dir):  # noqa: F811
    with pytest.raises(WeightFileError, match=r"No ELMo model named 'en_elmo_huge' \(load_bilm\(name\)\).*packaged models: en_elmo"):
        load_bilm("en_elmo_huge")
    with pytest.raises(WeightFileError, match="does not exist"):
        load_bilm(tmp_path / "nothing" / "here")
    with pytest.raises(WeightFileError, match=r"options file; give its .hdf5 weights"):
        load_bilm(original_dir / "options.json")
    with pytest.raises(WeightFileError, match="no such file"):
        load_bilm(original_dir / "options.json", tmp_path / "missing.hdf5")


@needs_shared(EFML)
def test_an_elmoformanylangs_folder_by_name_and_the_sents2elmo_layers():
    """docs/coming-from.md's table: output_layer=-1 is layers="average", -2 is "all", 0..2 are layer numbers."""
    data = numpy.load(EFML / "reference_outputs.npz")
    sentences = json.loads(str(data["sentences"]))
    bilm = load_bilm(EFML / "tiny.model")
    for i, got in enumerate(bilm.embed_sentences(sentences, layers="average")):
        numpy.testing.assert_allclose(got, data[f"avg_{i}"], rtol=0, atol=1e-5)
    for i, got in enumerate(bilm.embed_sentences(sentences, layers="all")):
        numpy.testing.assert_allclose(got, data[f"all_{i}"], rtol=0, atol=1e-5)
        numpy.testing.assert_allclose(bilm.embed_sentence(sentences[i], layers="1")[0], data[f"all_{i}"][1], rtol=0, atol=1e-5)
    with pytest.raises(ElmoError, match="its own character dictionary"):
        Elmo(EFML / "tiny.model", None, 1)  # AllenNLP's byte ids would mean other characters: refused, not wrong


SMALL = "https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/elmo_2x1024_128_2048cnn_1xhighway_"


def test_allennlps_urls_name_the_published_model(tmp_path, monkeypatch):
    """``Elmo(options_url, weights_url, 1)`` as AllenNLP code writes it: the files of a published model, fetched and
    checked by the registry (here offline with an empty cache, so the error proves which model it resolved to)."""
    from spacy_elmo.by_name import _published_name_of
    from spacy_elmo.published import OFFLINE_ENV, OfflineError

    other_host = "https://s3-us-west-2.amazonaws.com/allennlp/models/elmo/2x4096_512_2048cnn_2xhighway/"
    assert _published_name_of(other_host + "elmo_2x4096_512_2048cnn_2xhighway_options.json",
                              other_host + "elmo_2x4096_512_2048cnn_2xhighway_weights.hdf5") == "allennlp-en-original"
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(OfflineError, match="allennlp-en-small"):
        Elmo(SMALL + "options.json", SMALL + "weights.hdf5", 1)
    with pytest.raises(WeightFileError, match="not the files of a published model"):
        load_bilm("https://example.com/elmo/options.json", "https://example.com/elmo/weights.hdf5")
