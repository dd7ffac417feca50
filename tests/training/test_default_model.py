"""The shipped default English model: present, small, loadable, and contextual."""
import numpy
import pytest

from spacy_elmo.errors import ElmoError


PACKAGED = {"en_elmo_small": 256, "en_elmo_medium": 512}  # name -> output width


def _model_dir(name="en_elmo_small"):
    from spacy_elmo.models import packaged_model_dir

    try:
        return packaged_model_dir(name)
    except ElmoError as err:
        pytest.skip(str(err))


def test_default_model_is_the_small_one():
    from spacy_elmo.models import default_model_dir

    assert default_model_dir() == _model_dir("en_elmo_small")


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_models_are_under_25_mb_and_documented(name):
    path = _model_dir(name)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert size < 25 * 1024 * 1024
    card = (path / "MODEL_CARD.md").read_text(encoding="utf-8")
    for needed in ("python -m spacy_elmo pretrain", "perplexity", "export"):
        assert needed in card


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_models_give_contextual_vectors(name):
    from spacy_elmo import load_bilm

    bilm = load_bilm(_model_dir(name))
    assert bilm.options.output_dim == PACKAGED[name]
    river, money = bilm.embed_sentences([["He", "sat", "on", "the", "bank", "of", "the", "river", "."],
                                         ["She", "took", "money", "from", "the", "bank", "."]])
    assert river.shape == (bilm.options.n_output_layers, 9, bilm.options.output_dim)
    assert numpy.isfinite(river).all() and numpy.isfinite(money).all()
    # Layer 0 is context-free: "bank" is the same vector in both sentences; the LSTM layers are not.
    numpy.testing.assert_allclose(river[0, 4], money[0, 5], atol=1e-5)
    assert not numpy.allclose(river[2, 4], money[2, 5], atol=1e-3)


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_models_ship_their_output_layer_for_adapt(name):
    """``adapt`` keeps a packaged model's output layer and vocabulary: both ship, match the biLM, and predict
    real English far better than chance (a vocabulary of 50,000 words: chance perplexity 50,000)."""
    import torch

    from spacy_elmo import load_bilm
    from spacy_elmo.training.batching import BatchMaker
    from spacy_elmo.training.corpus import TokenizedCorpus, CorpusStats
    from spacy_elmo.training.evaluation import evaluate
    from spacy_elmo.training.lm import BidirectionalLM
    from spacy_elmo.training.output_io import has_output_layer, load_output_layer

    path = _model_dir(name)
    assert has_output_layer(path)
    bilm = load_bilm(path)
    layer, vocab = load_output_layer(path, bilm.options.projection_dim)
    assert len(vocab) == 50_000 and layer.vocab_size == len(vocab)
    words = "The company said on Monday that its profit rose in the third quarter .".split()
    types = sorted(set(words))
    tokens = numpy.array([types.index(w) for w in words], dtype=numpy.int32)
    counts = numpy.bincount(tokens, minlength=len(types)).astype(numpy.int64)
    corpus = TokenizedCorpus(types, counts, tokens, numpy.array([0, len(words)]), CorpusStats())
    lm = BidirectionalLM(bilm, len(vocab), [], output=layer)
    with torch.no_grad():
        result = evaluate(lm, BatchMaker(corpus, vocab, bilm.options.max_characters_per_token))
    assert result["forward_ppl"] < 2000 and result["backward_ppl"] < 2000
