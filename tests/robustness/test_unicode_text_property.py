"""Random Unicode TEXT through spaCy's tokenizer and the 'elmo' component: one finite vector per token.

Everything a Python str can hold except lone surrogates, which spaCy's string store refuses before
any component runs (see test_bad_text.py::test_lone_surrogates_cannot_enter_a_doc).
"""
import numpy
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

any_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)), max_size=120
)
# Text that is mostly whitespace and punctuation stresses spaCy's affix and whitespace rules.
spacey_text = st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\u00a0\u2028.,;!?'\"()-—…😀שא")), max_size=60)

# Small windows, so that longer random texts are also cut into overlapping windows.
_NLP = {}


def pipeline(model_dir):
    if model_dir not in _NLP:
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"weights": str(model_dir), "max_batch_tokens": 24, "window_size": 16, "window_overlap": 4})
        _NLP[model_dir] = nlp
    return _NLP[model_dir]


@given(texts=st.lists(st.one_of(any_text, spacey_text), min_size=1, max_size=4))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_unicode_text_gives_one_finite_vector_per_token(tiny_model, texts):
    nlp = pipeline(tiny_model)
    docs = list(nlp.pipe(texts))
    for text, doc in zip(texts, docs):
        assert doc.text == text  # nothing lost or changed on the way
        layers = doc._.elmo_data.layers
        assert layers.shape == (3, len(doc), 16)
        assert numpy.isfinite(layers).all()
        vectors = numpy.stack([t._.elmo for t in doc]) if len(doc) else numpy.zeros((0, 16))
        assert vectors.shape == (len(doc), 16) and numpy.isfinite(vectors).all()
        assert numpy.isfinite(doc._.elmo).all()
