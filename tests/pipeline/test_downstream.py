"""The downstream architectures: ELMo before the NER's CNN encoder, and pooled ELMo beside a
bag-of-words text classifier. Each trains on a tiny set, moves both of its branches, and
predicts the same after a save and load."""
import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam, Config

from tests.pipeline.test_listener import DATA

NER_BEFORE_CNN = """
[model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
hidden_width = 32
maxout_pieces = 2
use_upper = true

[model.tok2vec]
@architectures = "spacy-elmo.ElmoTok2Vec.v1"
width = 16

[model.tok2vec.elmo]
@architectures = "spacy-elmo.ElmoListener.v1"
layer_norm = true
dropout = 0.2

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 16
attrs = ["NORM", "SHAPE"]
rows = [200, 50]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 16
depth = 1
window_size = 1
maxout_pieces = 3
"""

TEXTCAT_POOLED_BOW = """
[model]
@architectures = "spacy-elmo.TextCatPooledBOW.v1"
exclusive_classes = true
ngram_size = 1
length = 1024
hidden_width = {hidden_width}

[model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
layer_norm = true
"""



def _train(nlp, n_steps):
    examples = [
        Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": {"POS": float(c == "POS"), "NEG": float(c == "NEG")}})
        for t, e, c in DATA
    ]
    nlp.initialize(lambda: examples)
    elmo = nlp.get_pipe("elmo")
    before = [listener.mix_weights.copy() for listener in elmo.listeners]
    sgd = Adam(0.01)
    history = []
    for _ in range(n_steps):
        losses = {}
        nlp.update(examples, sgd=sgd, losses=losses)
        history.append(sum(losses.values()))
    moved = [numpy.abs(listener.mix_weights - b).max() for listener, b in zip(elmo.listeners, before)]
    return history, moved


def _elmo_nlp(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "frozen": True})
    return nlp


def test_elmo_before_cnn_ner_trains_and_round_trips(tiny_model, tmp_path):
    nlp = _elmo_nlp(tiny_model)
    nlp.add_pipe("ner", config=Config().from_str(NER_BEFORE_CNN))
    history, moved = _train(nlp, 40)
    assert numpy.mean(history[-3:]) < 0.2 * numpy.mean(history[:3])
    assert len(moved) == 1 and moved[0] > 1e-3  # gradients reached the listener through the encoder
    texts = [t for t, _, _ in DATA]
    expected = [[(e.start, e.end, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert any(expected)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in loaded.pipe(texts)] == expected


@pytest.mark.parametrize("hidden_width", [0, 8])
def test_pooled_bow_textcat_trains_both_branches_and_round_trips(tiny_model, tmp_path, hidden_width):
    nlp = _elmo_nlp(tiny_model)
    textcat = nlp.add_pipe("textcat", config=Config().from_str(TEXTCAT_POOLED_BOW.format(hidden_width=hidden_width)))
    history, moved = _train(nlp, 30)
    assert history[-1] < 0.5 * history[0]
    assert moved[0] > 1e-3  # the pooled ELMo branch learns from the first updates
    bow_weights = [node for node in textcat.model.walk() if node.name.startswith("sparse_linear")]
    assert len(bow_weights) == 1 and numpy.abs(bow_weights[0].get_param("W")).max() > 0  # so does the BOW
    texts = [t for t, _, _ in DATA]
    expected = [d.cats for d in nlp.pipe(texts)]
    assert [max(c, key=c.get) for c in expected] == [c for _, _, c in DATA]
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    for a, b in zip(expected, (d.cats for d in loaded.pipe(texts))):
        assert a == pytest.approx(b, abs=1e-6)


def test_pooled_bow_rejects_bad_settings():
    from spacy_elmo.layers.downstream import TextCatPooledBOW_v1
    from spacy_elmo.pipeline import ElmoListener

    with pytest.raises(ValueError, match="hidden_width"):
        TextCatPooledBOW_v1(ElmoListener(), exclusive_classes=True, hidden_width=-1)


def test_pooled_bow_dropout_follows_spacy_training_dropout(tiny_model):
    """The pooled vector's Dropout is spaCy's [training] dropout (set on each update), not a fixed rate."""
    from thinc.api import set_dropout_rate

    nlp = _elmo_nlp(tiny_model)
    textcat = nlp.add_pipe("textcat", config=Config().from_str(TEXTCAT_POOLED_BOW.format(hidden_width=0)))
    dropouts = [node for node in textcat.model.walk() if node.name == "dropout"]
    assert len(dropouts) == 1
    set_dropout_rate(textcat.model, 0.3)
    assert dropouts[0].attrs["dropout_rate"] == 0.3
