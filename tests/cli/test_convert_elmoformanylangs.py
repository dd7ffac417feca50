"""ELMoForManyLangs folders at the command line: every --model takes one, `convert` makes one native,
and the training-side commands refuse one with a clear message (they know only the byte vocabulary)."""
import json

import numpy
import pytest

from spacy_elmo.bilm import load_bilm
from spacy_elmo.errors import OptionsError
from tests.helpers import REFERENCE, ROOT, needs_shared

EFML = REFERENCE / "elmoformanylangs"
MODEL = EFML / "tiny.model"
pytestmark = needs_shared(EFML)
SENTENCES = [["Die", "Bank", "."], ["Ünïcödé", "中文", "ok", "!"]]


def one_red_line(result, *needles):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_convert_writes_a_native_model_that_gives_the_same_vectors(cli, tmp_path):
    result = cli("convert", MODEL, tmp_path / "native", "--lang", "de")
    assert result.exit_code == 0, result.output
    assert "max vector difference 0.0e+00" in result.stdout
    names = sorted(p.name for p in (tmp_path / "native").iterdir())
    assert names == ["dictionaries.json", "options.json", "weights.safetensors"]  # no pickle in the native format
    options = json.loads((tmp_path / "native" / "options.json").read_text())
    assert options["lang"] == "de" and options["vocabulary"]["kind"] == "elmoformanylangs"
    for a, b in zip(load_bilm(MODEL).embed_sentences(SENTENCES), load_bilm(tmp_path / "native").embed_sentences(SENTENCES)):
        numpy.testing.assert_array_equal(a, b)
    half = cli("convert", MODEL, tmp_path / "half", "--half")
    assert half.exit_code == 0, half.output


def test_every_model_option_takes_the_folder(cli, tmp_path):
    info = cli("info", "--model", MODEL)
    assert info.exit_code == 0, info.output
    assert "ELMoForManyLangs model folder" in info.stdout and "a dictionary of 36 characters" in info.stdout
    text = tmp_path / "in.txt"
    text.write_text("Die Bank .\nÜnïcödé 中文 ok !\n", encoding="utf-8")
    embedded = cli("embed", text, tmp_path / "out.npz", "--model", MODEL, "--layers", "all")
    assert embedded.exit_code == 0, embedded.output
    similarity = cli("similarity", "Bank", "Die Bank .", "Eine Bank !", "--model", MODEL)
    assert similarity.exit_code == 0, similarity.output


def test_export_to_hdf5_is_refused_and_native_export_works(cli, tmp_path):
    one_red_line(cli("export", MODEL, tmp_path / "orig"), "original hdf5 layout", "byte character vocabulary", "--native")
    assert not (tmp_path / "orig" / "weights.hdf5").exists()
    native = cli("export", MODEL, tmp_path / "native", "--native")
    assert native.exit_code == 0, native.output
    with pytest.raises(OptionsError, match="byte character vocabulary"):
        from spacy_elmo.bilm import save_original

        save_original(load_bilm(MODEL), tmp_path / "direct")


def test_pretrain_init_from_and_adapt_are_refused(cli, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Die Bank ist hier .\n" * 50, encoding="utf-8")
    config = ROOT / "configs" / "pretrain" / "tiny.cfg"
    for model in (MODEL, _native(tmp_path)):  # the folder, and its native copy: the vocabulary decides, not the format
        one_red_line(cli("pretrain", corpus, tmp_path / "run", "--config", config, "--init-from", model, "--no-progress"),
                     "pretrain --init-from", "byte character vocabulary")
        one_red_line(cli("adapt", model, corpus, tmp_path / "adapted", "--no-progress"), "adapt of", "byte character vocabulary")
    assert not (tmp_path / "run").exists() and not (tmp_path / "adapted").exists()


def test_training_from_a_dictionary_biLM_in_python_is_refused():
    from spacy_elmo.training.config import PretrainConfig
    from spacy_elmo.training.trainer import build_lm

    bilm = load_bilm(MODEL)
    with pytest.raises(OptionsError, match="Training from an initial biLM needs a biLM with the original byte"):
        build_lm(PretrainConfig().with_model(bilm.options), 10, init_from=bilm)


def _native(tmp_path):
    load_bilm(MODEL).save(tmp_path / "native_copy")
    return tmp_path / "native_copy"


def test_original_files_without_out_dir_ask_for_out_dir_not_for_the_weights(cli, tmp_path):
    options, weights = REFERENCE / "allennlp" / "options.json", REFERENCE / "allennlp" / "lm_weights.hdf5"
    result = cli("convert", options, weights)
    one_red_line(result, "OUT_DIR is missing", f"convert {options} {weights} OUT_DIR")
    assert "also give the .hdf5" not in result.stderr
