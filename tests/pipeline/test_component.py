"""The 'elmo' component: vectors on docs, output mixes, hooks, batching, long docs, cache, errors."""
import numpy
import pytest
import spacy

from spacy_elmo import ElmoError, load_bilm
from spacy_elmo.layers.splitting import window_spans
from tests.helpers import REFERENCE, needs_reference

TEXTS = [
    "The bank of the river was steep.",
    "She went to the bank to deposit money.",
    "Hi",
    "",
    "Whitespace  tokens\n\nare real tokens too .",
    "Ünïcödé 👍 and a very_long_token_" + "x" * 80 + " inside.",
]


def words(doc):
    return [t.text for t in doc]


@needs_reference
def test_vectors_equal_embed_sentences_on_reference_weights():
    folder = REFERENCE / "allennlp"
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"options_file": str(folder / "options.json"), "weight_file": str(folder / "lm_weights.hdf5")})
    docs = list(nlp.pipe(TEXTS))
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    expected = bilm.embed_sentences([words(d) for d in docs])
    for doc, exp in zip(docs, expected):
        assert doc._.elmo_data.layers.shape == (3, len(doc), bilm.options.output_dim)
        numpy.testing.assert_allclose(doc._.elmo_data.layers, exp, atol=1e-5)


def test_vectors_equal_embed_sentences_tiny(tiny_nlp, tiny_model):
    nlp = tiny_nlp()
    docs = list(nlp.pipe(TEXTS))
    bilm = load_bilm(tiny_model)
    for doc in docs:  # one at a time: a doc's vectors do not depend on its batch
        exp = bilm.embed_sentences([words(doc)])[0]
        numpy.testing.assert_allclose(doc._.elmo_data.layers, exp, atol=1e-5)
        numpy.testing.assert_allclose(nlp(doc.text)._.elmo_data.layers, exp, atol=1e-5)


def test_token_span_doc_vectors_are_mix_and_means(tiny_nlp):
    nlp = tiny_nlp()
    doc = nlp("The bank of the river was steep.")
    layers = doc._.elmo_data.layers
    mean = layers.mean(axis=0)
    for token in doc:
        numpy.testing.assert_allclose(token._.elmo, mean[token.i], atol=1e-6)
    numpy.testing.assert_allclose(doc[1:4]._.elmo, mean[1:4].mean(axis=0), atol=1e-6)
    numpy.testing.assert_allclose(doc._.elmo, mean.mean(axis=0), atol=1e-6)
    assert doc[2:2]._.elmo.shape == (16,) and not doc[2:2]._.elmo.any()


@pytest.mark.parametrize(
    "mix,select",
    [
        ("top", lambda L: L[-1]),
        (0, lambda L: L[0]),
        (-2, lambda L: L[1]),
        ([0.5, 0.25, 2.0], lambda L: 0.5 * L[0] + 0.25 * L[1] + 2.0 * L[2]),
        ([0, 0, 1], lambda L: L[2]),  # whole numbers, as a config file writes them: still coefficients
        ("concat", lambda L: numpy.concatenate(list(L), axis=-1)),
    ],
)
def test_output_mix_options(tiny_nlp, mix, select):
    doc = tiny_nlp(output_mix=mix)("A short sentence here.")
    expected = select(doc._.elmo_data.layers)
    got = numpy.stack([t._.elmo for t in doc])
    numpy.testing.assert_allclose(got, expected, atol=1e-5)
    numpy.testing.assert_allclose(doc._.elmo, expected.mean(axis=0), atol=1e-5)


def test_vector_hooks_and_similarity(tiny_nlp):
    nlp = tiny_nlp()
    doc = nlp("The bank of the river. The bank of money.")
    a, b = doc[1], doc[7]
    assert a.text == b.text == "bank"
    numpy.testing.assert_array_equal(a.vector, a._.elmo)
    numpy.testing.assert_array_equal(doc[0:3].vector, doc[0:3]._.elmo)
    numpy.testing.assert_array_equal(doc.vector, doc._.elmo)
    assert a.has_vector and doc.has_vector
    cos = float(a._.elmo @ b._.elmo / numpy.linalg.norm(a._.elmo) / numpy.linalg.norm(b._.elmo))
    assert a.similarity(b) == pytest.approx(cos, abs=1e-6)
    assert cos < 0.9999  # contextual: the same word in two contexts differs (spaCy alone would say 1.0)
    assert doc[0:3].similarity(doc[5:8]) == pytest.approx(
        float(numpy.dot(doc[0:3]._.elmo, doc[5:8]._.elmo) / numpy.linalg.norm(doc[0:3]._.elmo) / numpy.linalg.norm(doc[5:8]._.elmo)),
        abs=1e-6,
    )
    other = nlp("Another text.")
    assert -1.0 <= doc.similarity(other) <= 1.0
    with pytest.raises(ValueError, match="no ELMo vectors"):
        doc.similarity(spacy.blank("en")("not embedded"))


def test_no_hooks_when_disabled(tiny_nlp):
    doc = tiny_nlp(set_vector_hooks=False)("Some words.")
    assert doc[0]._.elmo is not None
    assert "vector" not in doc.user_token_hooks
    assert not doc[0].has_vector


def test_add_pipe_then_call_needs_no_initialize(tiny_nlp):
    nlp = tiny_nlp()
    assert not nlp.get_pipe("elmo").model.shim.is_loaded  # lazy: nothing read at add_pipe
    doc = nlp("Works right away.")
    assert doc._.elmo_data.layers.shape == (3, 4, 16)


def test_empty_and_one_token_docs(tiny_nlp):
    nlp = tiny_nlp()
    empty, one = nlp(""), nlp("Hi")
    assert empty._.elmo_data.layers.shape == (3, 0, 16)
    assert empty._.elmo.shape == (16,) and not empty._.elmo.any()
    assert one._.elmo_data.layers.shape == (3, 1, 16)
    assert list(nlp.pipe([])) == []
    docs = list(nlp.pipe(["", "", "a"]))
    assert [len(d) for d in docs] == [0, 0, 1]


def test_whitespace_tokens_are_fed_as_is(tiny_nlp, tiny_model):
    nlp = tiny_nlp()
    doc = nlp("Two  spaces\n\nand\ttabs \u200b zero-width")
    assert any(t.is_space for t in doc)
    assert "\n\n" in words(doc)
    exp = load_bilm(tiny_model).embed_sentences([words(doc)])[0]
    numpy.testing.assert_allclose(doc._.elmo_data.layers, exp, atol=1e-5)
    # the whitespace token's context-free layer is that of its own bytes, not of a placeholder
    i = words(doc).index("\n\n")
    assert not numpy.allclose(doc._.elmo_data.layers[0, i], nlp("x  y")._.elmo_data.layers[0, 1])


def test_batches_respect_caps(tiny_nlp):
    nlp = tiny_nlp(batch_size=3, max_batch_tokens=20, window_size=8, window_overlap=2, cache_size_mb=0)
    bilm = nlp.get_pipe("elmo").bilm
    shapes = []
    original = bilm.forward

    def spy(ids, stateful=False):
        shapes.append(tuple(ids.shape[:2]))
        return original(ids, stateful=stateful)

    bilm.forward = spy
    texts = ["word " * n for n in (1, 2, 3, 5, 8, 13, 19, 30)]
    docs = list(nlp.pipe(texts))
    assert shapes and all(rows <= 3 and rows * length <= 20 for rows, length in shapes)
    assert [len(d) for d in docs] == [1, 2, 3, 5, 8, 13, 19, 30]
    # length-sorted: rows in one call have similar lengths, so padding stays low
    assert sum(r * t for r, t in shapes) <= 1.5 * sum(len(d) for d in docs)


def test_window_spans_cover_each_token_once():
    for n, size, overlap in [(10, 4, 1), (23, 8, 3), (100, 30, 0), (9, 9, 2), (50, 7, 6)]:
        spans = window_spans(0, n, size, overlap)
        kept = [i for s, e, ks, ke in spans for i in range(ks, ke)]
        assert kept == list(range(n))
        assert all(e - s <= size and s <= ks <= ke <= e for s, e, ks, ke in spans)


def test_long_doc_without_sentences_uses_windows(tiny_nlp, tiny_model):
    nlp = tiny_nlp(max_batch_tokens=16, window_size=10, window_overlap=4)
    doc = nlp(" ".join(f"w{i}" for i in range(37)))
    assert not doc.has_annotation("SENT_START")
    bilm = load_bilm(tiny_model)
    segments = nlp.get_pipe("elmo").settings.split(doc, 16)
    assert len(segments) > 1
    for seg in segments:  # each kept slice is exactly the biLM on its window
        exp = bilm.embed_sentences([words(doc)[seg.start : seg.end]])[0]
        numpy.testing.assert_allclose(
            doc._.elmo_data.layers[:, seg.keep_start : seg.keep_end],
            exp[:, seg.keep_start - seg.start : seg.keep_end - seg.start],
            atol=1e-5,
        )


def test_long_doc_with_sentences_splits_into_sentences(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "max_batch_tokens": 12, "window_size": 6, "window_overlap": 2})
    text = "This is one. Here is another sentence. " + " ".join(["long"] * 15) + " end."
    doc = nlp(text)
    bilm = load_bilm(tiny_model)
    for sent in doc.sents:
        got = doc._.elmo_data.layers[:, sent.start : sent.end]
        if len(sent) <= 12:
            numpy.testing.assert_allclose(got, bilm.embed_sentences([words(sent)])[0], atol=1e-5)
        else:  # a sentence beyond the cap is windowed
            assert got.shape[1] == len(sent) and numpy.isfinite(got).all()


@pytest.mark.parametrize("split_sentences", [True, False])
def test_short_doc_with_sentences_is_embedded_per_sentence_by_default(tiny_model, split_sentences):
    """The biLM runs on each sentence alone, as the original ELMo and our pretraining do."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "split_sentences": split_sentences})
    doc = nlp("The river bank was muddy. The bank raised its rates again.")
    sents = list(doc.sents)
    assert len(sents) == 2 and len(doc) <= 4096
    bilm = load_bilm(tiny_model)
    per_sentence = numpy.concatenate([bilm.embed_sentences([words(s)])[0] for s in sents], axis=1)
    whole = bilm.embed_sentences([words(doc)])[0]
    assert not numpy.allclose(per_sentence[2], whole[2], atol=1e-4)
    expected = per_sentence if split_sentences else whole
    numpy.testing.assert_allclose(doc._.elmo_data.layers, expected, atol=1e-5)


@pytest.mark.parametrize("mode", [True, "sentencizer", "default"])
def test_sentencizer_mode_splits_docs_without_boundaries_and_leaves_them_unset(tiny_model, mode):
    """"sentencizer" (the default) embeds per rule-based sentence, but writes no boundaries (a
    downstream NER must not be bound by them); true leaves a doc without boundaries whole."""
    text = "The river bank was muddy. The bank raised its rates again!"
    with_sents = spacy.blank("en")
    with_sents.add_pipe("sentencizer")
    sents = [words(s) for s in with_sents(text).sents]
    nlp = spacy.blank("en")
    config = {"weights": str(tiny_model)} if mode == "default" else {"weights": str(tiny_model), "split_sentences": mode}
    nlp.add_pipe("elmo", config=config)
    doc = nlp(text)
    assert not doc.has_annotation("SENT_START")
    bilm = load_bilm(tiny_model)
    if mode in ("sentencizer", "default"):
        expected = numpy.concatenate([bilm.embed_sentences([s])[0] for s in sents], axis=1)
    else:
        expected = bilm.embed_sentences([words(doc)])[0]
    numpy.testing.assert_allclose(doc._.elmo_data.layers, expected, atol=1e-5)


@pytest.mark.parametrize("bad", ["yes", "sentences", "punct"])
def test_bad_split_sentences_names_the_choices(tiny_model, bad):
    nlp = spacy.blank("en")
    with pytest.raises(Exception, match="sentencizer"):
        nlp.add_pipe("elmo", config={"weights": str(tiny_model), "split_sentences": bad})


def test_frozen_cache_avoids_recomputing(tiny_nlp):
    nlp = tiny_nlp(cache_size_mb=64)
    elmo = nlp.get_pipe("elmo")
    first = [d._.elmo_data.layers.copy() for d in nlp.pipe(TEXTS)]
    misses = elmo.model.cache.misses
    calls = []
    original = elmo.bilm.forward
    elmo.bilm.forward = lambda ids, stateful=False: calls.append(1) or original(ids, stateful=stateful)
    second = [d._.elmo_data.layers for d in nlp.pipe(TEXTS)]
    assert calls == [] and elmo.model.cache.misses == misses and elmo.model.cache.hits >= 5
    for a, b in zip(first, second):
        numpy.testing.assert_array_equal(a, b)


def test_cache_is_bounded_and_keeps_entries_once_full():
    from spacy_elmo.layers.cache import LayerCache

    cache = LayerCache(max_mb=0.01)  # ~10 kB
    stored = [cache.put(("w", str(i)), numpy.zeros((3, 2, 100), dtype="f")) for i in range(50)]  # 2.4 kB each
    assert cache.n_bytes <= cache.max_bytes and 1 <= len(cache) < 50
    assert stored[0] and not stored[-1]
    # cyclic access (training epochs): the first entries keep hitting, later ones never evict them
    for _ in range(3):
        hits = sum(cache.get(("w", str(i))) is not None for i in range(50))
        for i in range(50):
            cache.put(("w", str(i)), numpy.zeros((3, 2, 100), dtype="f"))
        assert hits == len(cache)
    with pytest.raises(ValueError):
        LayerCache(-1)


def test_cache_off_by_default_and_for_trainable_and_stateful(tiny_nlp):
    """Off by default (inference text rarely repeats: BENCHMARKS.md, "The layer cache at inference"); when asked
    for, only with a frozen, stateless biLM."""
    assert not tiny_nlp().get_pipe("elmo").model.cache.enabled
    with pytest.warns(UserWarning, match="W002"):
        assert not tiny_nlp(frozen=False, cache_size_mb=64).get_pipe("elmo").model.cache.enabled
    with pytest.warns(UserWarning, match="W002"):
        assert not tiny_nlp(stateful=True, cache_size_mb=64).get_pipe("elmo").model.cache.enabled
    assert tiny_nlp(cache_size_mb=64).get_pipe("elmo").model.cache.enabled


def test_stateful_carries_state_like_embed_sentences(tiny_nlp, tiny_model):
    nlp = tiny_nlp(stateful=True)
    text = "The same sentence twice ."
    first, second = nlp(text), nlp(text)
    bilm = load_bilm(tiny_model)
    exp1 = bilm.embed_sentences([text.split()], stateful=True)[0]
    exp2 = bilm.embed_sentences([text.split()], stateful=True)[0]
    numpy.testing.assert_allclose(first._.elmo_data.layers, exp1, atol=1e-5)
    numpy.testing.assert_allclose(second._.elmo_data.layers, exp2, atol=1e-5)
    assert not numpy.allclose(first._.elmo_data.layers[1:], second._.elmo_data.layers[1:], atol=1e-4)


def test_clear_errors_for_bad_config(tiny_model, monkeypatch):
    import spacy_elmo.models as models

    monkeypatch.setattr(models, "default_model_dir", lambda: (_ for _ in ()).throw(ElmoError("not shipped")))
    with pytest.raises(ElmoError, match=r"weights.*options_file.*weight_file"):
        spacy.blank("en").add_pipe("elmo")
    with pytest.raises(ElmoError, match="both"):
        spacy.blank("en").add_pipe("elmo", config={"options_file": "options.json"})
    with pytest.raises(ElmoError, match="not both"):
        spacy.blank("en").add_pipe(
            "elmo", config={"weights": str(tiny_model), "options_file": "o.json", "weight_file": "w.hdf5"}
        )
    with pytest.raises(ValueError, match="output_mix"):
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": "median"})
    with pytest.raises(ValueError, match="window_overlap"):
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), "window_size": 8, "window_overlap": 8})
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "output_mix": 7})
    with pytest.raises(ValueError, match="names layer 7, but this model has 3 output layers"):
        nlp("x")
    with pytest.raises(ElmoError, match="does not exist"):  # at add_pipe, not at the first doc
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model) + "-does-not-exist"})


def test_default_model_is_used_when_present(tiny_model, monkeypatch):
    import spacy_elmo.models as models

    monkeypatch.setattr(models, "default_model_dir", lambda: tiny_model)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    expected = load_bilm(tiny_model).embed_sentences([["Default", "model"]])[0]
    numpy.testing.assert_allclose(nlp("Default model")._.elmo_data.layers, expected, atol=1e-5)


def test_packaged_default_model_when_shipped():
    from spacy_elmo.models import default_model_dir

    try:
        path = default_model_dir()
    except ElmoError:
        pytest.skip("the default English model (spacy_elmo/models/en_elmo_small) is not shipped yet")
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    doc = nlp("The default model works out of the box.")
    expected = load_bilm(path).embed_sentences([words(doc)])[0]
    numpy.testing.assert_allclose(doc._.elmo_data.layers, expected, atol=1e-5)
