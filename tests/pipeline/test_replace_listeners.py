"""nlp.replace_listeners: a component with an ElmoListener becomes standalone (its own frozen biLM copy
and its own mix), predicts what it did before, saves, loads and can be sourced without an 'elmo'."""
import numpy
import pytest
import spacy
from thinc.api import Adam, Config

from spacy_elmo.layers.standalone import STANDALONE_ARCHITECTURE, ElmoStandalone

from .test_listener import DATA, build

TEXTS = [t for t, _, _ in DATA] + ["Carol went to Paris ."]


def ents(nlp, texts=TEXTS):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


def tok2vec_out(nlp, name="ner", texts=TEXTS):
    pipe = nlp.get_pipe(name)
    docs = list(nlp.pipe(texts))
    return pipe.model.get_ref("tok2vec").predict(docs)


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """A tiny elmo + ner pipeline, trained until it finds entities, saved."""
    nlp, examples = build(tiny_model, textcat=False)
    nlp.initialize(lambda: examples)
    sgd = Adam(0.01)
    for _ in range(30):
        nlp.update(examples, sgd=sgd, drop=0.0)
    nlp.get_pipe("elmo").model.cache.clear()
    path = tmp_path_factory.mktemp("replace") / "trained"
    nlp.to_disk(path)
    return path


def test_replaced_listener_predicts_the_same_and_round_trips(trained, tmp_path):
    nlp = spacy.load(trained)
    before_ents, before_vectors = ents(nlp), tok2vec_out(nlp)
    assert any(before_ents)
    nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])
    ner = nlp.get_pipe("ner")
    found = [node for node in ner.model.walk() if isinstance(node, ElmoStandalone)]
    assert len(found) == 1
    standalone = found[0]
    assert nlp.get_pipe("elmo").listeners == []
    assert nlp.config["components"]["ner"]["model"]["tok2vec"]["@architectures"] == STANDALONE_ARCHITECTURE
    # its own frozen copy: not the component's biLM object, same weights
    assert standalone.bilm_model.bilm is not nlp.get_pipe("elmo").bilm
    assert not any(p.requires_grad for p in standalone.bilm_model.bilm.parameters())
    assert ents(nlp) == before_ents
    for a, b in zip(tok2vec_out(nlp), before_vectors):
        numpy.testing.assert_allclose(a, b, atol=1e-5)

    # without the 'elmo' component: saves, loads, same entities
    nlp.remove_pipe("elmo")
    assert ents(nlp) == before_ents
    nlp.to_disk(tmp_path / "standalone")
    loaded = spacy.load(tmp_path / "standalone")
    assert loaded.pipe_names == ["ner"] and ents(loaded) == before_ents


def test_sourcing_a_replaced_component_from_python_and_from_a_config(trained, tmp_path):
    expected = ents(spacy.load(trained))
    # Python: replace in the source, then source into a pipeline with no 'elmo' at all
    source = spacy.load(trained)
    source.replace_listeners("elmo", "ner", ["model.tok2vec"])
    target = spacy.blank("en")
    target.add_pipe("ner", source=source)
    assert target.pipe_names == ["ner"] and ents(target) == expected

    # a config: [components.ner] source = ... with replace_listeners
    config = Config().from_str(f"""
[nlp]
lang = "en"
pipeline = ["ner"]

[components]

[components.ner]
source = "{trained}"
replace_listeners = ["model.tok2vec"]
""")
    from_config = spacy.util.load_model_from_config(config, auto_fill=True)
    assert from_config.pipe_names == ["ner"]
    assert ents(from_config) == expected
    from_config.to_disk(tmp_path / "from_config")
    assert ents(spacy.load(tmp_path / "from_config")) == expected


def test_replacing_without_listeners_and_sourcing_another_width_are_clear_errors(trained, tiny_model, tmp_path):
    nlp = spacy.load(trained)
    nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])
    with pytest.raises(ValueError, match="E887"):  # spaCy's: the paths do not match the listeners (none left)
        nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])

    from tests.helpers import save_tiny_model

    wider = save_tiny_model(tmp_path / "wider", projection_dim=12)
    other = spacy.blank("en")
    other.add_pipe("elmo", config={"weights": str(wider)})
    with pytest.raises(ValueError, match="cannot switch biLMs"):
        other.add_pipe("ner", source=spacy.load(trained))
        other("A doc.")
