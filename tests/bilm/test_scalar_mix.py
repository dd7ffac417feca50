import pytest
import torch

from spacy_elmo.bilm import ScalarMix


def test_default_is_mean_times_gamma():
    layers = torch.randn(3, 2, 5, 4)
    mix = ScalarMix(3, gamma=2.0)
    torch.testing.assert_close(mix(layers), 2.0 * layers.mean(0))


def test_weights_are_softmax_normalised():
    layers = torch.randn(3, 1, 2, 4)
    mix = ScalarMix(3, initial_weights=[0.0, 1.0, 2.0])
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    torch.testing.assert_close(mix(layers), (w[:, None, None, None] * layers).sum(0))


def test_fixed_weights_are_not_trainable():
    mix = ScalarMix(3, initial_weights=[-1e4, -1e4, 0.0], trainable=False)
    assert not mix.weights.requires_grad and not mix.gamma.requires_grad
    layers = torch.randn(3, 1, 2, 4)
    torch.testing.assert_close(mix(layers), layers[2])


def test_layer_norm_ignores_masked_tokens_and_is_per_sequence():
    torch.manual_seed(0)
    layers = torch.randn(2, 2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    mix = ScalarMix(2, layer_norm=True)
    out = mix(layers, mask)
    # Changing padded values or the other sequence does not change sequence 0.
    changed = layers.clone()
    changed[:, 0, 2:] = 100.0
    changed[:, 1] = -7.0
    torch.testing.assert_close(mix(changed, mask)[0], out[0])
    assert (out[0, 2:] == 0).all()
    normalised = (layers[0, 0, :2] - layers[0, 0, :2].mean()) / layers[0, 0, :2].std(unbiased=False)
    single = ScalarMix(2, layer_norm=True, initial_weights=[1e4, -1e4])
    torch.testing.assert_close(single(layers, mask)[0, :2], normalised, atol=1e-5, rtol=1e-5)


def test_wrong_number_of_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="built for 3 layers"):
        ScalarMix(3)(torch.randn(2, 1, 1, 1))
