import h5py
import numpy
import pytest
import torch
from typer.testing import CliRunner

from spacy_elmo.bilm import BiLM, load_bilm
from spacy_elmo.bilm.io_original import expected_shapes
from spacy_elmo.cli import app

from tests.helpers import REFERENCE, needs_reference, random_bilm

SENTENCES = [["The", "exported", "model", "matches", "."], ["Short", "one"], ["Ünïcödé", "wörds", "and", "a", "verylongtokenthatiscutoffbythecharacterlimitofelmo" * 2]]
runner = CliRunner()


def h5_datasets(path):
    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
    return out


def assert_same_vectors(a, b, atol=1e-6):
    for x, y in zip(a.embed_sentences(SENTENCES), b.embed_sentences(SENTENCES)):
        numpy.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.fixture
def trained_like_bilm(tmp_path):
    bilm = random_bilm(seed=3)
    bilm.save(tmp_path / "native")
    return bilm


def test_export_gives_the_same_vectors_and_the_original_layout(tmp_path, trained_like_bilm):
    result = runner.invoke(app, ["export", str(tmp_path / "native"), str(tmp_path / "original")])
    assert result.exit_code == 0, result.output
    exported = load_bilm(tmp_path / "original" / "options.json", tmp_path / "original" / "weights.hdf5")
    assert_same_vectors(trained_like_bilm, exported)
    datasets = h5_datasets(tmp_path / "original" / "weights.hdf5")
    assert {k: v.shape for k, v in datasets.items()} == expected_shapes(trained_like_bilm.options)
    assert all(v.dtype == numpy.float32 for v in datasets.values())


@needs_reference
@pytest.mark.parametrize("folder", ["allennlp", "bilm-tf/model"])
def test_convert_then_export_reproduces_the_reference_file(tmp_path, folder):
    """original -> native -> original: same dataset names, shapes, dtypes and values as the reference file."""
    ref = REFERENCE / folder
    result = runner.invoke(app, ["convert", str(ref / "options.json"), str(ref / "lm_weights.hdf5"), str(tmp_path / "native")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(tmp_path / "native"), str(tmp_path / "back")])
    assert result.exit_code == 0, result.output
    reference, back = h5_datasets(ref / "lm_weights.hdf5"), h5_datasets(tmp_path / "back" / "weights.hdf5")
    assert sorted(back) == sorted(reference)
    for name, value in reference.items():
        assert back[name].shape == value.shape and back[name].dtype == value.dtype, name
        numpy.testing.assert_allclose(back[name], value, atol=1e-6, rtol=0, err_msg=name)
    original = load_bilm(ref / "options.json", ref / "lm_weights.hdf5")
    assert_same_vectors(original, load_bilm(tmp_path / "native"), atol=0)
    assert_same_vectors(original, load_bilm(tmp_path / "back" / "options.json", tmp_path / "back" / "weights.hdf5"))


def test_export_of_a_run_directory_uses_its_model_and_vocab(tmp_path, trained_like_bilm):
    run = tmp_path / "run"
    trained_like_bilm.save(run / "model")
    (run / "model" / "vocab.txt").write_text("<S>\n</S>\n<UNK>\nthe\n", encoding="utf-8")
    result = runner.invoke(app, ["export", str(run), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "vocab.txt").read_text().startswith("<S>\n")


def test_convert_half_and_bad_input_errors(tmp_path, trained_like_bilm):
    from spacy_elmo.bilm.io_original import save_original

    save_original(trained_like_bilm, tmp_path / "orig")
    result = runner.invoke(app, ["convert", str(tmp_path / "orig" / "options.json"), str(tmp_path / "orig" / "weights.hdf5"),
                                 str(tmp_path / "half"), "--half"])
    assert result.exit_code == 0, result.output
    assert_same_vectors(trained_like_bilm, load_bilm(tmp_path / "half"), atol=2e-2)
    result = runner.invoke(app, ["export", str(tmp_path / "missing"), str(tmp_path / "x")])
    assert result.exit_code == 1 and "No ELMo model" in result.output
    (tmp_path / "bad.hdf5").write_bytes(b"not hdf5")
    result = runner.invoke(app, ["convert", str(tmp_path / "orig" / "options.json"), str(tmp_path / "bad.hdf5"), str(tmp_path / "y")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_export_native_half_for_shipping(tmp_path, trained_like_bilm):
    result = runner.invoke(app, ["export", str(tmp_path / "native"), str(tmp_path / "ship"), "--native", "--half"])
    assert result.exit_code == 0, result.output
    from safetensors.torch import load_file

    assert all(t.dtype == torch.float16 for t in load_file(str(tmp_path / "ship" / "weights.safetensors")).values())
    assert_same_vectors(trained_like_bilm, load_bilm(tmp_path / "ship"), atol=5e-2)
