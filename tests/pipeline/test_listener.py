"""ElmoListener: its scalar mix against the core ScalarMix, and training NER/textcat through it."""
import numpy
import pytest
import spacy

from tests.helpers import TINY_TEXTCAT_LISTENER_CFG
import torch
from spacy.training import Example
from thinc.api import Adam, Config

from spacy_elmo import ScalarMix
from spacy_elmo.pipeline import ElmoListener

NER_MODEL = """
[model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
hidden_width = 32
maxout_pieces = 2
use_upper = true

[model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 16
layer_norm = true

[model.tok2vec.tok2vec]
@architectures = "spacy.MultiHashEmbed.v2"
width = 8
attrs = ["NORM", "SHAPE"]
rows = [200, 50]
include_static_vectors = false
"""

TEXTCAT_MODEL = TINY_TEXTCAT_LISTENER_CFG

DATA = [
    ("Alice lives in Paris .", [(0, 5, "PER"), (15, 20, "LOC")], "POS"),
    ("Bob went to London today .", [(0, 3, "PER"), (12, 18, "LOC")], "NEG"),
    ("Paris is big .", [(0, 5, "LOC")], "POS"),
    ("I met Carol in Rome .", [(6, 11, "PER"), (15, 19, "LOC")], "NEG"),
]


def build(tiny_model, frozen=True, textcat=True, **elmo_config):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "frozen": frozen, **elmo_config})
    nlp.add_pipe("ner", config=Config().from_str(NER_MODEL))
    if textcat:
        nlp.add_pipe("textcat", config=Config().from_str(TEXTCAT_MODEL))
    examples = [
        Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": {"POS": float(c == "POS"), "NEG": float(c == "NEG")}})
        for t, e, c in DATA
    ]
    return nlp, examples


def predictions(nlp, texts):
    docs = list(nlp.pipe(texts))
    return [[(e.start, e.end, e.label_) for e in d.ents] for d in docs], [d.cats for d in docs]


# -- the mix itself --------------------------------------------------------------------------------
@pytest.mark.parametrize("layer_norm", [False, True])
def test_mix_equals_core_scalar_mix_forward_and_backward(layer_norm):
    rng = numpy.random.default_rng(0)
    lengths = [5, 1, 3]
    layers = [rng.normal(size=(3, n, 4)).astype("f") for n in lengths]
    weights, gamma = [0.3, -0.7, 1.1], 1.7
    listener = ElmoListener("*", None, layer_norm=layer_norm, initial_weights=weights, initial_gamma=gamma)
    listener.set_upstream_dims(3, 4)
    listener.initialize()
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(" ".join(["w"] * n)) for n in lengths]
    received = []
    listener.receive(ElmoListener.get_batch_id(docs), layers, received.append)
    outputs, backprop = listener(docs, is_train=True)
    d_out = [rng.normal(size=o.shape).astype("f") for o in outputs]
    backprop(d_out)

    mix = ScalarMix(3, layer_norm=layer_norm, initial_weights=weights, gamma=gamma)
    padded = torch.zeros(3, len(lengths), max(lengths), 4)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for i, (x, n) in enumerate(zip(layers, lengths)):
        padded[:, i, :n] = torch.from_numpy(x)
        mask[i, :n] = True
    padded.requires_grad_(True)
    expected = mix(padded, mask)
    grad = torch.zeros_like(expected)
    for i, (d, n) in enumerate(zip(d_out, lengths)):
        grad[i, :n] = torch.from_numpy(d)
    expected.backward(grad)
    for i, n in enumerate(lengths):
        numpy.testing.assert_allclose(outputs[i], expected[i, :n].detach().numpy(), atol=1e-5)
        numpy.testing.assert_allclose(received[0][i], padded.grad[:, i, :n].numpy(), atol=1e-4)
    numpy.testing.assert_allclose(listener.get_grad("mix_weights"), mix.weights.grad.numpy(), atol=1e-4)
    numpy.testing.assert_allclose(listener.get_grad("gamma"), mix.gamma.grad.numpy(), atol=1e-4)


def test_the_listener_drops_a_batch_after_its_backprop():
    """The layers of a training batch do not live on until the next batch; a newer batch is never dropped."""
    layers = [numpy.ones((3, 2, 4), dtype="f")]
    listener = ElmoListener("*", None)
    listener.set_upstream_dims(3, 4)
    listener.initialize()
    docs = [spacy.blank("en").make_doc("a b")]
    listener.receive(ElmoListener.get_batch_id(docs), layers, None)
    outputs, backprop = listener(docs, is_train=True)
    assert listener._outputs is layers
    backprop([numpy.ones_like(o) for o in outputs])
    assert listener._outputs is None and listener._backprop is None and listener._batch_id is None
    with pytest.raises(ValueError, match="got neither outputs"):  # nothing stale is reused
        listener(docs, is_train=True)
    other = [spacy.blank("en").make_doc("c d e")]  # received again, then a newer batch arrives before backprop
    listener.receive(ElmoListener.get_batch_id(docs), layers, None)
    _, backprop = listener(docs, is_train=True)
    listener.receive(ElmoListener.get_batch_id(other), [numpy.ones((3, 3, 4), dtype="f")], None)
    backprop([numpy.ones((2, 4), dtype="f")])
    assert listener._batch_id == ElmoListener.get_batch_id(other)


def test_layer_dropout_only_in_training():
    layers = [numpy.random.default_rng(1).normal(size=(3, 6, 4)).astype("f")]
    listener = ElmoListener("*", None, layer_dropout=0.5)
    listener.set_upstream_dims(3, 4)
    listener.initialize()
    docs = [spacy.blank("en").make_doc("a b c d e f")]
    seen = set()
    for _ in range(20):
        listener.receive(ElmoListener.get_batch_id(docs), layers, None)
        out, _ = listener(docs, is_train=True)
        seen.add(tuple(numpy.round(out[0][0], 4)))
    assert len(seen) > 1  # layers were dropped at random
    assert numpy.isfinite(numpy.array(list(seen))).all()


def test_listener_without_elmo_first_fails_clearly():
    nlp = spacy.blank("en")
    nlp.add_pipe("ner", config=Config().from_str(NER_MODEL))
    with pytest.raises(ValueError, match="must come before"):
        nlp.initialize()


# -- training through listeners --------------------------------------------------------------------
def test_tiny_ner_and_textcat_train_save_load(tiny_model, tmp_path):
    nlp, examples = build(tiny_model, cache_size_mb=64)  # as the training configs do: epochs repeat their docs
    nlp.initialize(lambda: examples)
    elmo = nlp.get_pipe("elmo")
    assert len(elmo.listeners) == 2 and elmo.listening_components == ["ner", "textcat"]
    before_mix = [l.mix_weights.copy() for l in elmo.listeners]
    before_bilm = [p.detach().clone() for p in elmo.bilm.parameters()]
    sgd = Adam(0.01)
    history = []
    calls = []
    original_forward = elmo.bilm.forward
    for step in range(40):
        if step == 1:  # from the second epoch on, the frozen biLM's layers come from the cache
            elmo.bilm.forward = lambda ids, stateful=False: calls.append(1) or original_forward(ids, stateful=stateful)
        losses = {}
        nlp.update(examples, sgd=sgd, losses=losses, drop=0.0)
        history.append((losses["ner"], losses["textcat"]))
    del elmo.bilm.forward
    assert calls == []
    first, last = numpy.mean(history[:3], axis=0), numpy.mean(history[-3:], axis=0)
    assert last[0] < 0.1 * first[0] and last[1] < 0.5 * first[1]
    for listener, before in zip(elmo.listeners, before_mix):
        assert numpy.abs(listener.mix_weights - before).max() > 1e-3  # each component's own mix moved
    assert all(torch.equal(a, b) for a, b in zip(before_bilm, elmo.bilm.parameters()))  # frozen biLM untouched
    assert elmo.model.cache.hits > 0  # later epochs did not recompute the biLM

    texts = [t for t, _, _ in DATA] + ["Carol went to Paris ."]
    # Cached layers came from training batches; another batch composition changes float rounding
    # (~1e-7), so compare fresh computations on both sides, batched alike: then they are identical.
    elmo.model.cache.clear()
    expected = predictions(nlp, texts)
    assert any(expected[0])  # it learnt to find entities
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert predictions(loaded, texts) == expected
    for a, b in zip(nlp.pipe(texts), loaded.pipe(texts)):
        numpy.testing.assert_array_equal(a._.elmo_data.layers, b._.elmo_data.layers)
    loaded_elmo = loaded.get_pipe("elmo")
    assert len(loaded_elmo.listeners) == 2
    numpy.testing.assert_array_equal(loaded_elmo.listeners[0].mix_weights, elmo.listeners[0].mix_weights)


def test_trainable_bilm_changes_and_frozen_does_not(tiny_model):
    for frozen in (True, False):
        nlp, examples = build(tiny_model, frozen=frozen)
        nlp.initialize(lambda: examples)
        elmo = nlp.get_pipe("elmo")
        before = [p.detach().clone() for p in elmo.bilm.parameters()]
        sgd = Adam(0.01)
        # step 1: zero-initialised output layers send no gradient; step 2's is applied at step 3
        for _ in range(3):
            losses = {}
            nlp.update(examples, sgd=sgd, losses=losses)
        changed = sum(not torch.equal(a, b) for a, b in zip(before, elmo.bilm.parameters()))
        if frozen:
            assert changed == 0 and losses["elmo"] == 0.0
        else:  # gradients of both listeners flowed into every part of the biLM
            assert changed == len(before) and losses["elmo"] > 0.0


def _fine_tune_steps(tiny_model, **elmo_config):
    """Parameters of the biLM before and after 3 fine-tuning updates (the same data and seed each time)."""
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    nlp, examples = build(tiny_model, frozen=False, **elmo_config)
    nlp.initialize(lambda: examples)
    bilm = nlp.get_pipe("elmo").bilm
    before = {name: p.detach().clone() for name, p in bilm.named_parameters()}
    sgd = Adam(0.01)
    for _ in range(3):
        nlp.update(examples, sgd=sgd)
    return before, {name: p.detach() for name, p in bilm.named_parameters()}


def test_trainable_layers_moves_only_the_top_lstm_layers(tiny_model):
    before, after = _fine_tune_steps(tiny_model, trainable_layers=1)
    top_index = max(int(n.split(".")[2]) for n in after if n.startswith("lstm.forward_layers."))
    top = (f"lstm.forward_layers.{top_index}.", f"lstm.backward_layers.{top_index}.")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith(top) for name in changed), sorted(changed)
    assert changed == {name for name in before if name.startswith(top)}  # every top-layer weight moved
    assert not any(name.startswith("char_cnn.") for name in changed)


def test_learn_rate_scale_slows_the_bilm(tiny_model):
    """Adam's first steps are about lr in size whatever the gradient, so a 10x smaller scale moves
    the biLM's weights about 10x less."""
    b_full, a_full = _fine_tune_steps(tiny_model)
    b_slow, a_slow = _fine_tune_steps(tiny_model, learn_rate_scale=0.1)
    full = sum(float((a_full[n] - b_full[n]).abs().sum()) for n in b_full)
    slow = sum(float((a_slow[n] - b_slow[n]).abs().sum()) for n in b_slow)
    assert 0.05 < slow / full < 0.2, (slow, full)


@pytest.mark.parametrize("bad, message", [({"trainable_layers": 0}, "trainable_layers"), ({"learn_rate_scale": 0.0}, "learn_rate_scale")])
def test_bad_fine_tuning_settings_fail_at_add_pipe(tiny_model, bad, message):
    with pytest.raises(ValueError, match=message):
        build(tiny_model, frozen=False, **bad)


def test_more_trainable_layers_than_the_bilm_has_is_a_clear_error(tiny_model):
    nlp, examples = build(tiny_model, frozen=False, trainable_layers=9)
    with pytest.raises(ValueError, match="at most"):
        nlp.initialize(lambda: examples)


def test_frozen_component_as_annotator(tiny_model):
    """spaCy's own way: 'elmo' in frozen_components + annotating_components; listeners read the docs."""
    nlp, examples = build(tiny_model, textcat=False)
    nlp.initialize(lambda: examples)
    sgd = Adam(0.01)
    history = []
    for _ in range(15):
        losses = {}
        nlp.update(examples, sgd=sgd, losses=losses, exclude=["elmo"], annotates=["elmo"])
        history.append(losses["ner"])
    assert numpy.mean(history[-3:]) < 0.5 * numpy.mean(history[:3])


def test_frozen_component_without_annotating_fails_clearly(tiny_model):
    nlp, examples = build(tiny_model, textcat=False)
    nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match="annotating_components"):
        nlp.update(examples, sgd=Adam(0.01), exclude=["elmo"])
