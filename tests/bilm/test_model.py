import numpy
import pytest
import torch

from spacy_elmo.bilm import BiLM, ScalarMix
from tests.helpers import tiny_options

SENTENCES = [
    "The quick brown fox jumps over the lazy dog .".split(),
    ["Hi"],
    "A much longer sentence , with punctuation ; and Ünïcödé 👍 tokens inside it .".split(),
    "Short one".split(),
]


def test_output_shape_and_dtype(tiny_bilm):
    out = tiny_bilm.embed_sentences(SENTENCES)
    for sentence, layers in zip(SENTENCES, out):
        assert layers.shape == (3, len(sentence), 16)
        assert layers.dtype == numpy.float32
        assert numpy.isfinite(layers).all()


def test_sentence_alone_equals_sentence_in_mixed_batch(tiny_bilm):
    together = tiny_bilm.embed_sentences(SENTENCES, batch_size=4)
    for i, sentence in enumerate(SENTENCES):
        alone = tiny_bilm.embed_sentences([sentence])[0]
        numpy.testing.assert_allclose(alone, together[i], atol=1e-5)


def test_results_keep_input_order_across_batches(tiny_bilm):
    small_batches = tiny_bilm.embed_sentences(SENTENCES, batch_size=1)
    one_batch = tiny_bilm.embed_sentences(SENTENCES, batch_size=64)
    for a, b in zip(small_batches, one_batch):
        numpy.testing.assert_allclose(a, b, atol=1e-5)


def test_context_changes_vectors_but_not_layer_zero(tiny_bilm):
    a = tiny_bilm.embed_sentences([["river", "bank"]])[0]
    b = tiny_bilm.embed_sentences([["the", "bank"]])[0]
    numpy.testing.assert_allclose(a[0, 1], b[0, 1], atol=1e-6)
    assert not numpy.allclose(a[2, 1], b[2, 1], atol=1e-4)


def test_empty_sentence_gives_empty_array(tiny_bilm):
    out = tiny_bilm.embed_sentences([[], ["word"]])
    assert out[0].shape == (3, 0, 16)
    assert out[1].shape == (3, 1, 16)


def test_stateful_mode_carries_state_and_reset_clears_it(tiny_bilm):
    first = tiny_bilm.embed_sentences([SENTENCES[0]], stateful=True)[0]
    second = tiny_bilm.embed_sentences([SENTENCES[0]], stateful=True)[0]
    assert not numpy.allclose(first[1], second[1], atol=1e-4)
    numpy.testing.assert_allclose(first[0], second[0])  # layer 0 has no state
    tiny_bilm.reset_states()
    again = tiny_bilm.embed_sentences([SENTENCES[0]], stateful=True)[0]
    numpy.testing.assert_allclose(first, again, atol=1e-6)
    stateless = tiny_bilm.embed_sentences([SENTENCES[0]])[0]
    numpy.testing.assert_allclose(first, stateless, atol=1e-6)


def test_residual_connection_changes_top_layer():
    torch.manual_seed(1)
    with_skip = BiLM(tiny_options(use_skip_connections=True))
    without = BiLM(tiny_options(use_skip_connections=False))
    without.load_state_dict(with_skip.state_dict())
    a = with_skip.embed_sentences([SENTENCES[0]])[0]
    b = without.embed_sentences([SENTENCES[0]])[0]
    numpy.testing.assert_allclose(a[1], b[1], atol=1e-6)
    numpy.testing.assert_allclose(a[2], b[2] + a[1], atol=1e-5)


def test_clipping_bounds_lstm_outputs():
    torch.manual_seed(2)
    bilm = BiLM(tiny_options(proj_clip=0.05, use_skip_connections=False))
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-3, 3)
    out = bilm.embed_sentences([SENTENCES[2]])[0]
    assert numpy.abs(out[1:]).max() <= 0.05 + 1e-7
    assert numpy.abs(out[1:]).max() > 0.04


def test_gradients_reach_every_parameter(tiny_bilm):
    tiny_bilm.train()
    ids = tiny_bilm.char_ids(SENTENCES)
    out = tiny_bilm(ids)
    mix = ScalarMix(3)
    loss = (mix(out.layers, out.mask) ** 2).sum()
    loss.backward()
    missing = [n for n, p in tiny_bilm.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert mix.weights.grad is not None and mix.gamma.grad is not None


def test_padding_char_embedding_row_gets_no_gradient(tiny_bilm):
    tiny_bilm.train()
    out = tiny_bilm(tiny_bilm.char_ids(SENTENCES))
    out.layers.sum().backward()
    assert tiny_bilm.char_cnn.char_embedding.weight.grad[0].abs().sum() == 0
