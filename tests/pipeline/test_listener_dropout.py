"""The listener's own regularisers: its dropout is its own (not spaCy's [training] dropout),
and the mix L2 penalty pulls the layer weights towards equal."""
import numpy
import pytest
import spacy
from thinc.api import set_dropout_rate

from spacy_elmo.pipeline import ElmoListener


def _run(listener, docs, layers, is_train):
    listener.receive(ElmoListener.get_batch_id(docs), layers, None)
    out, backprop = listener(docs, is_train=is_train)
    return out, backprop


@pytest.fixture
def docs_and_layers():
    docs = [spacy.blank("en").make_doc("a b c d e f g h")]
    layers = [numpy.random.default_rng(0).normal(size=(3, 8, 64)).astype("f")]
    return docs, layers


def _listener(**kwargs):
    listener = ElmoListener("*", None, **kwargs)
    listener.set_upstream_dims(3, 64)
    listener.initialize()
    return listener


def test_listener_dropout_survives_spacy_training_dropout(docs_and_layers):
    """spaCy sets every 'dropout_rate' in a component to [training] dropout before each update;
    the listener's own dropout must not follow it (it did, so 'dropout' had no effect)."""
    docs, layers = docs_and_layers
    listener = _listener(dropout=0.5)
    set_dropout_rate(listener, 0.0)  # what nlp.update does with [training] dropout = 0
    trained, _ = _run(listener, docs, layers, is_train=True)
    predicted, _ = _run(_listener(dropout=0.0), docs, layers, is_train=True)  # same mix, no dropout
    zeroed = numpy.isclose(trained[0], 0.0)
    assert 0.35 < zeroed.mean() < 0.65  # about half of the entries dropped
    kept = ~zeroed
    numpy.testing.assert_allclose(trained[0][kept], predicted[0][kept] / 0.5, rtol=1e-5)


def test_listener_without_dropout_ignores_spacy_training_dropout(docs_and_layers):
    docs, layers = docs_and_layers
    listener = _listener(dropout=0.0)
    set_dropout_rate(listener, 0.5)
    trained, _ = _run(listener, docs, layers, is_train=True)
    predicted, _ = _run(_listener(dropout=0.0), docs, layers, is_train=True)
    numpy.testing.assert_array_equal(trained[0], predicted[0])


def test_listener_dropout_is_validated():
    with pytest.raises(ValueError, match="dropout"):
        ElmoListener("*", None, dropout=1.0)


def test_mix_l2_pulls_layer_weights_towards_equal(docs_and_layers):
    docs, layers = docs_and_layers
    weights = [2.0, -1.0, 0.5]
    plain = _listener(initial_weights=weights)
    penalised = _listener(initial_weights=weights, mix_l2=0.1)
    for listener in (plain, penalised):
        out, backprop = _run(listener, docs, layers, is_train=True)
        backprop([numpy.zeros_like(out[0])])  # no task gradient: only the penalty is left
    numpy.testing.assert_array_equal(plain.get_grad("mix_weights"), numpy.zeros(3, dtype="f"))
    w = numpy.asarray(weights, dtype="f")
    numpy.testing.assert_allclose(penalised.get_grad("mix_weights"), 0.1 * (w - w.mean()), rtol=1e-6)
