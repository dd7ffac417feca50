"""benchmarks/default_speed.py: each variant's environment, the latency percentiles and the targets it reports.

The timing itself is the lead's to run on an idle machine; these check that the script measures what it says."""
import pytest

from tests.helpers import ROOT, load_script

bench = load_script(ROOT / "benchmarks" / "default_speed.py")


def test_each_variant_starts_from_a_clean_environment_with_only_its_own_settings(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the caller's shell must not leak into "default"
    monkeypatch.setenv("SPACY_ELMO_INFERENCE_THREADS", "torch")
    default = bench.variant_env("default", "/tmp/verdicts")
    assert "OMP_WAIT_POLICY" not in default and "SPACY_ELMO_INFERENCE_THREADS" not in default
    assert default.get("SPACY_ELMO_CACHE") != "/tmp/verdicts"
    assert bench.variant_env("one-thread", None)["SPACY_ELMO_INFERENCE_THREADS"] == "1"
    tuned = bench.variant_env("tuned-bf16", None)
    assert tuned["OMP_WAIT_POLICY"] == "PASSIVE" and tuned["SPACY_ELMO_INFERENCE_THREADS"] == "torch"
    assert bench.variant_env("auto", "/tmp/verdicts")["SPACY_ELMO_CACHE"] == "/tmp/verdicts"  # measured afresh


def test_latency_percentiles_are_nearest_rank():
    times = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    summary = bench.latency_summary(times)
    assert summary["p50"] == pytest.approx(50.0) and summary["p99"] == pytest.approx(99.0) and summary["calls"] == 100


def row(variant, tps, **extra):
    return {"variant": variant, "tokens_per_second": tps, "call_threads": 1, "direction_threads": 1, **extra}


def test_the_table_checks_the_issues_targets():
    rows = {
        "default": row("default", 950), "auto": row("auto", 1800, verdict={"precision": "bf16", "speedup": 2.4, "source": "measured"}),
        "tuned-fp32": row("tuned-fp32", 1000), "tuned-bf16": row("tuned-bf16", 1900), "allennlp": {"variant": "allennlp", "tokens_per_second": 100},
    }
    text = "\n".join(bench.size_table("original", rows))
    assert "default >= 0.9x the tuned fp32: 0.95x (holds)" in text
    assert "auto >= 0.9x the best tuned of either precision: 0.95x (holds)" in text
    assert "default >= 8x AllenNLP (goal 10x): 9.50x (holds)" in text
    assert "auto >= 1.8x the default (bf16 pays here): 1.89x (holds)" in text
    small = "\n".join(bench.size_table("small", rows))
    assert "auto / default: 1.89x (the issue's 1.8x target is at original size)" in small and "AllenNLP (goal" not in small
    rows["auto"] = row("auto", 900, verdict={"precision": "fp32", "speedup": 0.5, "source": "measured"})
    text = "\n".join(bench.size_table("small", rows))
    assert "auto >= 0.9x the best tuned of either precision: 0.47x (MISSED)" in text
    assert "not applicable, auto chose fp32" in text and "AllenNLP (goal" not in text
