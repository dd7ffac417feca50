"""``--precision`` on the commands that embed: it reaches the component, and its errors are one line."""
import numpy
import pytest

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import ResumeError, read_embeddings
from spacy_elmo.bilm.fast import cpu_bf16, precision_auto

needs_native_bf16 = pytest.mark.skipif(not cpu_bf16.bf16_native(), reason="this CPU has no native bf16")
SENTENCES = ["The river bank was muddy.", "The bank raised rates."]


def test_an_unknown_precision_is_one_line(cli, tiny_model, text_file, tmp_path):
    for args in (["embed", text_file, tmp_path / "out.npz"], ["similarity", "bank", *SENTENCES]):
        result = cli(*args, "--model", tiny_model, "--precision", "half")
        assert result.exit_code == 1
        assert "precision must be one of 'fp32', 'bf16', 'auto'; got 'half'" in result.stderr
        assert "Traceback" not in result.stderr


def test_bf16_on_a_cpu_without_it_says_what_to_use(cli, tiny_model, monkeypatch):
    monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: {"avx2": True})
    result = cli("similarity", "bank", *SENTENCES, "--model", tiny_model, "--precision", "bf16")
    assert result.exit_code == 1
    assert "precision='fp32'" in result.stderr and "Traceback" not in result.stderr


@needs_native_bf16
def test_embed_in_bf16_is_close_to_fp32_and_a_run_never_mixes_precisions(cli, tiny_model, text_file, component_layers, tmp_path):
    out = tmp_path / "out.npz"
    result = cli("embed", text_file, out, "--model", tiny_model, "--layers", "all", "--precision", "bf16")
    assert result.exit_code == 0, result.stderr
    got = read_embeddings(out)
    assert any(not numpy.array_equal(array, layers) for (_, array), (_, layers, _) in zip(got, component_layers))
    for (tokens, array), (exp_tokens, layers, _) in zip(got, component_layers):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, layers, atol=0.05)
    partial = tmp_path / "partial.npz"
    embed_file(text_file, partial, model=tiny_model, chunk_size=3, progress=False, stop_after=1)
    with pytest.raises(ResumeError, match="precision"):
        embed_file(text_file, partial, model=tiny_model, chunk_size=3, progress=False, precision="bf16")


@needs_native_bf16
def test_similarity_in_bf16_is_close_to_fp32(cli, tiny_model):
    def table(*extra):
        result = cli("similarity", "bank", *SENTENCES, "--model", tiny_model, *extra)
        assert result.exit_code == 0, result.stderr
        return [line.split()[-2:] for line in result.stdout.splitlines()[-2:]]

    fp32, bf16 = table(), table("--precision", "bf16")
    assert numpy.allclose(numpy.array(fp32, dtype=float), numpy.array(bf16, dtype=float), atol=0.02)


@pytest.mark.parametrize("flags, ratio, says", [
    ({"avx2": True}, None, ["no native bf16: precision bf16 is refused, auto = fp32", "auto = fp32 (no native bf16"]),
    ({"avx512_bf16": True}, 0.53, ["native (AVX512-BF16): precision bf16 available", "auto = fp32 (bf16 products measured 0.53x float32",
                                   "does not pay at the 1.2x margin", "lstm recurrent 0.53/1.00 ms"]),
    ({"avx512_bf16": True, "amx_bf16": True}, 3.0, ["native (AMX-BF16, AVX512-BF16)", "auto = bf16 (bf16 products measured 3.00x"]),
], ids=["no-bf16", "intel-avx512-bf16-no-amx", "amx-bf16"])
def test_info_says_what_auto_chose_here_and_why(cli, tiny_model, monkeypatch, tmp_path, flags, ratio, says):
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: dict(flags))
    monkeypatch.setattr(precision_auto, "_VERDICTS", {})
    monkeypatch.setattr(precision_auto, "time_products", lambda products, purpose="inference": {
        p.name: {"fp32": 1e-3 * ratio, "bf16": 1e-3} for p in products})
    result = cli("info", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    for text in says:
        assert text in result.stdout
    if ratio is not None:
        assert str(tmp_path / "precision" / "verdicts.json") in result.stdout  # where the verdict is kept
        again = cli("info", "--model", tiny_model)
        assert "auto = " in again.stdout and "read from" not in again.stdout  # same process: remembered
