"""The numbers behind ``similarity`` and ``visualize`` (``spacy_elmo.application.analysis``)."""
import numpy
import pytest

from spacy_elmo.application.analysis import cosine_matrix, find_spans, label_separation, pca_2d


def test_find_spans_ignores_case_and_normal_form():
    tokens = ["Café", "in", "the", "CAFE\u0301", "cafe"]
    assert find_spans(tokens, ["café"]) == [(0, 1), (3, 4)]
    assert find_spans(tokens, ["in", "the"]) == [(1, 3)]
    assert find_spans(tokens, []) == []


def test_pca_recovers_the_main_direction_and_is_stable():
    rng = numpy.random.default_rng(0)
    direction = rng.normal(size=16)
    t = numpy.linspace(-1, 1, 20)
    x = numpy.outer(t, direction) + 0.01 * rng.normal(size=(20, 16))
    coords, ratio = pca_2d(x)
    assert ratio[0] > 0.99
    assert abs(numpy.corrcoef(coords[:, 0], t)[0, 1]) > 0.999
    same, ratio_same = pca_2d(numpy.ones((3, 4)))
    assert numpy.isfinite(same).all() and (ratio_same == 0).all()


@pytest.mark.parametrize("flip", [1.0, -1.0])
def test_pca_sign_is_fixed_by_the_data_not_by_the_svd(monkeypatch, flip):
    """Each axis points where its largest coefficient is positive, whatever signs the SVD returns
    (LAPACK builds differ), so a picture does not mirror between machines."""
    rng = numpy.random.default_rng(1)
    a, b = numpy.linalg.qr(rng.normal(size=(8, 2)))[0].T  # two orthonormal directions
    a *= numpy.sign(a[numpy.argmax(abs(a))])  # a's largest coefficient is positive: the first axis is +a
    b *= -numpy.sign(b[numpy.argmax(abs(b))])  # b's is negative: the second axis is -b
    scores = rng.normal(size=(30, 2))
    s, t = numpy.linalg.qr(scores - scores.mean(axis=0))[0].T  # uncorrelated, zero-mean coordinates
    x = numpy.outer(3 * s, a) + numpy.outer(t, b)
    svd = numpy.linalg.svd
    monkeypatch.setattr(numpy.linalg, "svd", lambda m, **kw: (lambda u, d, vt: (flip * u, d, flip * vt))(*svd(m, **kw)))
    coords, _ = pca_2d(x)
    numpy.testing.assert_allclose(coords, numpy.stack([3 * s, -t], axis=1), atol=1e-9)  # +a, then -b
    mirrored, _ = pca_2d(-x)  # a real sign flip of the data flips the coordinates
    numpy.testing.assert_allclose(mirrored, -coords, atol=1e-9)


def test_label_separation():
    vectors = numpy.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    within, across = label_separation(vectors, ["a", "a", "b", "b"])
    assert within == pytest.approx(cosine_matrix(vectors)[0, 1]) and across < 0.2 < within
    assert numpy.isnan(label_separation(vectors[:2], ["a", "b"])[0])


def test_cosine_matrix_handles_zero_vectors():
    sims = cosine_matrix(numpy.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]]))
    assert sims[0, 2] == pytest.approx(1.0) and sims[0, 1] == 0.0 and numpy.isfinite(sims).all()
