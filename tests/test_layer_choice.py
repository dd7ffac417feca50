"""Issue 14, item 3: "which layers?" has one meaning, in embed, similarity, visualize and output_mix."""
from __future__ import annotations

import numpy
import pytest

from spacy_elmo.errors import ElmoError
from spacy_elmo.layer_choice import mix_coefficients, parse_layers, select_layers, token_vectors

LAYERS = numpy.arange(3 * 4 * 2, dtype=numpy.float32).reshape(3, 4, 2)  # [L=3, n=4, D=2]


def test_one_parser_for_every_spelling():
    assert parse_layers("0,2") == parse_layers([0, 2]) == (0, 2)
    assert parse_layers(1) == parse_layers("1") == (1,)
    assert parse_layers("-1", 3) == (2,)  # negative numbers count from the top
    assert parse_layers("mean") == "average" and parse_layers("concat") == "all"
    with pytest.raises(ElmoError, match="names layer 3, but this model has 3 output layers"):
        parse_layers("0,3", 3)
    with pytest.raises(ElmoError, match="not understood"):
        parse_layers("median")


def test_several_layers_keep_their_axis_and_are_concatenated_for_one_vector_per_token():
    numpy.testing.assert_array_equal(select_layers(LAYERS, (0, 2)), LAYERS[[0, 2]])
    numpy.testing.assert_array_equal(token_vectors(LAYERS, (0, 2)), numpy.concatenate([LAYERS[0], LAYERS[2]], axis=-1))
    numpy.testing.assert_array_equal(token_vectors(LAYERS, "all"), numpy.concatenate(list(LAYERS), axis=-1))
    numpy.testing.assert_array_equal(token_vectors(LAYERS, "top"), LAYERS[2])
    numpy.testing.assert_allclose(token_vectors(LAYERS, "average"), LAYERS.mean(axis=0))


def test_output_mix_means_the_same_choice():
    """token._.elmo for output_mix X equals token_vectors(layers, X): the same words, the same vectors."""
    for choice in ("top", "average", "mean", 1, -1, "0"):
        mix = mix_coefficients(choice, 3)
        numpy.testing.assert_allclose(numpy.tensordot(mix, LAYERS, axes=(0, 0)), token_vectors(LAYERS, parse_layers(choice, 3)),
                                      err_msg=str(choice))
    assert mix_coefficients("all", 3) is None and mix_coefficients("concat", 3) is None  # None = all, concatenated
    numpy.testing.assert_array_equal(mix_coefficients([0.2, 0.3, 0.5], 3), numpy.float32([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="one linear mix"):
        mix_coefficients("0,2", 3)  # a subset cannot be token._.elmo; a clear error, not another meaning
    with pytest.raises(ValueError, match="output_mix"):
        mix_coefficients("median", 3)


def test_output_mix_accepts_the_layer_words(tiny_model):
    import spacy

    for choice, expected in [("average", lambda x: x.mean(axis=0)), ("all", lambda x: numpy.concatenate(list(x), -1)),
                             (-1, lambda x: x[-1])]:
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": choice})
        doc = nlp("The river bank .")
        numpy.testing.assert_allclose(doc._.elmo_data.vectors, expected(doc._.elmo_data.layers), atol=1e-6, err_msg=str(choice))


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


def test_parse_layers():
    assert parse_layers("Top") == "top" and parse_layers("0,2") == (0, 2) and parse_layers("1") == (1,)
    with pytest.raises(ElmoError, match="names layer 3"):
        parse_layers("0,3", n_output_layers=3)
    with pytest.raises(ElmoError, match="not understood"):
        parse_layers("1;2")
