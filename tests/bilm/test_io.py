import json

import h5py
import numpy
import pytest
import torch

from spacy_elmo import load_bilm
from spacy_elmo.bilm import BiLM, OptionsError, WeightFileError, save_original
from spacy_elmo.bilm import load_bilm as read_format  # the format loader, below the names spacy_elmo.load_bilm takes
from spacy_elmo.bilm.io_original import expected_shapes
from tests.helpers import REFERENCE, needs_reference, tiny_options

SENTENCES = [["Weights", "travel", "well", "."], ["Twice", "?"]]


def test_native_round_trip_is_exact(tiny_bilm, tmp_path):
    tiny_bilm.save(tmp_path / "model")
    loaded = load_bilm(tmp_path / "model")
    for a, b in zip(tiny_bilm.embed_sentences(SENTENCES), loaded.embed_sentences(SENTENCES)):
        numpy.testing.assert_array_equal(a, b)


def test_native_half_precision_is_close(tiny_bilm, tmp_path):
    from safetensors.torch import load_file

    tiny_bilm.save(tmp_path / "half", half=True)
    stored = load_file(str(tmp_path / "half" / "weights.safetensors"))
    assert {t.dtype for t in stored.values()} == {torch.float16}  # half the bytes on disk
    loaded = load_bilm(tmp_path / "half")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}  # always loaded as float32
    for a, b in zip(tiny_bilm.embed_sentences(SENTENCES), loaded.embed_sentences(SENTENCES)):
        numpy.testing.assert_allclose(a, b, atol=5e-2)


def test_original_round_trip_is_exact(tiny_bilm, tmp_path):
    weights = save_original(tiny_bilm, tmp_path / "orig")
    loaded = load_bilm(tmp_path / "orig" / "options.json", weights)
    for a, b in zip(tiny_bilm.embed_sentences(SENTENCES), loaded.embed_sentences(SENTENCES)):
        numpy.testing.assert_allclose(a, b, atol=1e-6)
    assert load_bilm(tmp_path / "orig").options == tiny_bilm.options  # a directory with one pair


@needs_reference
def test_exported_file_has_the_reference_layout(tmp_path):
    folder = REFERENCE / "bilm-tf" / "model"
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    weights = save_original(bilm, tmp_path)

    def layout(path):
        found = {}
        with h5py.File(path, "r") as h5:
            h5.visititems(lambda n, o: found.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None)
        return found

    assert layout(weights) == layout(folder / "lm_weights.hdf5")
    with h5py.File(weights, "r") as out, h5py.File(folder / "lm_weights.hdf5", "r") as ref:
        for name in expected_shapes(bilm.options):
            numpy.testing.assert_allclose(out[name][...], ref[name][...], atol=1e-7)


def test_missing_weight_file_names_the_file(tmp_path, tiny_bilm):
    tiny_bilm.options.to_file(tmp_path / "options.json")
    with pytest.raises(WeightFileError, match="not found.*nope.hdf5"):
        read_format(tmp_path / "options.json", tmp_path / "nope.hdf5")
    with pytest.raises(WeightFileError, match="nope.hdf5"):  # by name: the path resolver says it first
        load_bilm(tmp_path / "options.json", tmp_path / "nope.hdf5")


def test_corrupt_weight_file_is_a_clear_error(tmp_path, tiny_bilm):
    weights = save_original(tiny_bilm, tmp_path)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightFileError, match="corrupt|truncated"):
        load_bilm(tmp_path / "options.json", weights)
    (tmp_path / "text.hdf5").write_text("hello")
    with pytest.raises(WeightFileError, match="text.hdf5"):
        load_bilm(tmp_path / "options.json", tmp_path / "text.hdf5")


def test_shape_mismatch_names_dataset_and_shapes(tmp_path, tiny_bilm):
    weights = save_original(tiny_bilm, tmp_path / "a")
    other = tiny_options(lstm_dim=32)
    other.to_file(tmp_path / "other.json")
    with pytest.raises(WeightFileError) as err:
        load_bilm(tmp_path / "other.json", weights)
    message = str(err.value)
    assert "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0" in message
    assert "(16, 96)" in message and "(16, 128)" in message and str(weights) in message


def test_missing_dataset_is_named(tmp_path, tiny_bilm):
    weights = save_original(tiny_bilm, tmp_path)
    with h5py.File(weights, "a") as h5:
        del h5["CNN_proj/W_proj"]
    with pytest.raises(WeightFileError, match="CNN_proj/W_proj.*missing"):
        load_bilm(tmp_path / "options.json", weights)


def test_native_mismatch_and_corruption(tmp_path, tiny_bilm):
    tiny_bilm.save(tmp_path / "m")
    tiny_options(projection_dim=6).to_file(tmp_path / "m" / "options.json")
    with pytest.raises(WeightFileError, match="expects"):
        load_bilm(tmp_path / "m")
    tiny_bilm.save(tmp_path / "c")
    path = tmp_path / "c" / "weights.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightFileError, match="corrupt"):
        load_bilm(tmp_path / "c")


def test_bad_options_are_clear(tmp_path):
    (tmp_path / "o.json").write_text(json.dumps({"lstm": {"dim": 4}}))
    with pytest.raises(OptionsError, match="char_cnn"):
        read_format(tmp_path / "o.json", tmp_path / "w.hdf5")
    (tmp_path / "bad.json").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(OptionsError, match="not valid JSON"):
        read_format(tmp_path / "bad.json", tmp_path / "w.hdf5")
    with pytest.raises(OptionsError, match="activation"):
        tiny_options(activation="gelu")


def test_nothing_at_path(tmp_path):
    with pytest.raises(WeightFileError, match="No ELMo model"):
        load_bilm(tmp_path / "missing")
    with pytest.raises(WeightFileError, match="neither"):
        load_bilm(tmp_path)


def test_options_round_trip(tmp_path):
    options = tiny_options()
    options.to_file(tmp_path / "o.json")
    from spacy_elmo.bilm import BiLMOptions

    assert BiLMOptions.from_file(tmp_path / "o.json") == options
    assert BiLM(options).options.output_dim == 16
