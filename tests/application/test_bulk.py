"""Bulk embedding as a library (``spacy_elmo.application.bulk``): resumable chunks, whole parts only,
worker processes that give the single process's vectors."""
import subprocess
import sys

import numpy
import pytest
import spacy

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import partial_dir, read_embeddings
from tests.helpers import EMBED_LINES as LINES
from tests.helpers import kill_when_halted


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


@pytest.mark.slow
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
    kill_when_halted(proc, lambda: len(list(partial_dir(out).glob("part-*.npz"))) >= 3, "its third chunk")
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


def test_only_newline_separates_documents(tiny_model, tmp_path):
    path = tmp_path / "docs.txt"
    path.write_bytes("one\rstill one\x0cand\u2028one\r\ntwo\n".encode("utf-8"))
    out = tmp_path / "out.npz"
    embed_file(path, out, model=tiny_model, progress=False)
    got = read_embeddings(out)
    assert len(got) == 2 and got[1][0] == ["two"]


@pytest.mark.slow
def test_n_process_matches_single_process(tiny_model, text_file, component_layers, tmp_path):
    out = tmp_path / "out.npz"
    summary = embed_file(text_file, out, model=tiny_model, layers="all", chunk_size=4, n_process=2, progress=False)
    assert summary.finished
    for (tokens, array), (exp_tokens, layers, _) in zip(read_embeddings(out), component_layers):
        assert tokens == exp_tokens
        numpy.testing.assert_allclose(array, layers, atol=1e-5)
