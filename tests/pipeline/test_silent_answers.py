"""Issue 28, part 4: no silent wrong answers.

spaCy cannot save a doc's vector hooks, and without them ``token.similarity`` answers 1.0 for the
same word in any two contexts, with no warning. A doc read back from bytes that had the hooks must
therefore either get them again (``with_vector_hooks``, ``nlp.pipe(n_process=2)``) or warn.
"""
import pickle
import warnings

import numpy
import pytest
from spacy.tokens import Doc, DocBin

from spacy_elmo.layers.cache import DEFAULT_CACHE_SIZE_MB
from spacy_elmo.pipeline.data import MSGPACK_KEY, ElmoData, VectorHooksLostWarning
from spacy_elmo.pipeline.extensions import with_vector_hooks

TEXTS = ["The river bank was muddy .", "The bank raised its rates .", "We sat on the bank of the river ."]
RIVER_BANK, BANK_RATES = (0, 2), (1, 1)  # "bank" in the first two texts
pytestmark = pytest.mark.filterwarnings("ignore:.*W109")  # spaCy: hooks cannot be serialized


def cosine(u, v):
    return float(numpy.dot(u, v) / (numpy.linalg.norm(u) * numpy.linalg.norm(v)))


def lost_warnings(record):
    return [w for w in record if issubclass(w.category, VectorHooksLostWarning)]


def read(action):
    """Run ``action()`` and return (its result, the VectorHooksLostWarnings it raised)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = action()
    return result, lost_warnings(record)


@pytest.fixture(scope="module")
def docs(tiny_model):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    return list(nlp.pipe(TEXTS))


def test_docbin_without_with_vector_hooks_warns_and_names_the_fix(docs):
    """The issue's trap: similarity 1.0 after the round trip. Now reading says so, and how to fix it."""
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    restored, lost = read(lambda: list(DocBin().from_bytes(data).get_docs(docs[0].vocab)))
    assert len(lost) == len(docs)
    message = str(lost[0].message)
    assert "[spacy-elmo W001]" in message and "with_vector_hooks(doc_bin.get_docs(nlp.vocab))" in message
    assert "similarity" in message and "token._.elmo" in message
    assert lost[0].filename == __file__  # it names the line that read the doc, not srsly's
    # what the warning is about: spaCy's own answer, not ELMo's
    a, b = restored[RIVER_BANK[0]][RIVER_BANK[1]], restored[BANK_RATES[0]][BANK_RATES[1]]
    assert a.text == b.text == "bank"
    assert a.similarity(b) == 1.0
    assert cosine(a._.elmo, b._.elmo) < 0.999


def test_doc_from_bytes_warns(docs):
    _, lost = read(lambda: Doc(docs[0].vocab).from_bytes(docs[0].to_bytes()))
    assert len(lost) == 1


def test_with_vector_hooks_reads_quietly_and_gives_elmos_answers(docs):
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    restored, lost = read(lambda: with_vector_hooks(DocBin().from_bytes(data).get_docs(docs[0].vocab)))
    assert lost == []
    a, b = restored[RIVER_BANK[0]][RIVER_BANK[1]], restored[BANK_RATES[0]][BANK_RATES[1]]
    assert a.similarity(b) == pytest.approx(cosine(a._.elmo, b._.elmo), abs=1e-6) and a.similarity(b) < 0.999
    assert restored[0][0:3].similarity(restored[2][4:7]) == pytest.approx(docs[0][0:3].similarity(docs[2][4:7]), abs=1e-6)
    assert restored[0].similarity(restored[1]) == pytest.approx(docs[0].similarity(docs[1]), abs=1e-6)
    # and the flag survives a second round trip: reading these again without the hooks still warns
    again = DocBin(store_user_data=True, docs=restored).to_bytes()
    _, lost = read(lambda: list(DocBin().from_bytes(again).get_docs(docs[0].vocab)))
    assert len(lost) == len(docs)


def test_with_vector_hooks_reads_doc_bytes_quietly(docs):
    data = [d.to_bytes() for d in docs]
    restored, lost = read(lambda: with_vector_hooks(data, docs[0].vocab))
    assert lost == [] and all("similarity" in d.user_token_hooks for d in restored)
    assert restored[0].similarity(restored[1]) == pytest.approx(docs[0].similarity(docs[1]), abs=1e-6)
    with pytest.raises(ValueError, match="pass the vocab"):
        with_vector_hooks(data)


def test_no_warning_when_the_doc_never_had_hooks(tiny_nlp):
    """set_vector_hooks=false: spaCy's similarity was the answer before the round trip too."""
    docs = list(tiny_nlp(set_vector_hooks=False).pipe(TEXTS))
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    restored, lost = read(lambda: list(DocBin().from_bytes(data).get_docs(docs[0].vocab)))
    assert lost == [] and restored[0]._.elmo_data is not None


def test_data_saved_without_the_flag_is_taken_to_have_had_hooks():
    """Bytes written before the flag existed came from the default setting, which sets hooks."""
    from spacy_elmo.pipeline.data import _decode

    layers = numpy.zeros((3, 2, 4), numpy.float32)
    with pytest.warns(VectorHooksLostWarning):
        data = _decode({MSGPACK_KEY: {"layers": layers, "mix": None}})
    assert data.vector_hooks


def test_pickle_keeps_the_flag(docs):
    data = pickle.loads(pickle.dumps(docs[0]._.elmo_data))
    assert isinstance(data, ElmoData) and data.vector_hooks


def test_two_processes_do_not_warn(tiny_nlp):
    """The parent reads the workers' docs from bytes and sets the hooks again: nothing was lost."""
    nlp = tiny_nlp()
    got, lost = read(lambda: list(nlp.pipe(TEXTS, n_process=2, batch_size=1)))
    assert lost == [] and all("similarity" in d.user_token_hooks for d in got)


# -- settings accepted and then ignored ------------------------------------------------------------
@pytest.mark.parametrize(
    "config, named",
    [
        ({"trainable_layers": 1}, "trainable_layers = 1 has no effect: frozen = true"),
        ({"learn_rate_scale": 0.1}, "learn_rate_scale = 0.1 has no effect: frozen = true"),
        ({"frozen": False, "cache_size_mb": 100}, "cache_size_mb = 100 has no effect: the layer cache is off with frozen = false"),
        ({"stateful": True, "cache_size_mb": 100}, "cache_size_mb = 100 has no effect: the layer cache is off with stateful = true"),
    ],
)
def test_a_setting_that_the_others_make_ineffective_warns(tiny_nlp, config, named):
    from spacy_elmo.pipeline.settings import IgnoredSettingWarning

    with pytest.warns(IgnoredSettingWarning, match=r"\[spacy-elmo W002\] 'elmo' " + named) as record:
        nlp = tiny_nlp(**config)
    # it names the user's add_pipe line (in tests/pipeline/conftest.py here), not a line of spaCy or of this package
    assert record[0].filename.endswith("conftest.py"), record[0].filename
    wanted = config.get("frozen", True) and not config.get("stateful", False) and config.get("cache_size_mb", DEFAULT_CACHE_SIZE_MB) > 0
    assert nlp.get_pipe("elmo").model.cache.enabled == wanted


@pytest.mark.parametrize(
    "config",
    [{}, {"frozen": False, "trainable_layers": 1, "learn_rate_scale": 0.1, "cache_size_mb": 0}, {"stateful": True}, {"cache_size_mb": 100}],
)
def test_settings_that_all_take_effect_do_not_warn(tiny_nlp, config):
    from spacy_elmo.pipeline.settings import IgnoredSettingWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredSettingWarning)
        tiny_nlp(**config)


def test_the_default_cache_size_is_declared_once():
    """The settings, the factory's default_config and the layer cache module agree on one number."""
    import spacy

    from spacy_elmo.pipeline.settings import ElmoSettings

    assert ElmoSettings().cache_size_mb == DEFAULT_CACHE_SIZE_MB
    assert spacy.blank("en").get_factory_meta("elmo").default_config["cache_size_mb"] == DEFAULT_CACHE_SIZE_MB


def test_replace_listeners_keeps_the_components_precision(tiny_model, tmp_path):
    """The standalone copy ran fp32 whatever the component's precision said; now it carries it, in the model
    and in the config a saved pipeline is rebuilt from."""
    import spacy

    from spacy_elmo.layers.standalone import ElmoStandalone
    from tests.pipeline.test_listener import build

    nlp, examples = build(tiny_model, textcat=False, precision="auto")
    nlp.initialize(lambda: examples)
    nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])
    standalone = next(node for node in nlp.get_pipe("ner").model.walk() if isinstance(node, ElmoStandalone))
    assert standalone.bilm_model.settings.precision == "auto"
    assert nlp.config["components"]["ner"]["model"]["tok2vec"]["precision"] == "auto"
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    again = next(node for node in loaded.get_pipe("ner").model.walk() if isinstance(node, ElmoStandalone))
    assert again.bilm_model.settings.precision == "auto"
