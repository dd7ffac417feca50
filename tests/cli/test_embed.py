"""``embed``: every output format holds the component's vectors; interrupted runs resume exactly."""
import json
import sys

import h5py
import numpy
import pytest
import spacy

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import ResumeError, partial_dir, read_embeddings
from tests.helpers import EMBED_LINES as LINES
from tests.helpers import REFERENCE, assert_same_embeddings, needs_reference

def reduce(layers, mixed, spec):
    return {"mix": mixed, "top": layers[-1], "average": layers.mean(0), "all": layers, "0,2": layers[[0, 2]]}[spec]


@pytest.mark.parametrize(
    "suffix, spec", [(".hdf5", "all"), (".hdf5", "mix"), (".npz", "0,2"), (".npz", "top"), (".spacy", "mix"), (".spacy", "0,2")]
)
def test_every_format_holds_the_components_vectors(cli, tiny_model, text_file, component_layers, tmp_path, suffix, spec):
    out = tmp_path / f"out{suffix}"
    result = cli("embed", text_file, out, "--model", tiny_model, "--layers", spec, "--chunk-size", 3)
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {len(LINES)} documents" in result.stdout
    got = read_embeddings(out)
    assert len(got) == len(LINES)
    for (tokens, array), (exp_tokens, layers, mixed) in zip(got, component_layers):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, reduce(layers, mixed, spec), atol=1e-6)
    assert not partial_dir(out).exists()


def test_hdf5_layout_is_the_original_dump(cli, tiny_model, text_file, component_layers, tmp_path):
    out = tmp_path / "out.hdf5"
    assert cli("embed", text_file, out, "--model", tiny_model, "--layers", "all").exit_code == 0
    with h5py.File(out, "r") as h5:
        assert sorted(int(k) for k in h5 if k.isdigit()) == list(range(len(LINES)))
        assert h5["0"].shape == (3, 6, 16)  # [n_output_layers, n_tokens, 2 * projection_dim], as dump_bilm_embeddings
        assert h5["2"].shape == (3, 0, 16)  # an empty line keeps its index, with zero tokens
        assert json.loads(h5["tokens"]["0"][()]) == component_layers[0][0]
        assert h5.attrs["layers"] == "all"


def test_npy_is_all_tokens_concatenated(cli, tiny_model, text_file, component_layers, tmp_path):
    out = tmp_path / "out.npy"
    assert cli("embed", text_file, out, "--model", tiny_model, "--layers", "top", "--chunk-size", 4).exit_code == 0
    array = numpy.load(out)
    numpy.testing.assert_allclose(array, numpy.concatenate([layers[-1] for _, layers, _ in component_layers]), atol=1e-6)


def test_docbin_output_restores_token_elmo(cli, tiny_model, text_file, component_layers, tmp_path):
    from spacy.tokens import DocBin

    out = tmp_path / "out.spacy"
    assert cli("embed", text_file, out, "--model", tiny_model).exit_code == 0
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    numpy.testing.assert_allclose(docs[1][1]._.elmo, component_layers[1][2][1], atol=1e-6)


def test_docbin_input(cli, tiny_model, component_layers, tmp_path):
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    DocBin(docs=[nlp.make_doc(t) for t in LINES]).to_disk(tmp_path / "in.spacy")
    out = tmp_path / "out.npz"
    assert cli("embed", tmp_path / "in.spacy", out, "--model", tiny_model, "--layers", "all").exit_code == 0
    for (tokens, array), (exp_tokens, layers, _) in zip(read_embeddings(out), component_layers):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, layers, atol=1e-6)


def test_resume_refuses_other_settings(cli, tiny_model, text_file, tmp_path):
    out = tmp_path / "out.npz"
    embed_file(text_file, out, model=tiny_model, chunk_size=3, progress=False, stop_after=1)
    with pytest.raises(ResumeError, match="layers"):
        embed_file(text_file, out, model=tiny_model, layers="top", chunk_size=3, progress=False)
    text_file.write_text("changed\n", encoding="utf-8")
    result = cli("embed", text_file, out, "--model", tiny_model, "--chunk-size", 3)
    assert result.exit_code == 1
    assert "interrupted run with a different input" in result.stderr and "--restart" in result.stderr
    assert cli("embed", text_file, out, "--model", tiny_model, "--chunk-size", 3, "--restart").exit_code == 0
    assert len(read_embeddings(out)) == 1


def test_existing_output_is_not_overwritten(cli, tiny_model, text_file, tmp_path):
    out = tmp_path / "out.npz"
    out.write_bytes(b"precious")
    result = cli("embed", text_file, out, "--model", tiny_model)
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"precious"
    assert cli("embed", text_file, out, "--model", tiny_model, "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "5"], "has 3 output layers"),
        (["--layers", "best"], "is not understood"),
        (["--batch-size", "0"], "at least 1"),
    ],
)
def test_bad_options_fail_before_any_work(cli, tiny_model, text_file, tmp_path, args, message):
    out = tmp_path / "out.npz"
    result = cli("embed", text_file, out, "--model", tiny_model, *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_input_files(cli, tiny_model, tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("ok line\ncaf\xe9\n".encode("latin-1"))
    result = cli("embed", latin1, tmp_path / "o.npz", "--model", tiny_model)
    assert result.exit_code == 1 and "line 2: not valid UTF-8" in result.stderr
    fake = tmp_path / "fake.spacy"
    fake.write_text("not a docbin")
    result = cli("embed", fake, tmp_path / "o.npz", "--model", tiny_model)
    assert result.exit_code == 1 and "not a readable spaCy DocBin" in result.stderr
    result = cli("embed", tmp_path / "missing.txt", tmp_path / "o.npz", "--model", tiny_model)
    assert result.exit_code == 1 and "not found" in result.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = cli("embed", empty, tmp_path / "o.npz", "--model", tiny_model)
    assert result.exit_code == 1 and "is empty" in result.stderr
    result = cli("embed", latin1, tmp_path / "o.csv", "--model", tiny_model)
    assert result.exit_code == 1 and "Unknown output type" in result.stderr


@needs_reference
@pytest.mark.parametrize("folder", ["allennlp", "bilm-tf/model"])
def test_embed_reproduces_the_original_tensorflow_activations(cli, tmp_path, folder):
    """Original weights + pre-tokenized DocBin in, hdf5 out: the top layer equals what the TF biLM wrote.

    Only each reference row's first sentence is compared: the reference ran statefully, so later
    sentences carry LSTM state that a stateless embedder deliberately does not.
    """
    from spacy.tokens import Doc, DocBin

    model = REFERENCE / folder
    names = ["sentences.json", "lm_embeddings_sentences.json"]
    sentences = json.loads(next(model / n for n in names if (model / n).is_file()).read_text())
    first = [sentences[k][0].split() for k in range(3)]
    nlp = spacy.blank("en")
    DocBin(docs=[Doc(nlp.vocab, words=words) for words in first]).to_disk(tmp_path / "in.spacy")
    out = tmp_path / "out.hdf5"
    result = cli("embed", tmp_path / "in.spacy", out, "--options", model / "options.json", "--weights", model / "lm_weights.hdf5", "--layers", "top")
    assert result.exit_code == 0, result.stderr
    for k, (tokens, top) in enumerate(read_embeddings(out)):
        assert tokens == first[k]
        with h5py.File(model / f"lm_embeddings_{k}.hdf5", "r") as h5:
            want = h5["0"][...]  # [2 (forward, backward), n_tokens, projection_dim]
        dim = want.shape[-1]
        numpy.testing.assert_allclose(numpy.stack([top[:, :dim], top[:, dim:]]), want, rtol=1e-5, atol=1e-6)


def test_ctrl_c_says_how_to_continue(cli, tiny_model, text_file, tmp_path, monkeypatch):
    import spacy_elmo.application.bulk

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(spacy_elmo.application.bulk, "embed_file", interrupted)
    result = cli("embed", text_file, tmp_path / "o.npz", "--model", tiny_model)
    assert result.exit_code == 1
    assert "o.npz.partial/: run the same command again to continue" in result.stderr


@pytest.mark.slow
def test_cli_local_cluster_and_progress(cli, tiny_model, text_file, tmp_path):
    pytest.importorskip("distributed", reason="needs the 'dask' extra: pip install -e '.[dask]' (dev includes it)")
    out = tmp_path / "out.spacy"
    result = cli("embed", text_file, out, "--model", tiny_model, "--layers", "0,2", "--chunk-size", 5, "--cluster", "local:2")
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {len(LINES)} documents" in result.stdout
    assert "chunks 4/4" in result.stderr and "tok/s" in result.stderr
    single = tmp_path / "single.spacy"
    embed_file(text_file, single, model=tiny_model, layers="0,2", chunk_size=5, progress=False)
    assert_same_embeddings(out, single)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cluster", "local:2", "--n-process", "2"], "--n-process"),
        (["--cluster", "remote:2"], "is not understood: use local:N"),
        (["--cluster", "local:2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    ],
)
def test_bad_cluster_options_are_one_line(cli, tiny_model, text_file, tmp_path, args, message):
    result = cli("embed", text_file, tmp_path / "o.npz", "--model", tiny_model, *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_dask_the_error_says_what_to_install(cli, tiny_model, text_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = cli("embed", text_file, tmp_path / "o.npz", "--model", tiny_model, "--scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 1
    assert "pip install 'spacy-elmo[dask]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_scheduler_is_one_clear_error():
    from spacy_elmo.application.distributed import connect
    from spacy_elmo.errors import ElmoError

    with pytest.raises(ElmoError, match="Cannot reach the Dask scheduler at tcp://127.0.0.1:9.*dask scheduler"):
        with connect(scheduler="tcp://127.0.0.1:9", timeout=1):
            pass
