"""An ELMoForManyLangs model folder gives what the original package gave (``elmoformanylangs.Embedder``).

The reference (``../shared/data/elmo-reference/elmoformanylangs``, see its README): a tiny random-weight
model written by the package's own code, and ``sents2elmo``'s outputs on three sentences that hit an
unknown word, unknown and non-ASCII characters, and a 68-character token (cut to 48 code points). The
original encoder is stateful; the reference is its first batch after a reset, which this stateless model
computes. Tolerance atol 1e-5: each sentence alone differs from the padded batch by up to 4.5e-6 there.
"""
import json

import numpy
import pytest
import torch

from spacy_elmo.bilm import load_bilm
from spacy_elmo.bilm.dictionary_characters import DictionaryVocabulary
from spacy_elmo.bilm.io_elmoformanylangs import is_elmoformanylangs_dir, load_elmoformanylangs
from tests.helpers import REFERENCE, needs_shared, on_exact_path

EFML = REFERENCE / "elmoformanylangs"
MODEL = EFML / "tiny.model"
pytestmark = needs_shared(EFML)
ATOL = 1e-5


@pytest.fixture(scope="module")
def reference():
    data = numpy.load(EFML / "reference_outputs.npz")
    sentences = json.loads(str(data["sentences"]))
    return sentences, {key: data[key] for key in data.files if key != "sentences"}


@pytest.fixture(scope="module")
def efml_bilm():
    return load_elmoformanylangs(MODEL)


def assert_matches_reference(outputs, expected):
    for i, got in enumerate(outputs):
        assert got.shape == expected[f"all_{i}"].shape
        numpy.testing.assert_allclose(got, expected[f"all_{i}"], rtol=0, atol=ATOL)
        numpy.testing.assert_allclose(got.mean(axis=0), expected[f"avg_{i}"], rtol=0, atol=ATOL)


def test_the_folder_is_recognised_and_load_bilm_reads_it(efml_bilm):
    assert is_elmoformanylangs_dir(MODEL)
    assert not is_elmoformanylangs_dir(EFML)
    bilm = load_bilm(MODEL)
    assert isinstance(bilm.vocabulary, DictionaryVocabulary)
    assert bilm.options.vocabulary == "elmoformanylangs"
    assert (bilm.options.n_output_layers, bilm.options.output_dim, bilm.options.word_embedding_dim) == (3, 32, 6)


def test_character_and_word_ids_are_the_originals(efml_bilm, reference):
    """Their ids (with <bos>/<eos> tokens, the bow/eow swap, the cut to 48 code points, <oov>), shifted by +1."""
    sentences, expected = reference
    ids = efml_bilm.vocabulary.add_sentence_boundaries(efml_bilm.char_ids(sentences)).numpy()
    max_chars = efml_bilm.options.max_characters_per_token
    assert ids.shape == (3, 7, max_chars + 1)
    for i, sentence in enumerate(sentences):
        n = len(sentence) + 2
        numpy.testing.assert_array_equal(ids[i, :n, :max_chars] - 1, expected["char_ids"][i, :n])
        numpy.testing.assert_array_equal(ids[i, :n, max_chars] - 1, expected["word_ids"][i, :n])
        assert (ids[i, n:] == 0).all()  # padding token slots stay 0 ("no token")


def test_fast_inference_matches_all_layers_and_the_average(efml_bilm, reference, routes):
    sentences, expected = reference
    efml_bilm.clear_token_cache()
    routes.clear()
    assert_matches_reference(efml_bilm.embed_sentences(sentences), expected)
    assert routes["fast char cnn"] >= 1 and routes["exact lstm"] == 0
    again = efml_bilm.embed_sentences(sentences)  # from the token cache now
    assert efml_bilm.token_cache.hits > 0
    assert_matches_reference(again, expected)


def test_exact_path_with_grad_matches_and_trains_the_word_embedding(efml_bilm, reference):
    sentences, expected = reference
    with torch.enable_grad():
        out = efml_bilm(efml_bilm.char_ids(sentences))
        layers = out.layers
        assert layers.requires_grad
        layers.sum().backward()
    grads = efml_bilm.char_cnn.word_embedding.weight.grad
    efml_bilm.zero_grad(set_to_none=True)
    assert grads is not None and grads.abs().sum() > 0
    numpy_layers = layers.detach().numpy()
    assert_matches_reference([numpy_layers[:, i, : len(s)] for i, s in enumerate(sentences)], expected)
    exact = on_exact_path(efml_bilm, lambda: efml_bilm.embed_sentences(sentences))
    assert_matches_reference(exact, expected)


def test_stateful_first_batch_after_a_reset_is_the_reference(efml_bilm, reference):
    """What the original computes: its first batch after reset_states(); a second stateful batch then differs."""
    sentences, expected = reference
    efml_bilm.reset_states()
    try:
        assert_matches_reference(efml_bilm.embed_sentences(sentences, batch_size=3, stateful=True), expected)
        second = efml_bilm.embed_sentences(sentences, batch_size=3, stateful=True)
        assert not numpy.allclose(second[0][1:], expected["all_0"][1:], atol=1e-3)
    finally:
        efml_bilm.reset_states()


def test_batching_and_order_do_not_change_the_vectors(efml_bilm, reference):
    sentences, expected = reference
    alone = [efml_bilm.embed_sentences([s])[0] for s in reversed(sentences)][::-1]
    assert_matches_reference(alone, expected)


def test_native_round_trip_is_exact(efml_bilm, reference, tmp_path):
    sentences, _ = reference
    efml_bilm.save(tmp_path / "native")
    assert sorted(p.name for p in (tmp_path / "native").iterdir()) == ["dictionaries.json", "options.json", "weights.safetensors"]
    loaded = load_bilm(tmp_path / "native")
    assert loaded.vocabulary.to_dict() == efml_bilm.vocabulary.to_dict()
    for a, b in zip(efml_bilm.embed_sentences(sentences), loaded.embed_sentences(sentences)):
        numpy.testing.assert_array_equal(a, b)


def test_weights_resolve_to_the_folder(reference):
    from spacy_elmo.weights import resolve_weights

    sentences, expected = reference
    chosen = resolve_weights(str(MODEL))
    assert chosen.kind == "elmoformanylangs" and chosen.bilm_dir == MODEL
    assert chosen.read_options().output_dim == 32
    assert_matches_reference(chosen.load().embed_sentences(sentences), expected)


def test_large_dictionary_ids_never_share_a_token_cache_entry():
    """Ids past int16 (a CJK model's characters, any model's word ids): two tokens whose ids differ by 65536
    must not share a cached vector, and the fast path must equal the exact one."""
    from spacy_elmo.bilm import BiLM
    from spacy_elmo.bilm.dictionary_characters import CHAR_SPECIALS, WORD_SPECIALS
    from tests.helpers import tiny_options

    characters = list(CHAR_SPECIALS) + [chr(0x4E00 + i) for i in range(70000 - len(CHAR_SPECIALS))]
    words = list(WORD_SPECIALS) + [f"w{i}" for i in range(70000)]
    options = tiny_options(n_characters=len(characters) + 1, extra={"vocabulary": {
        "kind": "elmoformanylangs", "word_embedding_dim": 3, "n_words": len(words) + 1}})
    torch.manual_seed(0)
    bilm = BiLM(options, vocabulary=DictionaryVocabulary(characters, words, 50)).eval()
    with torch.no_grad():
        for p in bilm.parameters():
            p.uniform_(-0.5, 0.5)
    low, high = characters[10], characters[10 + 65536]
    sentences = [[low, "w5"], [high, f"w{5 + 65536}"], [low + high, "w5"]]
    fast = bilm.embed_sentences(sentences)
    assert not numpy.allclose(fast[0][0, 0], fast[1][0, 0])
    assert not numpy.allclose(fast[0][0, 1], fast[1][0, 1])  # the word ids differ by 65536 too
    exact = on_exact_path(bilm, lambda: bilm.embed_sentences(sentences))
    for a, b in zip(fast, exact):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_model_without_a_word_embedding_needs_no_word_dic(efml_bilm, tmp_path):
    """word_dim 0: no word.dic, the projection reads the characters alone. Made from the reference by dropping
    the word columns: its token layer must be the full one minus the word vector's share (W_word @ word)."""
    import shutil

    folder = tmp_path / "chars_only"
    shutil.copytree(MODEL, folder)
    folder.chmod(0o755)  # the shared copy is read-only
    for path in folder.iterdir():
        path.chmod(0o644)
    (folder / "word.dic").unlink()
    arch = folder / "tiny_cnn_8_6_16_32.json"
    config = json.loads(arch.read_text())
    config["token_embedder"]["word_dim"] = 0
    arch.write_text(json.dumps(config))
    state = torch.load(MODEL / "token_embedder.pkl", weights_only=True)
    words = state.pop("word_emb_layer.embedding.weight")
    word_part = state["projection.weight"][:, : words.shape[1]]
    state["projection.weight"] = state["projection.weight"][:, words.shape[1]:].clone()
    torch.save(state, folder / "token_embedder.pkl")
    chars_only = load_bilm(folder)
    assert chars_only.options.word_embedding_dim == 0 and chars_only.vocabulary.width == 50
    sentence = ["The", "bank", "rates"]
    full, alone = efml_bilm.embed_sentences([sentence])[0][0, :, :16], chars_only.embed_sentences([sentence])[0][0, :, :16]
    word_ids = efml_bilm.char_ids([sentence])[0, :, -1] - 1
    numpy.testing.assert_allclose(full - alone, (words[word_ids] @ word_part.T).numpy(), rtol=0, atol=1e-5)
    exact = on_exact_path(chars_only, lambda: chars_only.embed_sentences([sentence]))[0]
    numpy.testing.assert_allclose(chars_only.embed_sentences([sentence])[0], exact, rtol=0, atol=1e-5)
