"""The component's ``precision`` setting: what it reaches, what it refuses, and that it survives a save."""
import numpy
import pytest
import spacy

from spacy_elmo.bilm.fast import cpu_bf16, precision_auto
from spacy_elmo.bilm.fast.precision import PrecisionError

TEXTS = ["The bank of the river was steep.", "She went to the bank to deposit money.", "Hi"]
needs_native_bf16 = pytest.mark.skipif(not cpu_bf16.bf16_native(), reason="this CPU has no native bf16")


def layers(nlp):
    return [doc._.elmo_data.layers for doc in nlp.pipe(TEXTS)]


def test_the_default_is_fp32_and_an_unknown_value_names_the_choices(tiny_nlp):
    assert tiny_nlp().get_pipe("elmo").model.bilm.precision == "fp32"
    with pytest.raises(ValueError, match="'elmo' precision must be one of 'fp32', 'bf16', 'auto'; got 'half'"):
        tiny_nlp(precision="half")


def test_explicit_bf16_on_a_cpu_without_it_fails_when_the_component_is_made(tiny_nlp, monkeypatch):
    monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: {"avx2": True})
    with pytest.raises(PrecisionError, match="precision='fp32'"):
        tiny_nlp(precision="bf16")


def test_auto_on_a_cpu_where_bf16_does_not_pay_gives_the_fp32_vectors(tiny_nlp, monkeypatch, tmp_path):
    want = layers(tiny_nlp())
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: {"avx512_f": True, "avx512_bf16": True})
    # bf16 products measured at 0.53x float32, as on the Intel Xeon without AMX of BENCHMARKS.md
    monkeypatch.setattr(precision_auto, "time_products", lambda products, purpose="inference": {
        p.name: {"fp32": 0.53e-3, "bf16": 1e-3} for p in products})
    monkeypatch.setattr(precision_auto, "_VERDICTS", {})  # nothing remembered from other tests
    nlp = tiny_nlp(precision="auto")
    assert nlp.get_pipe("elmo").model.bilm.compute_dtype() == cpu_bf16.DTYPES["fp32"]
    for got, exp in zip(layers(nlp), want):
        numpy.testing.assert_array_equal(got, exp)


@needs_native_bf16
def test_bf16_reaches_the_bilm_and_stays_close_to_fp32(tiny_nlp):
    want = layers(tiny_nlp())
    nlp = tiny_nlp(precision="bf16")
    got = layers(nlp)
    assert nlp.get_pipe("elmo").model.bilm.compute_dtype() == cpu_bf16.DTYPES["bf16"]
    assert all(g.dtype == numpy.float32 for g in got)
    assert any(not numpy.array_equal(g, w) for g, w in zip(got, want))
    for g, w in zip(got, want):
        numpy.testing.assert_allclose(g, w, atol=0.05)


@needs_native_bf16
def test_a_saved_pipeline_keeps_its_precision(tiny_nlp, tmp_path):
    nlp = tiny_nlp(precision="bf16")
    want = layers(nlp)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("elmo").model.bilm.precision == "bf16"
    for g, w in zip(layers(loaded), want):
        numpy.testing.assert_array_equal(g, w)
    override = spacy.load(tmp_path / "pipeline", config={"components": {"elmo": {"precision": "fp32"}}})
    assert override.get_pipe("elmo").model.bilm.precision == "fp32"
