"""Wrong, broken or swapped weights: an ElmoError naming the file and the fix, never a torch traceback."""
import json
import shutil

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Config

from spacy_elmo.bilm import load_bilm, save_original
from spacy_elmo.errors import ElmoError, OptionsError, WeightFileError
from tests.helpers import save_tiny_model
from tests.helpers import TINY_TEXTCAT_LISTENER_CFG

TEXTCAT = TINY_TEXTCAT_LISTENER_CFG


def one_red_line(result, *needles):
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def original_files(tiny_model, tmp_path):
    """The tiny model in the original layout: options.json + weights.hdf5."""
    folder = tmp_path / "original"
    save_original(load_bilm(tiny_model), folder)
    return folder / "options.json", folder / "weights.hdf5"


def test_options_that_do_not_match_the_weights(cli, original_files, tmp_path):
    options, weights = original_files
    data = json.loads(options.read_text())
    data["lstm"]["dim"] = 32  # the weights were made with 24 cells
    wrong = tmp_path / "wrong_options.json"
    wrong.write_text(json.dumps(data))
    with pytest.raises(WeightFileError, match=r"has shape .* but the options expect .*check that options.json belongs"):
        load_bilm(wrong, weights)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"options_file": str(wrong), "weight_file": str(weights)})
    with pytest.raises(WeightFileError):
        nlp("The bank .")  # weights are read lazily; the first use raises the same clear error
    one_red_line(cli("embed", options, tmp_path / "o.npz", "--options", wrong, "--weights", weights), "do not match the options")


def test_native_options_that_do_not_match(cli, tiny_model, tmp_path):
    folder = tmp_path / "native"
    shutil.copytree(tiny_model, folder)
    data = json.loads((folder / "options.json").read_text())
    data["lstm"]["projection_dim"] = 4
    (folder / "options.json").write_text(json.dumps(data))
    with pytest.raises(WeightFileError, match="do not match"):
        load_bilm(folder)
    one_red_line(cli("similarity", "a", "a b", "b a", "--model", folder), "do not match")


def test_malformed_options(cli, original_files, tmp_path):
    options, weights = original_files
    broken = tmp_path / "broken.json"
    broken.write_text('{"char_cnn": {"filters": [[1, 4]]}')  # truncated JSON
    with pytest.raises(OptionsError, match="not valid JSON"):
        load_bilm(broken, weights)
    missing = tmp_path / "missing.json"
    missing.write_text('{"lstm": {"dim": 8}}')
    one_red_line(cli("info", "--options", missing, "--weights", weights), "missing or have a malformed entry")
    one_red_line(cli("info", "--options", weights, "--weights", weights), "not valid JSON")  # swapped arguments


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.95])
def test_truncated_hdf5(cli, original_files, tmp_path, fraction):
    options, weights = original_files
    cut = tmp_path / "cut.hdf5"
    data = weights.read_bytes()
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(WeightFileError, match="corrupt|truncated|cannot be read"):
        load_bilm(options, cut)
    one_red_line(cli("info", "--options", options, "--weights", cut), str(cut))


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
def test_truncated_safetensors(cli, tiny_model, tmp_path, fraction):
    folder = tmp_path / "cut"
    shutil.copytree(tiny_model, folder)
    path = folder / "weights.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(WeightFileError, match="corrupt or truncated"):
        load_bilm(folder)
    text = tmp_path / "in.txt"
    text.write_text("The bank .\n")
    one_red_line(cli("embed", text, tmp_path / "o.npz", "--model", folder), "corrupt or truncated")


def test_not_a_model_at_all(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    one_red_line(cli("info", "--model", tmp_path / "empty"), "holds neither a native model")


def test_bilm_tf_training_options_load_for_inference(tiny_model, tmp_path):
    """bilm-tf trains with n_characters 261 and embeds with 262: the same weights, the same vectors."""
    folder = tmp_path / "m261"
    shutil.copytree(tiny_model, folder)
    data = json.loads((folder / "options.json").read_text())
    data["char_cnn"]["n_characters"] = 261
    (folder / "options.json").write_text(json.dumps(data))
    sentence = [["The", "bank", "."]]
    numpy.testing.assert_array_equal(load_bilm(folder).embed_sentences(sentence)[0], load_bilm(tiny_model).embed_sentences(sentence)[0])


# -- a pipeline saved with one biLM and loaded with another ----------------------------------------
@pytest.fixture
def trained_pipeline(tiny_model, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    nlp.add_pipe("textcat", config=Config().from_str(TEXTCAT))
    data = [("good film", "POS"), ("bad film", "NEG")]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": float(c == "POS"), "NEG": float(c == "NEG")}}) for t, c in data]
    nlp.initialize(lambda: examples)
    nlp.to_disk(tmp_path / "pipeline")
    return nlp, tmp_path / "pipeline"


def test_saved_biLM_wins_over_a_config_override(trained_pipeline, tmp_path):
    """Documented: a saved pipeline carries its own biLM (elmo/bilm/); 'weights' only matter before training."""
    nlp, path = trained_pipeline
    other = save_tiny_model(tmp_path / "other", seed=3)
    loaded = spacy.load(path, config={"components": {"elmo": {"weights": str(other)}}})
    numpy.testing.assert_array_equal(loaded("good film")._.elmo_data.layers, nlp("good film")._.elmo_data.layers)


def test_swapped_biLM_of_another_width_is_refused(trained_pipeline, tmp_path):
    """Someone replaces pipeline/elmo/bilm with a biLM of another width: loading must say so."""
    _, path = trained_pipeline
    other = save_tiny_model(tmp_path / "narrow", seed=1, projection_dim=4)
    shutil.rmtree(path / "elmo" / "bilm")
    shutil.copytree(other, path / "elmo" / "bilm")
    with pytest.raises(ElmoError, match=r"holds a biLM with 3 output layers of width 8, but this pipeline was saved with 3 layers of width 16.*retrain"):
        spacy.load(path)


def test_docs_embedded_by_another_model(trained_pipeline, tmp_path):
    nlp, _ = trained_pipeline
    other = spacy.blank("en")
    other.add_pipe("elmo", config={"weights": str(save_tiny_model(tmp_path / "narrow", seed=1, projection_dim=4))})
    foreign = other("good film")
    with pytest.raises(ValueError, match="embedded by another biLM"):
        nlp.get_pipe("textcat")(foreign)
    with pytest.raises(ValueError, match="different models"):
        nlp("good film")[0].similarity(foreign[0])
