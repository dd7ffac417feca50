"""The thread count of inference calls: safe on a busy machine by default, documented and overridable."""
import os
import subprocess
import sys

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
