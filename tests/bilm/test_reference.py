"""The loader reproduces the activations the original TensorFlow biLM produced.

Tolerance: atol 1e-6 with rtol 1e-5, i.e. ``numpy.allclose(atol=1e-6)`` as the original
AllenNLP test uses. The reference is float32 TF output; an exact float64 run of the same
weights differs from it by up to 1.1e-6, so a tighter pure-atol bound would test TF's
rounding rather than our model.
"""
import numpy
import torch

from spacy_elmo.bilm.characters import add_sentence_boundaries

from tests.helpers import REFERENCE, needs_reference

pytestmark = needs_reference


def _top_as_halves(layers: numpy.ndarray, dim: int) -> numpy.ndarray:
    top = layers[-1]
    return numpy.stack([top[:, :dim], top[:, dim:]])


def test_stateful_batches_of_three_reproduce_reference(reference_model):
    bilm, sentences, expected = reference_model
    dim = bilm.options.projection_dim
    bilm.reset_states()
    checked = 0
    for i in range(len(sentences[0])):
        batch = [sentences[k][i].split() for k in range(3)]
        results = bilm.embed_sentences(batch, batch_size=3, stateful=True)
        for k in range(3):
            want = expected[k][i]
            assert results[k].shape == (3, len(batch[k]), 2 * dim)
            numpy.testing.assert_allclose(_top_as_halves(results[k], dim), want, rtol=1e-5, atol=1e-6)
            checked += 1
    assert checked == 30


def test_stateless_differs_after_first_batch_but_matches_first(reference_model):
    bilm, sentences, expected = reference_model
    dim = bilm.options.projection_dim
    first = [sentences[k][0].split() for k in range(3)]
    for k, result in enumerate(bilm.embed_sentences(first)):
        numpy.testing.assert_allclose(_top_as_halves(result, dim), expected[k][0], rtol=1e-5, atol=1e-6)
    # Without carried state, later batches must NOT match the stateful reference:
    second = [sentences[k][1].split() for k in range(3)]
    result = bilm.embed_sentences(second)[0]
    assert not numpy.allclose(_top_as_halves(result, dim), expected[0][1], atol=1e-4)


def test_layer_zero_is_token_vector_for_both_directions(reference_model):
    bilm, sentences, _ = reference_model
    dim = bilm.options.projection_dim
    result = bilm.embed_sentences([sentences[0][3].split()])[0]
    numpy.testing.assert_array_equal(result[0, :, :dim], result[0, :, dim:])


def test_token_vectors_match_cached_reference_embeddings():
    """AllenNLP's fixture caches the character-CNN vector of each vocabulary word (row i = line i)."""
    import h5py

    from spacy_elmo import load_bilm
    from spacy_elmo.bilm.characters import boundary_char_ids

    folder = REFERENCE / "allennlp"
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    words = (folder / "vocab_test.txt").read_text(encoding="utf-8").strip().split("\n")
    with h5py.File(folder / "elmo_token_embeddings.hdf5", "r") as h5:
        want = h5["embedding"][...]
    assert len(words) == want.shape[0]
    ids = bilm.char_ids([words])
    # The original vocabulary spells the sentence markers <S> and </S>.
    bounds = torch.from_numpy(boundary_char_ids(bilm.options.max_characters_per_token))
    ids[0, words.index("<S>")] = bounds[0]
    ids[0, words.index("</S>")] = bounds[1]
    with torch.no_grad():
        got = bilm.token_embedding(ids)[0].numpy()
    numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_raw_run_keeps_sentence_boundaries(reference_model):
    bilm, sentences, _ = reference_model
    tokens = sentences[1][2].split()
    ids = add_sentence_boundaries(bilm.char_ids([tokens]))
    with torch.no_grad():
        raw = bilm.run(ids)
        out = bilm(bilm.char_ids([tokens]))
    assert raw.token_embedding.shape[1] == len(tokens) + 2
    torch.testing.assert_close(raw.layers()[:, :, 1:-1], out.layers)
