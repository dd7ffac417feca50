"""``embed``: every output format holds the component's vectors; interrupted runs resume exactly."""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy
import pytest
import spacy

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import ResumeError, partial_dir, read_embeddings
from tests.helpers import REFERENCE, needs_reference

LINES = [
    "The river bank was muddy .",
    "The bank raised rates on Friday , again .",
    "",
    "   ",
    "Ünïcödé text , emoji 😀 and שלום in one line",
    "A",
    "Stock prices edged up in quiet trading .",
] + [f"Sentence number {i} talks about the bank and the river ." for i in range(13)]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def expected(tiny_model):
    """All layers of every line, straight from the component."""
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    return [([t.text for t in doc], doc._.elmo_data.layers, doc._.elmo_data.vectors) for doc in nlp.pipe(LINES)]


def reduce(layers, mixed, spec):
    return {"mix": mixed, "top": layers[-1], "average": layers.mean(0), "all": layers, "0,2": layers[[0, 2]]}[spec]


@pytest.mark.parametrize(
    "suffix, spec", [(".hdf5", "all"), (".hdf5", "mix"), (".npz", "0,2"), (".npz", "top"), (".spacy", "mix"), (".spacy", "0,2")]
)
def test_every_format_holds_the_components_vectors(cli, tiny_model, text_file, expected, tmp_path, suffix, spec):
    out = tmp_path / f"out{suffix}"
    result = cli("embed", text_file, out, "--model", tiny_model, "--layers", spec, "--chunk-size", 3)
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {len(LINES)} documents" in result.stdout
    got = read_embeddings(out)
    assert len(got) == len(LINES)
    for (tokens, array), (exp_tokens, layers, mixed) in zip(got, expected):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, reduce(layers, mixed, spec), atol=1e-6)
    assert not partial_dir(out).exists()


def test_hdf5_layout_is_the_original_dump(cli, tiny_model, text_file, expected, tmp_path):
    out = tmp_path / "out.hdf5"
    assert cli("embed", text_file, out, "--model", tiny_model, "--layers", "all").exit_code == 0
    with h5py.File(out, "r") as h5:
        assert sorted(int(k) for k in h5 if k.isdigit()) == list(range(len(LINES)))
        assert h5["0"].shape == (3, 6, 16)  # [n_output_layers, n_tokens, 2 * projection_dim], as dump_bilm_embeddings
        assert h5["2"].shape == (3, 0, 16)  # an empty line keeps its index, with zero tokens
        assert json.loads(h5["tokens"]["0"][()]) == expected[0][0]
        assert h5.attrs["layers"] == "all"


def test_npy_is_all_tokens_concatenated(cli, tiny_model, text_file, expected, tmp_path):
    out = tmp_path / "out.npy"
    assert cli("embed", text_file, out, "--model", tiny_model, "--layers", "top", "--chunk-size", 4).exit_code == 0
    array = numpy.load(out)
    numpy.testing.assert_allclose(array, numpy.concatenate([layers[-1] for _, layers, _ in expected]), atol=1e-6)


def test_docbin_output_restores_token_elmo(cli, tiny_model, text_file, expected, tmp_path):
    from spacy.tokens import DocBin

    out = tmp_path / "out.spacy"
    assert cli("embed", text_file, out, "--model", tiny_model).exit_code == 0
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    numpy.testing.assert_allclose(docs[1][1]._.elmo, expected[1][2][1], atol=1e-6)


def test_docbin_input(cli, tiny_model, expected, tmp_path):
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    DocBin(docs=[nlp.make_doc(t) for t in LINES]).to_disk(tmp_path / "in.spacy")
    out = tmp_path / "out.npz"
    assert cli("embed", tmp_path / "in.spacy", out, "--model", tiny_model, "--layers", "all").exit_code == 0
    for (tokens, array), (exp_tokens, layers, _) in zip(read_embeddings(out), expected):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, layers, atol=1e-6)


def test_interrupted_run_resumes_to_the_same_result(tiny_model, text_file, tmp_path):
    whole = tmp_path / "whole.npz"
    embed_file(text_file, whole, model=tiny_model, layers="all", chunk_size=3, progress=False)

    out = tmp_path / "resumed.npz"
    first = embed_file(text_file, out, model=tiny_model, layers="all", chunk_size=3, progress=False, stop_after=2)
    assert not first.finished and not out.exists()
    parts = sorted(p.name for p in partial_dir(out).iterdir())
    assert parts == ["manifest.json", "part-000000.npz", "part-000001.npz"]

    def crash(k):
        if k == 4:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        embed_file(text_file, out, model=tiny_model, layers="all", chunk_size=3, progress=False, on_chunk=crash)
    assert not out.exists()
    done_before = len(list(partial_dir(out).glob("part-*")))
    assert done_before == 5  # chunks 2, 3 and 4 were written before the crash; the rest are not

    last = embed_file(text_file, out, model=tiny_model, layers="all", chunk_size=3, progress=False)
    assert last.finished and last.resumed_chunks == 5
    for (t1, a1), (t2, a2) in zip(read_embeddings(whole), read_embeddings(out)):
        assert t1 == t2
        numpy.testing.assert_allclose(a1, a2, atol=1e-6)  # float rounding only: same batches, other process state
    assert not partial_dir(out).exists()


# A process that embeds like the CLI does and stops (without exiting) once its third chunk is on disk.
HALTING_RUN = """
import sys, time
from pathlib import Path
from {module} import embed_file

def halt(k):
    if k == 2:
        time.sleep(600)  # killed here by the test

embed_file(Path(sys.argv[1]), Path(sys.argv[2]), model=Path(sys.argv[3]), layers="all", chunk_size=4,
           progress=False, on_chunk=halt)
"""


def test_killed_process_resumes(tiny_model, text_file, tmp_path):
    """A real SIGKILL mid-run: every part on disk is whole, and the rerun finishes the job.

    The process is killed while it waits after its third chunk, so the kill always lands midway
    (a fast machine cannot finish the run before the test reacts)."""
    big = tmp_path / "big.txt"
    big.write_text("\n".join(LINES * 4) + "\n", encoding="utf-8")
    out = tmp_path / "out.hdf5"
    script = HALTING_RUN.format(module=embed_file.__module__)
    proc = subprocess.Popen([sys.executable, "-c", script, str(big), str(out), str(tiny_model)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while len(list(partial_dir(out).glob("part-*.npz"))) < 3:
            assert proc.poll() is None, f"the run ended before its third chunk: {proc.stderr.read().decode()[-2000:]}"
            assert time.time() < deadline, "no third chunk after 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
    parts = sorted(p.name for p in partial_dir(out).glob("part-*.npz"))
    assert parts == ["part-000000.npz", "part-000001.npz", "part-000002.npz"] and not out.exists()
    for part in parts:  # whole files only: a torn write would fail to load
        with numpy.load(partial_dir(out) / part) as data:
            assert data["vectors"].shape[0] == 3
    cmd = [sys.executable, "-m", "spacy_elmo", "embed", str(big), str(out), "--model", str(tiny_model), "--chunk-size", "4", "--layers", "all"]
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "Resumed: 3 of 20 chunks were already done" in rerun.stdout
    got = read_embeddings(out)
    assert len(got) == len(LINES) * 4
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    for i in (0, 57, len(got) - 1):
        numpy.testing.assert_allclose(got[i][1], nlp(big.read_text().split("\n")[i])._.elmo_data.layers, atol=1e-6)


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


def test_only_newline_separates_documents(tiny_model, tmp_path):
    path = tmp_path / "docs.txt"
    path.write_bytes("one\rstill one\x0cand\u2028one\r\ntwo\n".encode("utf-8"))
    out = tmp_path / "out.npz"
    embed_file(path, out, model=tiny_model, progress=False)
    got = read_embeddings(out)
    assert len(got) == 2 and got[1][0] == ["two"]


@pytest.mark.slow
def test_n_process_matches_single_process(tiny_model, text_file, expected, tmp_path):
    out = tmp_path / "out.npz"
    summary = embed_file(text_file, out, model=tiny_model, layers="all", chunk_size=4, n_process=2, progress=False)
    assert summary.finished
    for (tokens, array), (exp_tokens, layers, _) in zip(read_embeddings(out), expected):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, layers, atol=1e-5)


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
