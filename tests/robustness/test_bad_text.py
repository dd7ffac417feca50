"""Awkward text through spaCy's tokenizer and the 'elmo' component: a sensible result or a clear error.

Documented results (docs/usage.md, "Bad input"):
- empty doc: zero tokens, ``doc._.elmo`` is a zero vector; whitespace-only doc: one whitespace token with a vector;
- whitespace tokens are embedded as their exact text (they are context for their neighbours, as in the
  original character vocabulary);
- a token longer than 48 UTF-8 bytes keeps its first 48 bytes, as the original model does;
- control characters, emoji and right-to-left scripts are bytes like any other: one finite vector per token;
- lone surrogates cannot enter a spaCy Doc at all (spaCy's string store refuses them); the CLI refuses them
  with a message that names where they are;
- a doc from another language's tokenizer is embedded token by token (ELMo reads characters, not a vocabulary).
"""
import numpy
import pytest
import spacy
from spacy.tokens import Doc

WIDTH = 16  # tiny model: 2 * projection_dim


def finite_per_token(doc):
    layers = doc._.elmo_data.layers
    assert layers.shape == (3, len(doc), WIDTH)
    assert numpy.isfinite(layers).all()
    for token in doc:
        assert token._.elmo.shape == (WIDTH,)


@pytest.mark.parametrize("text", ["", " ", "   ", "\n\n", "\t \r\n "])
def test_empty_and_whitespace_only_docs(nlp, text):
    doc = nlp(text)
    finite_per_token(doc)
    assert doc._.elmo.shape == (WIDTH,) and numpy.isfinite(doc._.elmo).all()
    if len(doc) == 0:
        assert not doc._.elmo.any()  # an empty doc's vector is zeros, not NaN


def test_empty_docs_do_not_disturb_their_batch(nlp):
    texts = ["The bank .", "", "   ", "Rates rose ."]
    batched = list(nlp.pipe(texts, batch_size=4))
    for text, doc in zip(texts, batched):
        numpy.testing.assert_allclose(doc._.elmo_data.layers, nlp(text)._.elmo_data.layers, atol=1e-6)


def test_whitespace_tokens_get_vectors(nlp):
    doc = nlp("a  b\n\nc \t d")
    assert any(t.is_space for t in doc)
    finite_per_token(doc)
    spaces = [t for t in doc if t.is_space]
    # Different whitespace is different text, so different vectors (not one shared "unknown" vector).
    assert not numpy.allclose(spaces[0]._.elmo, spaces[1]._.elmo)


def test_thousand_character_tokens(nlp):
    long_ascii = "x" * 1000
    doc = nlp(f"A {long_ascii} token .")
    finite_per_token(doc)
    truncated = nlp(f"A {'x' * 48} token .")  # the original keeps the first max_characters_per_token - 2 bytes
    numpy.testing.assert_allclose(doc._.elmo_data.layers, truncated._.elmo_data.layers, atol=1e-6)
    # Multi-byte characters are cut at a byte, which is what the original char ids do too.
    doc = nlp("é" * 1000 + " " + "日" * 1000 + " " + "\U0001d518" * 1000)  # 2-, 3- and 4-byte characters
    assert len(doc) == 3
    finite_per_token(doc)


@pytest.mark.parametrize(
    "text",
    [
        "bell\x07 null\x00 esc\x1b del\x7f c1\x85",  # control characters
        "zero\u200bwidth and\u200d joiner, bom\ufeff",  # invisible format characters
        "I 😀 love 👩‍👩‍👧 🇩🇪 emoji",  # emoji, ZWJ sequences, flags
        "שלום עולם , مرحبا بالعالم .",  # right-to-left scripts
        "mixed \u202eRTL override\u202c text",  # bidi controls
        "\U0010FFFF private \ue000 use",  # private use and the last code point
    ],
)
def test_odd_characters_give_one_finite_vector_per_token(nlp, text):
    finite_per_token(nlp(text))


def test_lone_surrogates_cannot_enter_a_doc(nlp):
    """spaCy itself refuses them (its string store hashes UTF-8), before any ELMo code runs."""
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        nlp("broken \udcff byte")
    with pytest.raises(UnicodeEncodeError):
        Doc(nlp.vocab, words=["broken", "\ud800"])


def test_lone_surrogates_in_cli_input_are_named(cli, tiny_model):
    result = cli("similarity", "word", "a word", "another wo\udcffrd word", "--model", tiny_model)
    assert result.exit_code == 1
    assert "Sentence 2 holds a lone surrogate (U+DCFF) at character 10" in result.stderr


@pytest.mark.parametrize("lang, text", [("de", "Die Bank am Fluss ."), ("zh", "我爱北京天安门。"), ("he", "שלום עולם ."), ("ru", "Банк поднял ставки .")])
def test_doc_from_another_languages_tokenizer(nlp, lang, text):
    other = spacy.blank(lang)
    doc = other(text)
    tokens = [t.text for t in doc]
    out = nlp(doc)  # a Doc made elsewhere (another vocab) goes straight to the components
    assert [t.text for t in out] == tokens  # its tokenization is kept, not redone in English
    finite_per_token(out)
    again = nlp.get_pipe("elmo")(other(text))
    numpy.testing.assert_allclose(again._.elmo_data.layers, out._.elmo_data.layers, atol=1e-6)


def test_huge_batch_of_tiny_docs_and_one_long_doc(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "max_batch_tokens": 128, "window_size": 64, "window_overlap": 16})
    texts = ["a"] * 300 + [" ".join(["word"] * 400)]
    docs = list(nlp.pipe(texts, batch_size=512))
    assert len(docs) == 301
    finite_per_token(docs[-1])  # longer than max_batch_tokens: windowed, still one vector per token
