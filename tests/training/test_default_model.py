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
