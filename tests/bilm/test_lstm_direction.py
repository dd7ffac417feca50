"""The CPU float32 LSTM route (TorchScript loop per direction, directions on worker threads)
gives the exact path's numbers, and leaves the caller's thread settings as they were."""
import os
import signal
import threading
import time

import pytest
import torch

from spacy_elmo.bilm import BiLM
from spacy_elmo.bilm.fast import lstm_direction, threads as fast_threads
from spacy_elmo.bilm.fast.packed_lstm import fast_bilstm
from tests.helpers import assert_arrays_close, needs_reference, on_exact_path, random_bilm, stateful_runs_fast_and_exact, tiny_options

SENTENCES = [
    "one two three four five six seven".split(),  # odd length
    ["single"],
    "a b".split(),
    "the the the the dog barked at the the cat .".split(),
    ["x" * 30, "y"],
]


def test_the_scripted_route_compiles_here():
    assert lstm_direction.scripted() is not None


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(
    "sentences",
    [SENTENCES, [["alone"]], [SENTENCES[0]], [["a"], ["b"], ["c"]], [SENTENCES[3], [], SENTENCES[1]]],
    ids=["mixed", "one-token", "batch-of-one", "single-token-rows", "with-empty"],
)
def test_scripted_route_matches_exact_path(tiny_bilm, threads, route_calls, n_threads, sentences):
    threads(n_threads)
    fast = tiny_bilm.embed_sentences(sentences, batch_size=4)
    assert route_calls, "the scripted route was not taken"
    slow = on_exact_path(tiny_bilm, lambda: tiny_bilm.embed_sentences(sentences, batch_size=4))
    assert_arrays_close(fast, slow)


def test_batches_wider_than_one_onednn_block_match_exact_path(tiny_bilm, route_calls):
    """70 rows per step (run in blocks of MAX_STEP_ROWS) and ~1,000 tokens (rows padded for oneDNN)."""
    assert lstm_direction.MAX_STEP_ROWS < 70
    words = "the a dog cat sat on mat and ran far away quickly".split()
    sentences = [[words[(i * 7 + k) % len(words)] for k in range(1 + i % 23)] for i in range(70)]
    fast = tiny_bilm.embed_sentences(sentences, batch_size=70)
    assert route_calls
    slow = on_exact_path(tiny_bilm, lambda: tiny_bilm.embed_sentences(sentences, batch_size=70))
    assert_arrays_close(fast, slow)


def test_all_padding_batch_runs(tiny_bilm, route_calls):
    ids = torch.zeros(2, 3, tiny_bilm.options.max_characters_per_token, dtype=torch.long)
    with torch.no_grad():
        raw = tiny_bilm.run(ids)
        slow = on_exact_path(tiny_bilm, lambda: tiny_bilm.run(ids))
    assert route_calls
    for f, s in zip(raw.forward + raw.backward, slow.forward + slow.backward):
        assert f.shape == s.shape and not f.any()


@pytest.mark.parametrize("scripted", [True, False], ids=["scripted", "stepwise"])
def test_more_empty_rows_than_real_steps(tiny_bilm, monkeypatch, scripted):
    """One 1-token row and three all-padding rows: 1 packed step, 4 rows asking for their last one."""
    if not scripted:
        from spacy_elmo.bilm.fast import packed_lstm

        monkeypatch.setattr(packed_lstm, "_scripted_usable", lambda *args: False)
    ids = tiny_bilm.char_ids([["a"]])
    ids = torch.cat([ids, torch.zeros(3, *ids.shape[1:], dtype=ids.dtype)])
    torch.manual_seed(7)
    states = [(torch.randn(4, 8), torch.randn(4, 24)) for _ in range(4)]
    fast, fast_states, slow, slow_states = stateful_runs_fast_and_exact(tiny_bilm, ids, states)
    for f, s in zip(fast.forward + fast.backward, slow.forward + slow.backward):
        torch.testing.assert_close(f, s, atol=1e-5, rtol=1e-5)
    for (fh, fc), (sh, sc) in zip(fast_states, slow_states):
        torch.testing.assert_close(fh, sh, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fc, sc, atol=1e-5, rtol=1e-5)


def test_a_route_that_fails_its_self_check_is_replaced_by_the_step_loop(tiny_bilm, monkeypatch):
    """If the private oneDNN ops ever change meaning, users get the step loop and a warning, not wrong vectors."""
    from spacy_elmo.bilm.fast import packed_lstm

    real = lstm_direction.scripted()

    def broken(*args):
        outputs, final_h, final_c = real(*args)
        return [o + 0.01 for o in outputs], final_h, final_c

    monkeypatch.setattr(lstm_direction, "scripted", lambda: broken)
    monkeypatch.setattr(packed_lstm, "_SELF_CHECK", {})
    with pytest.warns(RuntimeWarning, match="self-check"):
        fast = tiny_bilm.embed_sentences(SENTENCES)
    assert packed_lstm._SELF_CHECK[torch.float32] is False
    slow = on_exact_path(tiny_bilm, lambda: tiny_bilm.embed_sentences(SENTENCES))
    assert_arrays_close(fast, slow)


def test_the_real_route_passes_its_self_check(monkeypatch):
    from spacy_elmo.bilm.fast import packed_lstm

    monkeypatch.setattr(packed_lstm, "_SELF_CHECK", {})
    assert packed_lstm._scripted_route_checked()
    assert packed_lstm._scripted_route_checked(torch.bfloat16)


def test_a_model_made_under_inference_mode_runs_the_fast_route(route_calls):
    """Weights created under torch.inference_mode have no version counter for the oneDNN weight cache."""
    with torch.inference_mode():
        torch.manual_seed(8)
        bilm = BiLM(tiny_options())
        for p in bilm.parameters():
            p.uniform_(-0.5, 0.5)
        bilm.eval()
        fast = bilm.embed_sentences(SENTENCES)
        assert route_calls
        slow = on_exact_path(bilm, lambda: bilm.embed_sentences(SENTENCES))
    assert_arrays_close(fast, slow)


def test_empty_list_gives_empty_result(tiny_bilm):
    assert tiny_bilm.embed_sentences([]) == []


@pytest.mark.parametrize("n_threads", [1, 2])
def test_outputs_and_final_states_match_with_given_states_and_empty_rows(tiny_bilm, threads, route_calls, n_threads):
    """The raw stack, with initial states and a row without steps, as stateful runs use it."""
    threads(n_threads)
    torch.manual_seed(5)
    stack = tiny_bilm.lstm
    lengths = torch.tensor([3, 0, 7, 1, 4])
    inputs = torch.randn(5, 7, 8)
    states = [(torch.randn(5, 8), torch.randn(5, 24)) for _ in range(4)]
    with torch.no_grad():
        fast = fast_bilstm(stack, inputs, lengths, states)
        slow = stack(inputs, lengths, states)
    assert route_calls
    mask = (torch.arange(7)[None, :] < lengths[:, None])[..., None]
    for f, s in zip(fast[0] + fast[1], slow[0] + slow[1]):
        torch.testing.assert_close(f * mask, s * mask, atol=1e-5, rtol=1e-5)
    for (fh, fc), (sh, sc) in zip(fast[2], slow[2]):
        torch.testing.assert_close(fh, sh, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fc, sc, atol=1e-5, rtol=1e-5)


def test_without_clipping_or_skip_connections():
    bilm = random_bilm(seed=6, cell_clip=0.0, proj_clip=0.0, use_skip_connections=False, n_lstm_layers=3)
    fast = bilm.embed_sentences(SENTENCES)
    slow = on_exact_path(bilm, lambda: bilm.embed_sentences(SENTENCES))
    assert_arrays_close(fast, slow)


@needs_reference
def test_scripted_route_in_one_thread_matches_exact_path_on_reference_weights(reference_model, threads, route_calls):
    """(test_fast_inference checks the same at the default thread count, directions in workers.)"""
    threads(1)
    bilm, sentences, _ = reference_model
    batch = [s.split() for k in range(3) for s in sentences[k][:4]]
    fast = bilm.embed_sentences(batch, batch_size=7)
    assert route_calls
    slow = on_exact_path(bilm, lambda: bilm.embed_sentences(batch, batch_size=7))
    assert_arrays_close(fast, slow)


def test_caller_thread_settings_are_unchanged(tiny_bilm, threads):
    threads(2)
    tiny_bilm.embed_sentences(SENTENCES)
    assert torch.get_num_threads() == 2
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert seen == [2]  # threads started afterwards still get the process default


def test_one_thread_runs_both_directions_in_the_calling_thread(threads):
    threads(1)
    where = fast_threads.run_both(lambda: threading.get_ident(), (), ())
    assert where == (threading.get_ident(), threading.get_ident())


def test_two_threads_run_directions_in_workers_with_one_thread_each(threads):
    threads(2)
    seen = fast_threads.run_both(lambda: (threading.get_ident(), torch.get_num_threads()), (), ())
    assert all(ident != threading.get_ident() and n == 1 for ident, n in seen)
    assert torch.get_num_threads() == 2


def test_worker_errors_reach_the_caller(threads):
    threads(2)

    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fast_threads.run_both(fail, (), ())
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert torch.get_num_threads() == 2 and seen == [2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_wait_on_the_parents_worker_threads(threads):
    threads(2)
    fast_threads.run_both(lambda: None, (), ())  # the parent's worker threads exist now
    pid = os.fork()
    if pid == 0:  # child: a pool inherited as is would queue the work and never run it
        code = 1
        try:
            code = 0 if fast_threads.run_both(lambda: 7, (), ()) == (7, 7) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung in run_both")
