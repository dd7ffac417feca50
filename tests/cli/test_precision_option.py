"""``--precision`` on the commands that embed: it reaches the component, and its errors are one line."""
import numpy
import pytest

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import ResumeError, read_embeddings
from spacy_elmo.bilm.fast import precision

needs_native_bf16 = pytest.mark.skipif(not precision.bf16_native(), reason="this CPU has no native bf16")
SENTENCES = ["The river bank was muddy.", "The bank raised rates."]


def test_an_unknown_precision_is_one_line(cli, tiny_model, text_file, tmp_path):
    for args in (["embed", text_file, tmp_path / "out.npz"], ["similarity", "bank", *SENTENCES]):
        result = cli(*args, "--model", tiny_model, "--precision", "half")
        assert result.exit_code == 1
        assert "precision must be one of 'fp32', 'bf16', 'auto'; got 'half'" in result.stderr
        assert "Traceback" not in result.stderr


def test_bf16_on_a_cpu_without_it_says_what_to_use(cli, tiny_model, monkeypatch):
    monkeypatch.setattr(precision, "cpu_capabilities", lambda: {"avx2": True})
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


@pytest.mark.parametrize("flags, says", [({"avx2": True}, "no native bf16: precision bf16 is refused, auto = fp32"),
                                         ({"avx512_bf16": True}, "native (AVX512-BF16): precision bf16 available, auto = fp32"),
                                         ({"avx512_bf16": True, "amx_bf16": True}, "auto = bf16")])
def test_info_says_what_bf16_can_do_here(cli, tiny_model, monkeypatch, flags, says):
    monkeypatch.setattr(precision, "cpu_capabilities", lambda: dict(flags))
    result = cli("info", "--model", tiny_model)
    assert result.exit_code == 0 and says in result.stdout
