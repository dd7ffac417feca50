"""Any non-empty Python string is a token the biLM can embed: one finite vector per token."""
import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_elmo.bilm.characters import token_to_char_ids

# Everything Python can hold in a str, lone surrogates and control characters included.
any_token = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), min_size=1, max_size=80)


@given(sentences=st.lists(st.lists(any_token, min_size=0, max_size=6), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_unicode_gives_one_finite_vector_per_token(tiny_bilm, sentences):
    out = tiny_bilm.embed_sentences(sentences)
    assert len(out) == len(sentences)
    for sentence, layers in zip(sentences, out):
        assert layers.shape == (3, len(sentence), 16)
        assert numpy.isfinite(layers).all()


@given(token=any_token)
@settings(max_examples=200, deadline=None)
def test_char_ids_are_in_range_and_framed(token):
    ids = token_to_char_ids(token)
    assert ids.shape == (50,)
    assert ids.min() >= 1 and ids.max() <= 261
    assert ids[0] == 259  # begin-of-word (258) shifted
    assert 260 in ids.tolist()  # end-of-word (259) shifted, always present even when truncated


def test_thousand_character_token_is_truncated_not_rejected(tiny_bilm):
    token = "x" * 1000
    out = tiny_bilm.embed_sentences([["a", token, "b"]])[0]
    assert out.shape == (3, 3, 16)
    same_prefix = tiny_bilm.embed_sentences([["a", "x" * 48, "b"]])[0]
    numpy.testing.assert_allclose(out, same_prefix, atol=1e-6)  # only the first 48 bytes count, as in the original
