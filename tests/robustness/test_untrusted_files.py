"""Model files from the internet are untrusted: every field is checked before anything is built, sizes are
checked against the weight files before memory is allocated, and a bad dictionary, a truncated file or a
member of the wrong kind is an error (OptionsError / WeightFileError) that names the file and the field."""
import json
import math
import os
import pickle
import shutil
import time

import h5py
import numpy
import pytest
import torch

from spacy_elmo.bilm import load_bilm, save_original
from spacy_elmo.bilm.io_elmoformanylangs import read_dictionary
from spacy_elmo.errors import OptionsError, WeightFileError
from tests.helpers import REFERENCE, needs_shared

EFML = REFERENCE / "elmoformanylangs" / "tiny.model"
ARCH = "tiny_cnn_8_6_16_32.json"
needs_efml = needs_shared(EFML)


# -- options.json: type, range, finiteness of every field ------------------------------------------
def edited_native(tiny_model, tmp_path, edit):
    folder = tmp_path / "edited"
    shutil.copytree(tiny_model, folder)
    data = json.loads((folder / "options.json").read_text())
    edit(data)
    (folder / "options.json").write_text(json.dumps(data))
    return folder


def _set(section, key, value):
    def edit(data):
        data[section][key] = value
    return edit


@pytest.mark.parametrize("section,key,value,message", [
    ("lstm", "cell_clip", "NaN", r"lstm\.cell_clip is 'NaN': expected a number"),
    ("lstm", "cell_clip", math.nan, r"lstm\.cell_clip is nan: expected a finite number"),
    ("lstm", "proj_clip", math.inf, r"lstm\.proj_clip is inf: expected a finite number"),
    ("lstm", "proj_clip", -1.0, r"lstm\.proj_clip is -1\.0"),
    ("lstm", "use_skip_connections", 1, r"lstm\.use_skip_connections is 1: expected true or false"),
    ("lstm", "dim", True, r"lstm\.dim is True: expected an integer"),
    ("lstm", "dim", 10 ** 9, r"lstm\.dim is 1000000000: expected an integer from 1 to 65536"),
    ("lstm", "n_layers", 2.5, r"lstm\.n_layers is 2\.5: expected an integer"),
    ("lstm", "projection_dim", -8, r"lstm\.projection_dim is -8"),
    ("char_cnn", "filters", [[1, 4, 9]], r"char_cnn\.filters\[0\] is \[1, 4, 9\]: expected a \[width, n_filters\] pair"),
    ("char_cnn", "filters", [], r"char_cnn\.filters is \[\]"),
    ("char_cnn", "filters", [[1, "4"]], r"char_cnn\.filters\[0\]\.n_filters is '4'"),
    ("char_cnn", "filters", [[99, 4]], r"char_cnn\.filters\[0\]\.width is 99: expected an integer from 1 to 50"),
    ("char_cnn", "n_characters", 5000, r"n_characters is 5000"),
    ("char_cnn", "activation", "gelu", r"char_cnn\.activation is 'gelu'"),
    ("char_cnn", "max_characters_per_token", 10 ** 7, r"char_cnn\.max_characters_per_token is 10000000"),
])
def test_a_bad_options_field_is_named(tiny_model, tmp_path, section, key, value, message):
    folder = edited_native(tiny_model, tmp_path, _set(section, key, value))
    with pytest.raises(OptionsError, match=message) as err:
        load_bilm(folder)
    assert str(folder / "options.json") in str(err.value)


def test_a_bad_section_and_a_bad_language_are_named(tiny_model, tmp_path):
    folder = edited_native(tiny_model, tmp_path, lambda d: d.update(lstm=[1, 2]))
    with pytest.raises(OptionsError, match="lstm is .*expected a JSON object"):
        load_bilm(folder)
    folder = edited_native(tiny_model, tmp_path / "b", lambda d: d.update(lang=["de"]))
    with pytest.raises(OptionsError, match=r"lang is \['de'\]"):
        load_bilm(folder)


def test_a_claimed_size_the_file_does_not_hold_fails_before_allocating(tiny_model, tmp_path):
    """60000 cells x 4 gates x 8 inputs would be GBs per layer: the header says otherwise, so nothing is built."""
    folder = edited_native(tiny_model, tmp_path, _set("lstm", "dim", 60000))
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=r"has shape \(96, 8\), but .*options.json expects \(240000, 8\)"):
        load_bilm(folder)
    assert time.perf_counter() - start < 2.0


# -- safetensors and hdf5: members of the wrong kind ------------------------------------------------
def test_native_tensors_of_the_wrong_kind(tiny_model, tmp_path):
    from safetensors.torch import load_file, save_file

    for name, change, message in [
        ("ints", lambda t: t.to(torch.int32), "holds I32 values, not floats"),
        ("nan", lambda t: torch.full_like(t, math.nan), "holds NaN or infinite values"),
    ]:
        folder = tmp_path / name
        shutil.copytree(tiny_model, folder)
        tensors = load_file(str(folder / "weights.safetensors"))
        tensors["char_cnn.projection.bias"] = change(tensors["char_cnn.projection.bias"])
        save_file(tensors, str(folder / "weights.safetensors"))
        with pytest.raises(WeightFileError, match=f"weights.safetensors: tensor 'char_cnn.projection.bias' {message}"):
            load_bilm(folder)


@pytest.fixture
def original_pair(tiny_model, tmp_path):
    folder = tmp_path / "original"
    save_original(load_bilm(tiny_model), folder)
    return folder / "options.json", folder / "weights.hdf5"


def test_hdf5_member_that_is_a_group(original_pair):
    options, weights = original_pair
    with h5py.File(weights, "a") as h5:
        del h5["CNN_proj/b_proj"]
        h5.create_group("CNN_proj/b_proj")
    with pytest.raises(WeightFileError, match=r"weights.hdf5: 'CNN_proj/b_proj' is a Group, not a dataset"):
        load_bilm(options, weights)


def test_hdf5_dataset_of_a_huge_claimed_shape_is_refused_unread(original_pair):
    options, weights = original_pair
    with h5py.File(weights, "a") as h5:
        del h5["char_embed"]
        h5.create_dataset("char_embed", shape=(10 ** 9, 4), dtype="f4", chunks=(1024, 4))  # nothing stored
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=r"dataset 'char_embed' has shape \(1000000000, 4\), but the options expect \(261, 4\)"):
        load_bilm(options, weights)
    assert time.perf_counter() - start < 2.0


def test_hdf5_dataset_of_strings(original_pair):
    options, weights = original_pair
    with h5py.File(weights, "a") as h5:
        del h5["CNN_proj/b_proj"]
        h5.create_dataset("CNN_proj/b_proj", data=numpy.array([b"x"] * 8))
    with pytest.raises(WeightFileError, match="'CNN_proj/b_proj' holds .* values, not numbers"):
        load_bilm(options, weights)


# -- ELMoForManyLangs folders -----------------------------------------------------------------------
@pytest.fixture
def efml_copy(tmp_path):
    folder = tmp_path / "efml"
    shutil.copytree(EFML, folder)
    folder.chmod(0o755)  # the shared copy is read-only
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def edit_architecture(folder, section, key, value):
    data = json.loads((folder / ARCH).read_text())
    data[section][key] = value
    (folder / ARCH).write_text(json.dumps(data))


@needs_efml
@pytest.mark.parametrize("section,key,value,message", [
    ("encoder", "cell_clip", "NaN", r"encoder\.cell_clip is 'NaN'"),
    ("encoder", "proj_clip", math.nan, r"encoder\.proj_clip is nan"),
    ("encoder", "n_layers", True, r"encoder\.n_layers is True"),
    ("encoder", "dim", 10 ** 9, r"encoder\.dim is 1000000000: expected an integer from 1 to 65536"),
    ("encoder", "name", "lstm", r"only the 'elmo' encoder"),
    ("token_embedder", "name", "lstm", r"only the 'cnn' token embedder"),
    ("token_embedder", "filters", [[1, 4], [2]], r"token_embedder\.filters\[1\] is \[2\]"),
    ("token_embedder", "char_dim", 0, r"char_dim is 0: models without characters"),
    ("token_embedder", "word_dim", -6, r"token_embedder\.word_dim is -6"),
    ("token_embedder", "activation", "sigmoid", r"token_embedder\.activation is 'sigmoid'"),
])
def test_a_bad_architecture_field_is_named(efml_copy, section, key, value, message):
    edit_architecture(efml_copy, section, key, value)
    with pytest.raises(OptionsError, match=message) as err:
        load_bilm(efml_copy)
    assert ARCH in str(err.value)


@needs_efml
def test_a_size_the_pkl_does_not_hold_fails_before_reading_it(efml_copy):
    edit_architecture(efml_copy, "encoder", "dim", 60000)
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=r"encoder.pkl is 81,843 bytes, but the architecture's tensors take"):
        load_bilm(efml_copy)
    assert time.perf_counter() - start < 2.0


@needs_efml
@pytest.mark.parametrize("config_path,message", [
    (None, "config_path is None"),
    (42, "config_path is 42"),
    ("../../../etc/hostname", r"config_path names '../../../etc/hostname', which is neither in"),
    ("a\x00b.json", r"config_path 'a\\x00b.json' holds a NUL character"),
    ("configs/", r"config_path names 'configs/', which is neither in"),
])
def test_config_path_is_checked_and_never_leaves_the_folder(efml_copy, config_path, message):
    config = json.loads((efml_copy / "config.json").read_text())
    (efml_copy / ARCH).unlink()
    config["config_path"] = config_path
    (efml_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(OptionsError, match=message):
        load_bilm(efml_copy)


@needs_efml
def test_an_authors_absolute_config_path_is_found_by_its_name(efml_copy):
    """Released models name their authors' paths; the file in the folder, by name, is used (as the original does)."""
    config = json.loads((efml_copy / "config.json").read_text())
    config["config_path"] = f"/home/someone/elmo/configs/{ARCH}"
    (efml_copy / "config.json").write_text(json.dumps(config))
    assert load_bilm(efml_copy).options.lstm_dim == 32


@needs_efml
@pytest.mark.parametrize("lines,message", [
    (["<pad>\t99"], r"char.dic, line 36: id 99 of '<pad>' is out of range: 36 entries need ids 0 to 35"),
    (["<pad>\t-1"], r"id -1 of '<pad>' is out of range"),
    (["<pad>\t5"], r"char.dic, line \d+: id 5 is given to both"),
    (["<pad>\tfive"], r"char.dic, line 36: the id 'five' of '<pad>' is not an integer"),
    (["<pad>\t3\textra"], r"char.dic, line 36: .* has 3 tab-separated fields"),
])
def test_a_corrupt_dictionary_is_named_by_file_and_line(efml_copy, lines, message):
    path = efml_copy / "char.dic"
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("<pad>")]
    path.write_text("\n".join(kept + lines) + "\n", encoding="utf-8")
    with pytest.raises(WeightFileError, match=message):
        load_bilm(efml_copy)


@needs_efml
def test_dictionary_without_a_special_entry_or_not_utf8(efml_copy):
    path = efml_copy / "word.dic"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<pad>\t3", "<pud>\t3"), encoding="utf-8")
    with pytest.raises(WeightFileError, match=r"word.dic: no entry for <pad>"):
        load_bilm(efml_copy)
    path.write_bytes(text.encode("utf-8") + b"\xff\xfe\t24\n")
    with pytest.raises(WeightFileError, match=r"word.dic: byte \d+ is not UTF-8"):
        load_bilm(efml_copy)
    path.unlink()
    with pytest.raises(WeightFileError, match=r"word.dic is missing"):
        load_bilm(efml_copy)


def test_their_reader_line_splitting(tmp_path):
    """Lines as str.splitlines cuts them (also at \\x1c and \\u2028), stripped, split at tabs; one field left
    is the key U+3000; a later line with the same key wins (here: the id of 'b' is then out of range)."""
    path = tmp_path / "x.dic"
    path.write_text("a\t0\r\n \t1\n\u3000\t1\x1cc\t2\n", encoding="utf-8")  # ' ' and U+3000 both read as U+3000
    assert read_dictionary(path) == ["a", "\u3000", "c"]
    path.write_text("a\t0\nb\t1\na\t2\n", encoding="utf-8")
    with pytest.raises(WeightFileError, match=r"line 3: id 2 of 'a' is out of range: 2 entries"):
        read_dictionary(path)
    path.write_text("a\t0\n\u2028\t1\n", encoding="utf-8")  # their reader cuts this line in two, and fails on it
    with pytest.raises(WeightFileError, match=r"line 2: the id '' of '\\u3000' is not an integer"):
        read_dictionary(path)


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@needs_efml
def test_pkl_members_of_the_wrong_kind(efml_copy, tmp_path):
    path = efml_copy / "token_embedder.pkl"
    state = torch.load(path, weights_only=True)
    needed = path.stat().st_size
    cases = [
        (list(state.values()), "holds a list, not a state dict"),
        ({**state, "extra": 3}, r"entry 'extra' is a int, not a tensor"),
        ({**state, "extra": torch.zeros(1)}, r"tensor 'extra' is unexpected"),
        ({k: v for k, v in state.items() if k != "projection.bias"}, r"tensor 'projection.bias' is missing"),
        ({**state, "projection.bias": torch.zeros(17)}, r"tensor 'projection.bias' has shape \(17,\)"),
        ({**state, "projection.bias": torch.zeros(16, dtype=torch.int64)}, r"'projection.bias' holds torch.int64 values, not floats"),
        ({**state, "projection.bias": torch.full((16,), math.inf)}, r"'projection.bias' holds NaN or infinite values"),
    ]
    for value, message in cases:
        torch.save(value, path)
        with pytest.raises(WeightFileError, match=r"token_embedder.pkl.*" + message):
            load_bilm(efml_copy)
    marker = tmp_path / "code-ran"
    path.write_bytes(pickle.dumps((RunsCode(str(marker)), b"x" * needed), protocol=2))
    with pytest.raises(WeightFileError, match="holds something other than tensors"):
        load_bilm(efml_copy)
    assert not marker.exists()  # weights_only: the pickle's code never ran


@needs_efml
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_truncated_pkl(efml_copy, fraction):
    path = efml_copy / "encoder.pkl"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(WeightFileError, match="encoder.pkl"):
        load_bilm(efml_copy)


@needs_efml
def test_the_legacy_torch_format_of_the_released_models_reads_the_same(efml_copy):
    """The released models were saved by torch 0.4 (the pickle format before zip): weights_only reads it too."""
    sentences = [["Die", "Bank", "."]]
    want = load_bilm(EFML).embed_sentences(sentences)[0]
    for name in ("token_embedder.pkl", "encoder.pkl"):
        state = torch.load(efml_copy / name, weights_only=True)
        torch.save(state, efml_copy / name, _use_new_zipfile_serialization=False)
    numpy.testing.assert_array_equal(load_bilm(efml_copy).embed_sentences(sentences)[0], want)


@needs_efml
def test_a_legacy_pkl_that_claims_a_huge_tensor_fails_fast(efml_copy):
    """The pickle format before zip names each storage's size before its data: a claim of 1.5e9 floats in an
    80 kB file must be an error at once, never 6 GB of memory filled."""
    path = efml_copy / "token_embedder.pkl"
    torch.save(torch.load(path, weights_only=True), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    claim = b"K\x10N"  # projection.bias: the one storage of 16 floats (BININT1 16, then the view's NONE)
    assert data.count(claim) == 1
    path.write_bytes(data.replace(claim, b"J" + (1_500_000_000).to_bytes(4, "little") + b"N"))
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match="token_embedder.pkl as a torch state dict"):
        load_bilm(efml_copy)
    assert time.perf_counter() - start < 2.0


@needs_efml
def test_native_dictionaries_file_is_checked(tmp_path):
    folder = tmp_path / "native"
    load_bilm(EFML).save(folder)
    path = folder / "dictionaries.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for broken, message in [
        ({**data, "characters": data["characters"] + ["a"]}, r"dictionaries.json: characters: 'a' has two ids"),
        ({**data, "words": data["words"][:-1]}, r"does not match the options"),
        ({**data, "characters": [1] + data["characters"][1:]}, r"characters\[0\] is 1; every entry must be a string"),
        ({**data, "format": "pickle"}, r"'format' is not"),
    ]:
        path.write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises((WeightFileError, OptionsError), match=message):
            load_bilm(folder)
    os.remove(path)
    with pytest.raises(WeightFileError, match="dictionaries.json is missing"):
        load_bilm(folder)
