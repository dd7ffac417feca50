"""The precision setting of the CPU inference route: fp32, bf16 (bf16 products, float32 cell and outputs), auto.

The capability check and the timing of ``"auto"`` are monkeypatched to play CPUs with and without
native bf16, and where bf16 pays (Zen 4, AMX) or not (an Intel Xeon without AMX), so ``auto``'s verdict,
its cache and the float32 fallback are tested on any machine; the bf16 route itself runs only where this
CPU has native bf16.
"""
import json

import numpy
import pytest
import torch

from spacy_elmo.bilm.fast import cpu_bf16, precision_auto
from spacy_elmo.bilm.fast.precision import PrecisionError, compute_dtype
from tests.helpers import REFERENCE, needs_reference

CPU = torch.device("cpu")
SENTENCES = [["The", "cat", "sat", "on", "the", "mat", "."], ["Hello", "world"], ["A"], ["Unbelievably", "long", "words", "here"]]
NO_BF16 = {"avx2": True, "avx512_f": True}
AVX512_BF16 = {"avx512_f": True, "avx512_bf16": True}
AMX = {"avx512_f": True, "avx512_bf16": True, "amx_tile": True, "amx_bf16": True}

needs_native_bf16 = pytest.mark.skipif(not cpu_bf16.bf16_native(), reason="this CPU has no native bf16")


#: bf16 time relative to float32 on each kind of CPU (issue 27): Zen 4 ran bf16 products 2.2-2.7x as
#: fast, the Intel Xeon of BENCHMARKS.md (AVX512-BF16, no AMX) at 0.53x.
ZEN4, INTEL_NO_AMX, AMX_RATIO, MARGINAL = 2.4, 0.53, 3.0, 1.1


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    """Every test keeps its verdicts in a cache folder of its own and starts with none remembered."""
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    precision_auto.forget_verdicts()
    yield
    precision_auto.forget_verdicts()


@pytest.fixture
def timed(monkeypatch):
    """``timed(ratio)``: "auto"'s timing gives every product float32 time / bf16 time = ``ratio``;
    returns the list of the product sets it was asked to time (one entry per measurement)."""
    calls = []

    def fake(ratio):
        def time_products(products, purpose="inference"):
            calls.append((tuple(products), purpose))
            return {p.name: {"fp32": 1e-3 * ratio, "bf16": 1e-3} for p in products}

        monkeypatch.setattr(precision_auto, "time_products", time_products)
        return calls

    return fake


@pytest.fixture
def cpu_with(monkeypatch, timed):
    """``cpu_with(flags, ratio)``: make the capability check report these CPU flags and "auto"'s timing
    measure bf16 ``ratio`` times as fast as float32 (default: as an AMX CPU where ``amx_bf16`` is set,
    else as an Intel Xeon without AMX)."""

    def fake(flags, ratio=None):
        monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: dict(flags))
        return timed(ratio if ratio is not None else (AMX_RATIO if flags.get("amx_bf16") else INTEL_NO_AMX))

    return fake


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
    "flags, ratio, auto, explicit",
    [(NO_BF16, ZEN4, torch.float32, None), (AVX512_BF16, INTEL_NO_AMX, torch.float32, torch.bfloat16),
     (AVX512_BF16, ZEN4, torch.bfloat16, torch.bfloat16), (AVX512_BF16, MARGINAL, torch.float32, torch.bfloat16),
     (AMX, AMX_RATIO, torch.bfloat16, torch.bfloat16)],
    ids=["no-bf16", "intel-avx512-bf16-no-amx", "zen4-avx512-bf16", "bf16-within-the-margin", "amx-bf16"],
)
def test_what_each_setting_computes_in_on_each_kind_of_cpu(cpu_with, flags, ratio, auto, explicit):
    """auto: bf16 where the products measured at least BF16_MARGIN faster (not where a flag says so);
    nothing is measured without native bf16; bf16: wherever native."""
    calls = cpu_with(flags, ratio)
    assert compute_dtype("fp32", CPU) is torch.float32
    assert compute_dtype("auto", CPU) is auto
    assert len(calls) == (0 if flags is NO_BF16 else 1)
    if explicit is None:
        with pytest.raises(PrecisionError):
            compute_dtype("bf16", CPU)
    else:
        assert compute_dtype("bf16", CPU) is explicit


def test_the_margin_is_a_ratio_of_the_weighted_product_mix():
    products = precision_auto.product_shapes(precision_auto.ELMO_SMALL)
    timings = {p.name: {"fp32": 1.0, "bf16": 1.0} for p in products}
    timings["lstm recurrent"] = {"fp32": 3.0, "bf16": 1.0}  # runs once per step: weighs more than the rest
    recurrent = next(p for p in products if p.name == "lstm recurrent")
    total = sum(p.count for p in products)
    assert precision_auto.speedup(products, timings) == pytest.approx((total + 2 * recurrent.count) / total)
    assert precision_auto.BF16_MARGIN > 1.0


def test_auto_times_the_models_own_products(cpu_with, tiny_bilm):
    """The products timed are the model's: its LSTM widths and its char CNN's stacked filters."""
    calls = cpu_with(AVX512_BF16, ZEN4)
    tiny_bilm.precision = "auto"
    assert not calls  # setting "auto" measures nothing; the first inference does
    assert tiny_bilm.compute_dtype() is torch.bfloat16
    (products, purpose), = calls
    opts = tiny_bilm.options
    shapes = {p.name: (p.inner, p.outer) for p in products}
    assert purpose == "inference"
    assert shapes["lstm input"] == shapes["lstm recurrent"] == (opts.projection_dim, 4 * opts.lstm_dim)
    assert shapes["lstm projection"] == (opts.lstm_dim, opts.projection_dim)
    widest = max(w for w, _ in opts.filters)
    assert shapes["char cnn filters"] == (widest * opts.char_embedding_dim, opts.n_filters)
    original = {p.name: (p.inner, p.outer) for p in precision_auto.product_shapes(precision_auto.ProductSizes(512, 4096, 2048, 7, 16))}
    assert original["lstm recurrent"] == (512, 16384) and original["lstm projection"] == (4096, 512)


# -- "auto"'s cache -----------------------------------------------------------------------------------
def test_the_verdict_is_cached_per_cpu_model_torch_version_and_sizes(cpu_with, monkeypatch):
    calls = cpu_with(AVX512_BF16, ZEN4)
    verdict = precision_auto.auto_verdict(precision_auto.ELMO_SMALL)
    assert verdict.precision == "bf16" and verdict.speedup == pytest.approx(ZEN4) and verdict.source == "measured"
    path = precision_auto.verdict_file()
    assert verdict.cache_file == str(path) and path.parent.name == "precision"
    (key, record), = json.loads(path.read_text())["verdicts"].items()
    assert precision_auto.cpu_model() in key and f"torch {torch.__version__}" in key and precision_auto.ELMO_SMALL.key() in key
    assert record["precision"] == "bf16" and record["cpu"] == precision_auto.cpu_model() and record["torch"] == torch.__version__
    assert set(record["timings"]) == {p.name for p in precision_auto.product_shapes(precision_auto.ELMO_SMALL)}

    precision_auto.forget_verdicts()  # a new process: read from the file, nothing timed
    again = precision_auto.auto_verdict(precision_auto.ELMO_SMALL)
    assert (again.precision, again.source, len(calls)) == ("bf16", "cache", 1)
    assert "read from" in again.describe() and "2.40x" in again.describe()

    other = precision_auto.ProductSizes(512, 4096, 2048, 7, 16)
    assert precision_auto.auto_verdict(other).source == "measured" and len(calls) == 2  # other sizes: measured
    monkeypatch.setattr(torch, "__version__", "99.0")
    precision_auto.forget_verdicts()
    assert precision_auto.auto_verdict(precision_auto.ELMO_SMALL).source == "measured" and len(calls) == 3  # other torch
    monkeypatch.setattr(precision_auto, "cpu_model", lambda: "Another CPU (family 25 model 17)")
    precision_auto.forget_verdicts()
    assert precision_auto.auto_verdict(precision_auto.ELMO_SMALL).source == "measured" and len(calls) == 4  # other CPU
    assert len(json.loads(path.read_text())["verdicts"]) == 4


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1, "verdicts": {"x": 3}}', '{"version": 0, "verdicts": {}}'])
def test_a_corrupt_cache_file_is_measured_again_and_replaced(cpu_with, content):
    calls = cpu_with(AVX512_BF16, INTEL_NO_AMX)
    path = precision_auto.verdict_file()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert precision_auto.auto_verdict().precision == "fp32" and len(calls) == 1
    assert len(json.loads(path.read_text())["verdicts"]) == 1


def test_a_corrupt_record_is_measured_again(cpu_with):
    calls = cpu_with(AVX512_BF16, ZEN4)
    key = precision_auto.cache_key(precision_auto.ELMO_SMALL)
    path = precision_auto.verdict_file()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": precision_auto.CACHE_VERSION, "verdicts": {key: {"precision": "fp16", "speedup": "x"}}}))
    assert precision_auto.auto_verdict().source == "measured" and len(calls) == 1


def test_a_cached_measurement_is_judged_by_todays_margin(cpu_with, monkeypatch):
    calls = cpu_with(AVX512_BF16, MARGINAL)
    assert precision_auto.auto_verdict().precision == "fp32"  # 1.1x: under the 1.2x margin
    precision_auto.forget_verdicts()
    monkeypatch.setattr(precision_auto, "BF16_MARGIN", 1.05)
    again = precision_auto.auto_verdict()
    assert (again.precision, again.source, len(calls)) == ("bf16", "cache", 1)


def test_an_unwritable_cache_folder_still_gives_a_verdict(cpu_with, monkeypatch, tmp_path):
    cpu_with(AVX512_BF16, ZEN4)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(blocker))  # its "precision" subfolder cannot be made
    verdict = precision_auto.auto_verdict()
    assert verdict.precision == "bf16" and verdict.cache_file is None


def test_two_writers_at_once_each_write_a_whole_cache_file(monkeypatch):
    """Two processes measuring at once (nlp.pipe(n_process=2) on first use) each write the file whole: with one
    shared temporary name, the second writer's rename found nothing (its verdict not written) after both had
    written into the same temporary file."""
    import pathlib
    import threading

    path = precision_auto.verdict_file()
    both_written = threading.Barrier(2)
    real = pathlib.Path.write_text

    def write_then_wait(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        both_written.wait(timeout=10)  # neither renames before the other has written
        return result

    monkeypatch.setattr(pathlib.Path, "write_text", write_then_wait)
    results = {}
    writers = [threading.Thread(target=lambda k=k: results.update({k: precision_auto._write_cache(path, k, {"speedup": 1.0})}))
               for k in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=20)
    assert results == {"a": True, "b": True}
    monkeypatch.setattr(pathlib.Path, "write_text", real)
    assert set(precision_auto._read_cache(path)) <= {"a", "b"} and precision_auto._read_cache(path)  # valid JSON
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_training_and_inference_verdicts_are_apart(cpu_with):
    calls = cpu_with(AVX512_BF16, ZEN4)
    precision_auto.auto_verdict(purpose="inference")
    precision_auto.auto_verdict(purpose="training")
    assert [purpose for _, purpose in calls] == ["inference", "training"]


@needs_native_bf16
def test_the_real_timing_measures_every_product_in_both_precisions():
    """Tiny shapes: the timing itself runs, gives positive CPU times, and leaves torch's threads as they were."""
    before = torch.get_num_threads()
    products = precision_auto.product_shapes(precision_auto.ProductSizes(8, 16, 12, 3, 4))
    for purpose in precision_auto.PURPOSES:
        timings = precision_auto.time_products(products, purpose)
        assert set(timings) == {p.name for p in products}
        assert all(t[d] > 0 for t in timings.values() for d in ("fp32", "bf16"))
    assert torch.get_num_threads() == before


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
    cpu_bf16.cpu_capabilities.cache_clear()
    try:
        assert cpu_bf16.cpu_capabilities().get("avx512_bf16") is True
        assert cpu_bf16.bf16_native()
    finally:
        cpu_bf16.cpu_capabilities.cache_clear()


# -- the float32 fallback ---------------------------------------------------------------------------
@pytest.mark.parametrize("flags", [NO_BF16, AVX512_BF16], ids=["no-bf16", "intel-avx512-bf16-no-amx"])
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
def test_auto_where_bf16_pays_runs_the_bf16_route(tiny_bilm, cpu_with):
    cpu_with(AVX512_BF16, ZEN4)
    want = embed(tiny_bilm, "bf16")
    for got, exp in zip(embed(tiny_bilm, "auto"), want):
        numpy.testing.assert_array_equal(got, exp)


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

    cpu_with(AVX512_BF16, ZEN4)
    assert load_bilm(tiny_model, precision="auto").compute_dtype() is torch.bfloat16
    assert load_bilm(tiny_model).precision == "fp32"
    cpu_with(NO_BF16)
    with pytest.raises(PrecisionError, match="precision='fp32'"):
        load_bilm(tiny_model, precision="bf16")


def test_the_timing_uses_thread_cpu_time_only_where_it_is_fine_grained(monkeypatch):
    """Thread CPU time (robust to a busy machine) where the OS counts it in ns; wall time where it ticks coarsely."""
    import time
    import types

    monkeypatch.setattr(time, "get_clock_info", lambda name: types.SimpleNamespace(resolution=1e-9))
    assert precision_auto._clock() is time.thread_time
    monkeypatch.setattr(time, "get_clock_info", lambda name: types.SimpleNamespace(resolution=0.015625))  # Windows
    assert precision_auto._clock() is time.perf_counter
