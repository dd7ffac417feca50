"""Bulk embedding on a Dask cluster (``spacy_elmo.application.distributed``): the same outputs as one
process, and faults lose nothing.

One ``LocalCluster`` of 2 worker processes serves the module; every test runs under a time limit.
"""
import signal
import subprocess
import sys

import numpy
import pytest

from spacy_elmo.application.bulk import embed_file
from spacy_elmo.application.embedding_io import ResumeError, partial_dir, read_embeddings
from tests.helpers import EMBED_LINES as LINES
from tests.helpers import assert_same_embeddings, kill_when_halted

distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra: pip install -e '.[dask]' (dev includes it)")

from spacy_elmo.application.distributed import embed_on_cluster  # noqa: E402

TIME_LIMIT_S = 240


@pytest.fixture(autouse=True)
def time_limit():
    """Fail (not hang) a test that takes longer than TIME_LIMIT_S."""

    def expired(signum, frame):
        raise TimeoutError(f"test took longer than {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIME_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = distributed.Client(cluster)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
    cluster.close(timeout=60)


def model_loads(client):
    from spacy_elmo.application import bulk

    return client.run(lambda: bulk._WORKER["loads"])


def test_every_format_equals_the_single_process_output(client, tiny_model, text_file, tmp_path):
    for suffix, layers in [(".hdf5", "all"), (".npz", "0,2"), (".npy", "top"), (".spacy", "mix")]:
        single = tmp_path / f"single{suffix}"
        embed_file(text_file, single, model=tiny_model, layers=layers, chunk_size=3, progress=False)
        out = tmp_path / f"cluster{suffix}"
        summary = embed_on_cluster(client, text_file, out, model=tiny_model, layers=layers, chunk_size=3, progress=False)
        assert summary.finished and summary.n_chunks == 7 and summary.n_docs == len(LINES)
        if suffix != ".npy":  # .npy keeps no tokens
            assert summary.n_tokens == sum(len(t) for t, _ in read_embeddings(out))
        assert not partial_dir(out).exists()
        assert_same_embeddings(out, single)
    # Four jobs with the same model: each worker process loaded it at most once.
    loads = model_loads(client)
    assert sorted(loads.values()) in ([1, 1], [0, 1]), loads


def test_a_worker_killed_mid_chunk_loses_nothing(client, tiny_model, text_file, tmp_path):
    """The first worker to save a part writes half of it, then SIGKILLs itself; its chunk is redone elsewhere."""
    marker = tmp_path / "killed"

    def die_while_writing():
        import os

        import numpy

        savez = numpy._tested_savez = numpy.savez

        def torn_savez(f, **arrays):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only the cluster's first writer dies
            except FileExistsError:
                return savez(f, **arrays)
            os.write(fd, os.path.basename(f.name).encode())
            os.close(fd)
            f.write(b"PK\x03\x04 half a part")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        numpy.savez = torn_savez

    def restore():
        import numpy

        numpy.savez = getattr(numpy, "_tested_savez", numpy.savez)

    def parts_are_whole(k):
        for part in partial_dir(out).glob("part-??????.npz"):
            with numpy.load(part) as data:
                assert data["vectors"].shape[0] == 3

    client.run(die_while_writing)
    out = tmp_path / "out.npz"
    try:
        summary = embed_on_cluster(client, text_file, out, model=tiny_model, layers="all", chunk_size=3, progress=False,
                                   on_chunk=parts_are_whole)
    finally:
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker
        client.run(restore)
    killed_in = marker.read_text()
    assert killed_in.startswith("part-") and killed_in.endswith(".tmp"), killed_in  # a worker died writing a part
    assert summary.finished and not partial_dir(out).exists()
    single = tmp_path / "single.npz"
    embed_file(text_file, single, model=tiny_model, layers="all", chunk_size=3, progress=False)
    assert_same_embeddings(out, single)


# A client that embeds on the cluster as ``embed --scheduler`` does, and stops (without exiting) once three
# chunks are done, after saying so in a file: the test kills it there, never before or after the run.
HALTING_CLIENT = """
import sys, time
from pathlib import Path
from distributed import Client
from spacy_elmo.application.distributed import embed_on_cluster

big, out, model, halted, address = sys.argv[1:]
done = []

def halt(k):
    done.append(k)
    if len(done) == 3:
        Path(halted).write_text("halted")
        time.sleep(600)  # killed here by the test

with Client(address) as client:
    embed_on_cluster(client, Path(big), Path(out), model=Path(model), layers="all", chunk_size=4, progress=False,
                     on_chunk=halt)
"""


@pytest.mark.slow
def test_a_killed_client_resumes_with_the_same_command(client, tiny_model, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("\n".join(LINES * 10) + "\n", encoding="utf-8")
    out = tmp_path / "out.hdf5"
    halted = tmp_path / "halted"
    address = client.scheduler.address
    proc = subprocess.Popen([sys.executable, "-c", HALTING_CLIENT, str(big), str(out), str(tiny_model), str(halted), address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when_halted(proc, halted.exists, "its third chunk", timeout=180)
    n_parts = len(list(partial_dir(out).glob("part-*.npz")))
    assert 3 <= n_parts < 50 and not out.exists(), "the client was killed midway, after three chunks"
    cmd = [sys.executable, "-m", "spacy_elmo", "embed", str(big), str(out), "--model", str(tiny_model),
           "--chunk-size", "4", "--layers", "all", "--scheduler", address]
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Resumed:" in rerun.stdout and f"Wrote {len(LINES) * 10} documents" in rerun.stdout
    single = tmp_path / "single.hdf5"
    embed_file(big, single, model=tiny_model, layers="all", chunk_size=4, progress=False)
    assert_same_embeddings(out, single)


def test_a_run_with_other_settings_is_refused(client, tiny_model, text_file, tmp_path):
    out = tmp_path / "out.npz"
    first = embed_on_cluster(client, text_file, out, model=tiny_model, chunk_size=3, progress=False, stop_after=2)
    assert not first.finished and len(list(partial_dir(out).glob("part-*"))) == 2
    with pytest.raises(ResumeError, match="different layers"):
        embed_on_cluster(client, text_file, out, model=tiny_model, layers="top", chunk_size=3, progress=False)
    # The single-process engine finishes what the cluster started: one partial-run format.
    last = embed_file(text_file, out, model=tiny_model, chunk_size=3, progress=False)
    assert last.finished and last.resumed_chunks == 2
