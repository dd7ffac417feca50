"""Issues 14 and 28: "which layers?" has one vocabulary, in ``--layers`` (embed, similarity, visualize), Python's
``layers=`` and the component's ``output_mix``: the same word gives the same vectors in each place, and every
word an error message suggests is accepted there."""
from __future__ import annotations

import json
import re

import numpy
import pytest

from spacy_elmo.errors import ElmoError
from spacy_elmo.layer_choice import check_output_mix, mix_coefficients, parse_layers, select_layers, token_vectors

LAYERS = numpy.arange(3 * 4 * 2, dtype=numpy.float32).reshape(3, 4, 2)  # [L=3, n=4, D=2]
# Every spelling of the vocabulary, in the forms a caller may give.
WORDS = ["mix", "top", "average", "mean", "all", "concat", "Top", "0,2", "2,0", "1", "-1", 0, 2, -1, [0, 2], (1,)]
# Words of an error message that explain rather than name a choice.
FILLER = {"or", "layer", "layers", "numbers", "such", "as", "the", "token", "use", "e", "g", "a", "list", "of", "one",
          "coefficient", "per", "output_mix", "also", "takes"}


def suggested_words(message: str):
    """The choices an error message offers after its "use": words and layer numbers, and bracketed lists."""
    offer = message[message.index(" use ") + 5:]
    lists = [json.loads(x) for x in re.findall(r"\[[^\]]*\]", offer)]
    offer = re.sub(r"\[[^\]]*\]", " ", offer)
    words = re.findall(r"-?\d+(?:,-?\d+)*|[A-Za-z_]+", offer)
    return sorted({w for w in words if w not in FILLER}), lists


def test_one_parser_for_every_spelling():
    assert parse_layers("0,2") == parse_layers([0, 2]) == (0, 2)
    assert parse_layers(1) == parse_layers("1") == (1,)
    assert parse_layers("-1", 3) == (2,)  # negative numbers count from the top
    assert parse_layers("mean") == "average" and parse_layers("concat") == "all" and parse_layers("Top") == "top"
    with pytest.raises(ElmoError, match="names layer 3, but this model has 3 output layers"):
        parse_layers("0,3", 3)
    for bad in ("median", "1;2", True, [0.5]):
        with pytest.raises(ElmoError, match="not|is not a layer choice"):
            parse_layers(bad)


def test_several_layers_keep_their_axis_and_are_concatenated_for_one_vector_per_token():
    numpy.testing.assert_array_equal(select_layers(LAYERS, (0, 2)), LAYERS[[0, 2]])
    numpy.testing.assert_array_equal(token_vectors(LAYERS, (0, 2)), numpy.concatenate([LAYERS[0], LAYERS[2]], axis=-1))
    numpy.testing.assert_array_equal(token_vectors(LAYERS, "all"), numpy.concatenate(list(LAYERS), axis=-1))
    numpy.testing.assert_array_equal(token_vectors(LAYERS, "top"), LAYERS[2])
    numpy.testing.assert_allclose(token_vectors(LAYERS, "average"), LAYERS.mean(axis=0))
    numpy.testing.assert_allclose(token_vectors(LAYERS, "mix"), LAYERS.mean(axis=0))  # no component: its default mix


@pytest.mark.parametrize("word", [w for w in WORDS if not isinstance(w, (list, tuple))], ids=str)
def test_output_mix_takes_every_word_with_the_same_meaning(word):
    """token._.elmo for output_mix W (ElmoData with mix_coefficients(W)) equals token_vectors(layers, W)."""
    from spacy_elmo.pipeline.data import ElmoData

    data = ElmoData(LAYERS, mix_coefficients(word, 3))
    expected = token_vectors(LAYERS, parse_layers(word, 3))
    assert data.width == expected.shape[1]
    numpy.testing.assert_allclose(data.vectors, expected, rtol=1e-6)


def test_a_list_in_output_mix_is_always_coefficients_whole_numbers_too():
    """A config file writes [0, 0, 1] as whole numbers: it has meant "the top layer" since before layer numbers
    were words, and must not turn into "layers 0, 0 and 1 concatenated" (three times as wide) without a word."""
    numpy.testing.assert_array_equal(mix_coefficients([0, 0, 1], 3), numpy.float32([0, 0, 1]))
    numpy.testing.assert_array_equal(mix_coefficients((1, 1, 1), 3), numpy.float32([1, 1, 1]))
    with pytest.raises(ValueError, match="2 coefficients, but the biLM has 3"):
        mix_coefficients([0, 2], 3)
    with pytest.raises(ValueError, match='not a number.*"0,2"'):
        check_output_mix(["top"])


def test_output_mix_coefficients_and_its_errors():
    numpy.testing.assert_array_equal(mix_coefficients([0.2, 0.3, 0.5], 3), numpy.float32([0.2, 0.3, 0.5]))
    assert mix_coefficients("all", 3) is None  # None = all layers, concatenated
    with pytest.raises(ValueError, match="3 output layers"):
        mix_coefficients([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="names layer 5"):
        mix_coefficients("0,5", 3)
    with pytest.raises(ValueError, match="output_mix 'median' is not understood"):
        check_output_mix("median")


def test_every_word_an_error_suggests_is_accepted_by_the_parser_and_output_mix():
    for raise_error in (lambda: parse_layers("median"), lambda: parse_layers(True), lambda: check_output_mix("median")):
        with pytest.raises((ElmoError, ValueError)) as err:
            raise_error()
        words, lists = suggested_words(str(err.value))
        assert {"mix", "top", "average", "mean", "all", "concat", "0,2"} <= set(words), words
        for word in words:
            parse_layers(word, 3)
            assert check_output_mix(word, 3) is not None
            mix_coefficients(word, 3)
        for coefficients in lists:
            assert mix_coefficients(coefficients, 3).shape == (3,)


@pytest.mark.parametrize("word", ["mix", "0,2", "-1", "concat"])
def test_the_component_takes_output_mix_words_as_layers_does(tiny_model, word):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": word})
    doc = nlp("The river bank .")
    data = doc._.elmo_data
    expected = token_vectors(data.layers, parse_layers(word, data.n_output_layers))
    numpy.testing.assert_allclose(numpy.stack([t._.elmo for t in doc]), expected, atol=1e-6)
    assert doc[2].vector.shape == (expected.shape[1],)


def test_the_component_error_suggests_only_words_it_accepts(tiny_model):
    import spacy

    with pytest.raises(ValueError, match="output_mix") as err:
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": "median"})
    words, lists = suggested_words(str(err.value))
    for word in words:
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": word})
    for coefficients in lists:
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": coefficients})


def test_python_layers_take_the_same_words(tiny_bilm):
    sentences = [["The", "river", "bank", "."], ["Hi"]]
    every = tiny_bilm.embed_sentences(sentences)
    assert every[0].shape == (3, 4, tiny_bilm.options.output_dim)  # the default: all layers, as before
    for word in WORDS:
        got = tiny_bilm.embed_sentences(sentences, layers=word)
        for g, all_layers in zip(got, every):
            numpy.testing.assert_array_equal(g, select_layers(all_layers, parse_layers(word, 3)), err_msg=str(word))
    numpy.testing.assert_allclose(tiny_bilm.embed_sentence(sentences[0], layers="top"), every[0][-1], atol=1e-6)  # alone: batch rounding
    with pytest.raises(ElmoError, match=r"layers= 'median' is not understood") as err:
        tiny_bilm.embed_sentences(sentences, layers="median")
    for word in suggested_words(str(err.value))[0]:
        tiny_bilm.embed_sentence(sentences[0], layers=word)
    with pytest.raises(ElmoError, match="names layer 7"):
        tiny_bilm.embed_sentence(sentences[0], layers=7)


def test_the_command_line_error_suggests_only_words_embed_and_similarity_accept(cli, tiny_model, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("The river bank .\n", encoding="utf-8")
    result = cli("embed", text, tmp_path / "bad.npz", "--layers", "median", "--model", tiny_model)
    assert result.exit_code != 0 and "median" in result.stderr
    words = suggested_words(result.stderr.replace("\n", " "))[0]
    assert "0,2" in words and "concat" in words
    for k, word in enumerate(words):
        result = cli("embed", text, tmp_path / f"{k}.npz", "--layers", word, "--model", tiny_model)
        assert result.exit_code == 0, (word, result.stderr)
    sentences = ["The river bank .", "The bank rates ."]
    result = cli("similarity", "bank", *sentences, "--layers", "median", "--model", tiny_model)
    assert result.exit_code != 0 and suggested_words(result.stderr.replace("\n", " "))[0] == words
    for word in words:
        result = cli("similarity", "bank", *sentences, "--layers", word, "--model", tiny_model)
        assert result.exit_code == 0, (word, result.stderr)


def test_similarity_and_embed_agree_on_layer_numbers(cli, tiny_model, tmp_path):
    """--layers 0,2 used to average the layers in similarity and keep them apart in embed."""
    from spacy_elmo.application.analysis import cosine_matrix
    from spacy_elmo.application.embedding_io import read_embeddings

    sentences = ["The river bank was muddy .", "The bank raised its rates ."]
    text = tmp_path / "in.txt"
    text.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    out = tmp_path / "layers.npz"
    assert cli("embed", text, out, "--layers", "0,2", "--model", tiny_model).exit_code == 0
    (tokens_a, a), (tokens_b, b) = read_embeddings(out)
    assert a.shape[0] == 2  # [2 layers, n, D]
    bank_a, bank_b = token_vectors(a, (0, 1))[tokens_a.index("bank")], token_vectors(b, (0, 1))[tokens_b.index("bank")]
    expected = cosine_matrix(numpy.stack([bank_a, bank_b]))[0, 1]
    result = cli("similarity", "bank", *sentences, "--layers", "0,2", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert f"{expected:5.3f}" in result.stdout.splitlines()[-2]


@pytest.mark.parametrize("command", [["embed"], ["similarity"], ["visualize", "word"]])
def test_every_layers_option_names_the_same_words(cli, command):
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", cli(*command, "--help").stdout).split())
    for word in ("mix", "top", "average (or mean)", "all (or concat)", "0,2"):
        assert word in text, (command, word)
