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
    from spacy_elmo.bilm import direction_threads, fast_lstm

    assert fast_lstm._scripted_route_checked()  # its one-time self-check is not counted as a call
    calls = []
    original = direction_threads.run_both

    def counting(fn, first, second):
        calls.append(threading.get_ident())
        return original(fn, first, second)

    monkeypatch.setattr(direction_threads, "run_both", counting)
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
    from spacy_elmo.bilm import fast_lstm, lstm, model, onednn

    assert fast_lstm._scripted_route_checked()  # its one-time self-check is not counted
    counts = Counter()

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(fast_lstm, "_scripted_bilstm", counting("scripted lstm", fast_lstm._scripted_bilstm))
    monkeypatch.setattr(fast_lstm, "_stepwise_bilstm", counting("stepwise lstm", fast_lstm._stepwise_bilstm))
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
