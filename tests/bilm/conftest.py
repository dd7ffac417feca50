"""Fixtures that say which inference route ran, so a test of a route knows it tested that route."""
import threading
from collections import Counter

import pytest
import torch


@pytest.fixture
def threads():
    """Run a test at a given intra-op thread count, then put the count back."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture
def route_calls(monkeypatch):
    """The threads that ran the scripted LSTM route's two directions (one entry per call)."""
    from spacy_elmo.bilm.fast import packed_lstm, threads as fast_threads

    assert packed_lstm._scripted_route_checked()  # its one-time self-check is not counted as a call
    calls = []
    original = fast_threads.run_both

    def counting(fn, first, second):
        calls.append(threading.get_ident())
        return original(fn, first, second)

    monkeypatch.setattr(fast_threads, "run_both", counting)
    return calls


@pytest.fixture
def routes(monkeypatch):
    """A Counter of the inference routes taken since its last ``clear()``:

    - LSTM: ``"scripted lstm"`` (TorchScript per direction, CPU float32), ``"stepwise lstm"``
      (Python steps: GPU, bfloat16, no oneDNN), ``"exact lstm"`` (the training code path);
    - ``"fast char cnn"`` (the trimmed character CNN);
    - products: ``"onednn matmul"`` / ``"torch matmul"`` (what ``onednn.usable`` decided), and the
      oneDNN op that served them, ``"onednn pointwise"`` or ``"onednn mkldnn_linear"``.
    """
    from spacy_elmo.bilm import lstm, model
    from spacy_elmo.bilm.fast import onednn, packed_lstm

    assert packed_lstm._scripted_route_checked()  # its one-time self-check is not counted
    counts = Counter()

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(packed_lstm, "_scripted_bilstm", counting("scripted lstm", packed_lstm._scripted_bilstm))
    monkeypatch.setattr(packed_lstm, "_stepwise_bilstm", counting("stepwise lstm", packed_lstm._stepwise_bilstm))
    monkeypatch.setattr(lstm.BiLstmStack, "forward", counting("exact lstm", lstm.BiLstmStack.forward))
    monkeypatch.setattr(model, "fast_char_cnn", counting("fast char cnn", model.fast_char_cnn))
    if onednn._POINTWISE is not None:
        monkeypatch.setattr(onednn, "_POINTWISE", counting("onednn pointwise", onednn._POINTWISE))
    monkeypatch.setattr(torch._C._nn, "mkldnn_linear", counting("onednn mkldnn_linear", torch._C._nn.mkldnn_linear))
    usable = onednn.usable

    def deciding(x, weight):
        ok = usable(x, weight)
        counts["onednn matmul" if ok else "torch matmul"] += 1
        return ok

    monkeypatch.setattr(onednn, "usable", deciding)
    return counts
