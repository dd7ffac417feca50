"""``.vector`` and ``.similarity`` give the ELMo answer on every route a doc can travel, or a clear error.

Without the hooks spaCy answers 1.0 for the same word in any two contexts and 0.0 otherwise (with
warnings W007/W008): silently wrong. Each test compares with the cosine of the ``._.elmo`` vectors,
which do not depend on the hooks.
"""
import pickle
import warnings

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_elmo.pipeline.extensions import with_vector_hooks

TEXTS = ["The river bank was muddy .", "The bank raised its rates .", "We sat on the bank of the river ."]
BANK = 2  # "bank" is token 2 in the first two texts
pytestmark = pytest.mark.filterwarnings("ignore:.*W109")  # spaCy: hooks cannot be serialized (we set them again)


def cosine(u, v):
    return float(numpy.dot(u, v) / (numpy.linalg.norm(u) * numpy.linalg.norm(v)))


def assert_elmo_similarities(docs):
    """Token, span and doc similarity (and vectors) are ELMo's, without spaCy's vector warnings."""
    a, b = docs[0][BANK], docs[1][BANK]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # W007 / W008 would mean spaCy's own (empty) vectors answered
        got = a.similarity(b)
        span = docs[0][0:3].similarity(docs[2][4:7])
        whole = docs[0].similarity(docs[1])
        numpy.testing.assert_array_equal(a.vector, a._.elmo)
    assert got == pytest.approx(cosine(a._.elmo, b._.elmo), abs=1e-6)
    assert got < 0.999  # the same word in two contexts is not "identical"
    assert span == pytest.approx(cosine(docs[0][0:3]._.elmo, docs[2][4:7]._.elmo), abs=1e-6)
    assert whole == pytest.approx(cosine(docs[0]._.elmo, docs[1]._.elmo), abs=1e-6)


@pytest.fixture
def docs(tiny_nlp):
    return list(tiny_nlp().pipe(TEXTS))


def test_in_process(docs):
    assert_elmo_similarities(docs)


def test_pickle_keeps_the_hooks(docs):
    assert_elmo_similarities([pickle.loads(pickle.dumps(d)) for d in docs])


def test_doc_bytes_with_vector_hooks(docs):
    restored = [Doc(docs[0].vocab).from_bytes(d.to_bytes()) for d in docs]
    assert_elmo_similarities(list(with_vector_hooks(restored)))


def test_docbin_with_vector_hooks(docs):
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    restored = DocBin().from_bytes(data).get_docs(docs[0].vocab)
    assert_elmo_similarities(list(with_vector_hooks(restored)))


def test_docbin_without_user_data_is_a_clear_error(docs):
    restored = DocBin(docs=docs).get_docs(docs[0].vocab)  # store_user_data=False drops doc._.elmo_data
    with pytest.raises(ValueError, match="no doc._.elmo_data.*store_user_data=True"):
        list(with_vector_hooks(restored))


def test_loaded_pipeline_with_two_processes(tiny_nlp, tmp_path):
    tiny_nlp().to_disk(tmp_path / "pipeline")
    nlp = spacy.load(tmp_path / "pipeline")
    docs = list(nlp.pipe(TEXTS, n_process=2, batch_size=1))
    assert_elmo_similarities(docs)
    pairs = list(nlp.pipe([(t, i) for i, t in enumerate(TEXTS)], as_tuples=True, n_process=2, batch_size=1))
    assert [i for _, i in pairs] == [0, 1, 2]
    assert_elmo_similarities([d for d, _ in pairs])
    assert pickle.loads(pickle.dumps(nlp)).pipe is not None  # the pipeline stays picklable (spawned workers)


def test_no_hooks_across_processes_when_disabled(tiny_nlp):
    nlp = tiny_nlp(set_vector_hooks=False)
    doc = next(nlp.pipe(TEXTS[:1], n_process=2))
    assert "similarity" not in doc.user_token_hooks and doc._.elmo_data is not None
