"""The precision setting of the CPU inference route: fp32, bf16 (bf16 products, float32 cell and outputs), auto.

The capability check is monkeypatched to play CPUs with and without native bf16, so the float32
fallback is tested on any machine; the bf16 route itself runs only where this CPU has native bf16.
"""
import json

import numpy
import pytest
import torch

from spacy_elmo.bilm.fast import precision
from spacy_elmo.bilm.fast.precision import PrecisionError, compute_dtype
from tests.helpers import REFERENCE, needs_reference

CPU = torch.device("cpu")
SENTENCES = [["The", "cat", "sat", "on", "the", "mat", "."], ["Hello", "world"], ["A"], ["Unbelievably", "long", "words", "here"]]
NO_BF16 = {"avx2": True, "avx512_f": True}
AVX512_BF16 = {"avx512_f": True, "avx512_bf16": True}
AMX = {"avx512_f": True, "avx512_bf16": True, "amx_tile": True, "amx_bf16": True}

needs_native_bf16 = pytest.mark.skipif(not precision.bf16_native(), reason="this CPU has no native bf16")


@pytest.fixture
def cpu_with(monkeypatch):
    """``cpu_with(flags)``: make the capability check report these CPU flags."""
    return lambda flags: monkeypatch.setattr(precision, "cpu_capabilities", lambda: dict(flags))


def embed(bilm, setting):
    bilm.precision = setting
    return bilm.embed_sentences(SENTENCES)


def layer_errors(got, want):
    """Per layer (max abs error, relative RMS error) over every token."""
    got, want = numpy.concatenate(got, axis=1), numpy.concatenate(want, axis=1)
    return [(float(numpy.abs(g - w).max()), float(numpy.linalg.norm(g - w) / numpy.linalg.norm(w))) for g, w in zip(got, want)]


# -- the setting and the capability check --------------------------------------------------------
def test_an_unknown_precision_is_an_error_naming_the_choices(tiny_bilm):
    with pytest.raises(PrecisionError, match="'fp32', 'bf16', 'auto'"):
        tiny_bilm.precision = "fp16"


def test_explicit_bf16_without_native_support_is_an_error_naming_the_fix(tiny_bilm, cpu_with):
    cpu_with(NO_BF16)
    with pytest.raises(PrecisionError, match="precision='fp32'") as err:
        tiny_bilm.precision = "bf16"
    assert "AVX512-BF16" in str(err.value)
    assert tiny_bilm.precision == "fp32"  # unchanged


@pytest.mark.parametrize(
    "flags, auto, explicit",
    [(NO_BF16, torch.float32, None), (AVX512_BF16, torch.float32, torch.bfloat16), (AMX, torch.bfloat16, torch.bfloat16)],
    ids=["no-bf16", "avx512-bf16-only", "amx-bf16"],
)
def test_what_each_setting_computes_in_on_each_kind_of_cpu(cpu_with, flags, auto, explicit):
    """auto: bf16 only with AMX-BF16 (AVX512-BF16 alone has float32's arithmetic peak); bf16: wherever native."""
    cpu_with(flags)
    assert compute_dtype("fp32", CPU) is torch.float32
    assert compute_dtype("auto", CPU) is auto
    if explicit is None:
        with pytest.raises(PrecisionError):
            compute_dtype("bf16", CPU)
    else:
        assert compute_dtype("bf16", CPU) is explicit


def test_off_the_cpu_auto_is_float32_and_bf16_names_the_gpu_way():
    meta = torch.device("meta")
    assert compute_dtype("auto", meta) is torch.float32
    with pytest.raises(PrecisionError, match=r"bilm.to\(torch.bfloat16\)"):
        compute_dtype("bf16", meta)


def test_the_capability_check_reads_proc_cpuinfo_without_torch_cpu(monkeypatch):
    """Older torch has no torch.cpu.get_capabilities: the flags then come from /proc/cpuinfo."""
    import builtins
    import io

    cpuinfo = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
    real_open = builtins.open
    monkeypatch.setattr(torch.cpu, "get_capabilities", None, raising=False)
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: io.StringIO(cpuinfo) if path == "/proc/cpuinfo" else real_open(path, *a, **k))
    precision.cpu_capabilities.cache_clear()
    try:
        assert precision.cpu_capabilities().get("avx512_bf16") is True
        assert precision.bf16_native() and not precision.bf16_pays()
    finally:
        precision.cpu_capabilities.cache_clear()


# -- the float32 fallback ---------------------------------------------------------------------------
@pytest.mark.parametrize("flags", [NO_BF16, AVX512_BF16], ids=["no-bf16", "avx512-bf16-only"])
def test_auto_without_a_paying_bf16_gives_exactly_the_fp32_route(tiny_bilm, cpu_with, flags):
    want = embed(tiny_bilm, "fp32")
    cpu_with(flags)
    got = embed(tiny_bilm, "auto")
    for g, w in zip(got, want):
        numpy.testing.assert_array_equal(g, w)


# -- the bf16 route ----------------------------------------------------------------------------------
@pytest.fixture
def lstm_dtypes(monkeypatch):
    """What the scripted LSTM ran on, per call: (dtype of the packed inputs, dtypes of the final cells)."""
    from spacy_elmo.bilm.fast import threads

    seen = []
    original = threads.run_both

    def recording(fn, first, second):
        outputs = original(fn, first, second)
        seen.append((first[0].dtype, {c.dtype for c in outputs[0][2] + outputs[1][2]}))
        return outputs

    monkeypatch.setattr(threads, "run_both", recording)
    return seen


@needs_native_bf16
def test_bf16_multiplies_in_bf16_keeps_the_cell_in_fp32_and_returns_fp32(tiny_bilm, lstm_dtypes):
    from spacy_elmo.bilm.fast import packed_lstm

    assert packed_lstm._scripted_route_checked(torch.bfloat16)
    lstm_dtypes.clear()  # the one-time self-check ran the route too
    tiny_bilm.precision = "bf16"
    with torch.no_grad():
        raw = tiny_bilm.run(tiny_bilm.char_ids(SENTENCES), stateful=True)
    assert lstm_dtypes == [(torch.bfloat16, {torch.float32})]
    assert all(t.dtype is torch.float32 for t in [raw.token_embedding, *raw.forward, *raw.backward])
    assert all(c.dtype is torch.float32 and h.dtype is torch.float32 for h, c in tiny_bilm._states)
    out = tiny_bilm.embed_sentences(SENTENCES)
    assert all(a.dtype == numpy.float32 for a in out)


@needs_native_bf16
def test_switching_precision_never_serves_the_other_precisions_cached_token_vectors(tiny_bilm):
    fp32 = embed(tiny_bilm, "fp32")
    bf16 = embed(tiny_bilm, "bf16")
    assert any(not numpy.array_equal(a[0], b[0]) for a, b in zip(fp32, bf16))  # layer 0 is the cached token layer
    for a, b in zip(embed(tiny_bilm, "fp32"), fp32):
        numpy.testing.assert_array_equal(a, b)


@needs_native_bf16
def test_bf16_on_a_random_tiny_model_is_within_stated_tolerance_of_fp32(tiny_bilm):
    """Tolerance: relative RMS error <= 2% and max abs error <= 0.05 per layer (bf16 keeps 8 mantissa bits)."""
    errors = layer_errors(embed(tiny_bilm, "bf16"), embed(tiny_bilm, "fp32"))
    for max_abs, rel_rms in errors:
        assert max_abs <= 0.05 and rel_rms <= 0.02, errors


@needs_reference
@needs_native_bf16
@pytest.mark.parametrize("folder", ["allennlp", "bilm-tf/model"])
def test_bf16_on_the_reference_models_is_within_stated_tolerance_of_fp32(folder):
    """The reference ELMo test models on their own sentences. Tolerance: relative RMS error <= 1.5% and
    max abs error <= 0.05 per layer (measured: 0.2-0.5% and 0.002-0.023)."""
    from spacy_elmo import load_bilm

    path = REFERENCE / folder
    bilm = load_bilm(path / "options.json", path / "lm_weights.hdf5").eval()
    names = [n for n in ("sentences.json", "lm_embeddings_sentences.json") if (path / n).is_file()]
    groups = json.loads((path / names[0]).read_text())
    sentences = [s.split() if isinstance(s, str) else s for group in groups for s in group]
    bilm.precision = "fp32"
    want = bilm.embed_sentences(sentences)
    bilm.precision = "bf16"
    errors = layer_errors(bilm.embed_sentences(sentences), want)
    for max_abs, rel_rms in errors:
        assert max_abs <= 0.05 and rel_rms <= 0.015, errors


@needs_native_bf16
def test_a_failed_bf16_self_check_falls_back_to_the_fp32_lstm_with_a_warning(tiny_bilm, monkeypatch, lstm_dtypes):
    from spacy_elmo.bilm.fast import packed_lstm

    monkeypatch.setattr(packed_lstm, "_SELF_CHECK", {torch.float32: True})
    monkeypatch.setattr(packed_lstm, "SELF_CHECK_TOLERANCE", {torch.float32: 1e-4, torch.bfloat16: 0.0})
    with pytest.warns(RuntimeWarning, match="using float32 instead"):
        embed(tiny_bilm, "bf16")
    assert [inputs for inputs, _ in lstm_dtypes] == [torch.bfloat16, torch.float32]  # the self-check, then the call


def test_load_bilm_takes_the_precision(tiny_model, cpu_with):
    from spacy_elmo import load_bilm

    cpu_with(AMX)
    assert load_bilm(tiny_model, precision="auto").compute_dtype() is torch.bfloat16
    assert load_bilm(tiny_model).precision == "fp32"
    cpu_with(NO_BF16)
    with pytest.raises(PrecisionError, match="precision='fp32'"):
        load_bilm(tiny_model, precision="bf16")
