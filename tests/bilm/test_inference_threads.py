"""The thread count of inference calls: safe on a busy machine by default, documented and overridable."""
import os
import subprocess
import sys
import threading

import numpy
import pytest
import torch

from spacy_elmo.bilm import model
from spacy_elmo.bilm.fast import threads as fast_threads

SENTENCES = [["The", "bank", "."], ["A", "longer", "sentence", "here", "."]]


@pytest.fixture
def seen_threads(monkeypatch, threads):
    """The intra-op thread count inside each LSTM run, with the caller at 2 threads and the
    default choice ("auto"); the test sets whether OpenMP waits passively."""
    threads(2)
    monkeypatch.setattr(fast_threads, "_choice", "auto")
    seen = []
    real = model.fast_bilstm

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "fast_bilstm", recording)
    return seen


def test_spinning_openmp_runs_inference_on_one_thread(tiny_bilm, seen_threads, monkeypatch):
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", False)
    want = tiny_bilm.embed_sentences(SENTENCES)
    assert seen_threads and set(seen_threads) == {1}
    assert torch.get_num_threads() == 2  # the caller's setting is back
    monkeypatch.setattr(fast_threads, "_choice", "torch")
    got = tiny_bilm.embed_sentences(SENTENCES)
    assert seen_threads[-1] == 2
    for g, w in zip(got, want):
        numpy.testing.assert_allclose(g, w, atol=1e-6)  # the count changes speed, not vectors


def test_passive_openmp_keeps_torchs_thread_count(tiny_bilm, seen_threads, monkeypatch):
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", True)
    tiny_bilm.embed_sentences(SENTENCES)
    assert set(seen_threads) == {2}


def test_an_explicit_count_wins(tiny_bilm, seen_threads, monkeypatch):
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", True)
    fast_threads.set_inference_threads(3)
    tiny_bilm.embed_sentences(SENTENCES)
    assert set(seen_threads) == {3} and torch.get_num_threads() == 2


def test_training_is_not_affected(tiny_bilm, threads, monkeypatch):
    threads(2)
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", False)
    monkeypatch.setattr(fast_threads, "_choice", "auto")
    seen = []
    real = tiny_bilm.lstm.forward
    monkeypatch.setattr(tiny_bilm.lstm, "forward", lambda *a, **k: (seen.append(torch.get_num_threads()), real(*a, **k))[1])
    tiny_bilm.train()
    tiny_bilm(tiny_bilm.char_ids(SENTENCES))
    assert seen == [2]


@pytest.fixture
def direction_runs(monkeypatch):
    """Each scripted direction's (thread, intra-op threads) as it ran; with ``meet=True`` each run
    first waits (up to 10 s) for the other direction to start, so a serial run fails."""
    from spacy_elmo.bilm.fast import lstm_direction, packed_lstm

    assert packed_lstm._scripted_route_checked()
    real = lstm_direction.scripted()

    class Runs(list):
        meet = None

    runs = Runs()
    state = {"barrier": None}

    def recording(*args):
        runs.append((threading.get_ident(), torch.get_num_threads()))
        if state["barrier"] is not None:
            state["barrier"].wait(timeout=10)
        return real(*args)

    monkeypatch.setattr(lstm_direction, "scripted", lambda: recording)

    def meet(on=True):
        state["barrier"] = threading.Barrier(2) if on else None

    runs.meet = meet
    return runs


def test_torch_first_default_runs_both_directions_at_once_on_one_thread_each(tiny_bilm, threads, direction_runs, monkeypatch):
    """The default when torch came first: the call on one thread, the directions concurrently on two
    workers with one intra-op thread each, and exactly the numbers of the one-thread serial route."""
    threads(2)
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", False)
    monkeypatch.setattr(fast_threads, "_choice", "auto")
    monkeypatch.setattr(fast_threads, "available_cores", lambda: 2)
    direction_runs.meet(True)
    got = tiny_bilm.embed_sentences(SENTENCES)
    assert len(direction_runs) == 2
    (first, n_first), (second, n_second) = direction_runs
    assert first != second and threading.get_ident() not in (first, second)
    assert n_first == n_second == 1
    assert torch.get_num_threads() == 2  # the caller's setting is back
    direction_runs.meet(False)
    direction_runs.clear()
    monkeypatch.setattr(fast_threads, "TWO_DIRECTION_THREADS", False)  # the route before: serial, one thread
    want = tiny_bilm.embed_sentences(SENTENCES)
    assert [tid for tid, _ in direction_runs] == [threading.get_ident()] * 2
    for g, w in zip(got, want):
        numpy.testing.assert_array_equal(g, w)


@pytest.fixture
def torch_first_default(threads, monkeypatch):
    """The torch-first default on a 2-core machine: caller at 2 threads, no passive waits, "auto"."""
    threads(2)
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", False)
    monkeypatch.setattr(fast_threads, "_choice", "auto")
    monkeypatch.setattr(fast_threads, "available_cores", lambda: 2)


def test_torch_first_default_splits_a_row_wise_token_path_over_both_workers(torch_first_default):
    """Even and odd rows at once on the two workers, interleaved back in order."""
    barrier, seen = threading.Barrier(2), []

    def row_wise(rows):
        seen.append((threading.get_ident(), torch.get_num_threads(), rows.shape[0]))
        barrier.wait(timeout=10)  # both halves must be running at the same time
        return rows * 2.0 + 1.0

    rows = torch.randn(fast_threads.MIN_SPLIT_ROWS + 5, 3)
    with fast_threads.inference_thread_count(torch.device("cpu")):
        got = fast_threads.run_split(row_wise, rows)
        small = fast_threads.run_split(lambda r: (seen.append(("here", torch.get_num_threads(), r.shape[0])), r)[1], rows[:4])
    assert torch.equal(got, rows * 2.0 + 1.0) and torch.equal(small, rows[:4])
    (first, n1, r1), (second, n2, r2), last = seen
    assert first != second and threading.get_ident() not in (first, second) and n1 == n2 == 1
    assert sorted([r1, r2]) == [18, 19] and last == ("here", 1, 4)  # few rows: in the calling thread
    assert fast_threads.run_split(lambda r: r + 1, rows).equal(rows + 1)  # outside an inference call: here


def test_torch_first_default_gives_the_serial_routes_vectors_up_to_float_rounding(tiny_bilm, torch_first_default, monkeypatch):
    """Many new tokens: the token path is split (its products then see other row counts, so float rounding may
    differ, as it already does with the batch a token comes in); the LSTM directions are exactly the serial ones."""
    import spacy_elmo.bilm.model as bilm_model

    splits = []
    real = bilm_model.run_split
    monkeypatch.setattr(bilm_model, "run_split", lambda fn, rows: (splits.append(getattr(fast_threads._plan, "split", False)), real(fn, rows))[1])
    words = [f"w{i}x{'y' * (i % 9)}" for i in range(80)]
    sentences = [words[i : i + 10] for i in range(0, 80, 10)]
    got = tiny_bilm.embed_sentences(sentences)
    assert splits and all(splits)
    monkeypatch.setattr(fast_threads, "_choice", 1)  # the default before issue 27: everything on one thread
    tiny_bilm.clear_token_cache()
    want = tiny_bilm.embed_sentences(sentences)
    assert splits[-1] is False
    for g, w in zip(got, want):
        numpy.testing.assert_allclose(g, w, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cores, caller", [(1, 2), (2, 1)], ids=["one-core", "caller-at-one-thread"])
def test_torch_first_default_stays_serial_without_two_cores_to_use(tiny_bilm, threads, direction_runs, monkeypatch, cores, caller):
    threads(caller)
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", False)
    monkeypatch.setattr(fast_threads, "_choice", "auto")
    monkeypatch.setattr(fast_threads, "available_cores", lambda: cores)
    tiny_bilm.embed_sentences(SENTENCES)
    assert direction_runs == [(threading.get_ident(), 1)] * 2


@pytest.mark.parametrize(
    "choice, passive, caller, want",
    [("auto", True, 4, 2), ("auto", False, 4, 1), ("torch", False, 4, 2), (3, False, 4, 1), (1, True, 4, 0), ("torch", True, 1, 0)],
)
def test_what_each_direction_gets(monkeypatch, choice, passive, caller, want):
    monkeypatch.setattr(fast_threads, "PASSIVE_WAIT", passive)
    monkeypatch.setattr(fast_threads, "available_cores", lambda: 8)
    fast_threads.set_inference_threads(choice)
    try:
        assert fast_threads.direction_threads(fast_threads.inference_threads(), caller) == want
    finally:
        fast_threads.set_inference_threads("auto")


def test_choices_are_checked():
    assert fast_threads._parse_inference_threads("4") == 4 and fast_threads._parse_inference_threads(" Torch ") == "torch"
    assert fast_threads._parse_inference_threads("") == "auto"
    with pytest.raises(ValueError, match="SPACY_ELMO_INFERENCE_THREADS='none'.*'auto', 'torch' or a number"):
        fast_threads._parse_inference_threads("none")
    with pytest.raises(ValueError, match=">= 1"):
        fast_threads.set_inference_threads(0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "before, preset, expected",
    [("", None, "PASSIVE"), ("import torch; ", None, "None"), ("", "ACTIVE", "ACTIVE")],
    ids=["package-first", "torch-first", "user-choice"],
)
def test_the_package_asks_openmp_to_wait_passively_only_where_it_can(before, preset, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "SPACY_ELMO_INFERENCE_THREADS")}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = before + "import os, spacy_elmo.bilm.fast.threads as t; print(os.environ.get('OMP_WAIT_POLICY'), t.inference_threads())"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    policy, threads = proc.stdout.split()
    assert policy == expected
    assert threads == ("None" if expected == "PASSIVE" else "1")  # torch's count only with passive waits


@pytest.mark.slow
def test_torch_first_gives_each_direction_a_thread_in_a_fresh_process():
    """``import torch`` first (what ``import spacy`` does): the call runs on one thread, each direction on one more."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "SPACY_ELMO_INFERENCE_THREADS", "OMP_NUM_THREADS")}
    code = ("import torch; torch.set_num_threads(2); import spacy_elmo.bilm.fast.threads as t; "
            "t.available_cores = lambda: 2; print(t.inference_threads(), t.direction_threads(t.inference_threads()))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1"]
