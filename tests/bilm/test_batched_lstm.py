"""The batched training path of the biLSTM (both directions per matmul) equals the step loop:
outputs, final states and gradients, with and without clipping, dropout, given states, padding."""
import subprocess
import sys

import pytest
import torch

from spacy_elmo.bilm.fast import batched_lstm
from spacy_elmo.bilm.fast.batched_lstm import BatchedSettings, pad_to_bucket, run_bilstm, run_layer, step_mask

from .lstm_parity import max_differences, random_case, random_stack, random_states, small_options

ATOL = 1e-5

CASES = {
    "mixed": (5, 9, [9, 1, 4, 0, 7]),  # one row longer than the rest, a 1-step and an empty row
    "all-length-1": (3, 1, [1, 1, 1]),
    "one-row": (1, 6, [6]),
    "all-empty": (2, 3, [0, 0]),
    "no-steps": (2, 0, [0, 0]),
}


@pytest.fixture
def routes():
    """The route counter, reset: a test reads which path ran."""
    batched_lstm.ROUTES.clear()
    yield batched_lstm.ROUTES
    batched_lstm.ROUTES.clear()


def assert_equal_to_loop(diffs):
    assert diffs["outputs"] <= ATOL, diffs
    assert diffs["gradients"] <= ATOL * max(1.0, diffs["gradients_scale"]), diffs


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("clip", [3.0, 0.0], ids=["clipped", "unclipped"])
def test_batched_equals_the_step_loop(routes, case, clip):
    batch, steps, lengths = CASES[case]
    options = small_options(cell_clip=clip, proj_clip=clip)
    stack = random_stack(options)
    inputs, lengths = random_case(batch, steps, options.projection_dim, lengths)
    diffs = max_differences(stack, inputs, lengths, BatchedSettings(impl="batched"))
    assert_equal_to_loop(diffs)
    assert routes["batched"] == options.n_lstm_layers  # one call per layer, and only the batched route
    if steps and max(lengths) > 0:
        assert diffs["gradients_scale"] > 0.1  # the comparison saw real gradients


def test_clipping_is_active_in_the_compared_case(routes):
    """The weights of these tests saturate the clips (else 'with clipping' would test nothing)."""
    options = small_options(cell_clip=0.5, proj_clip=0.05)
    stack = random_stack(options, scale=1.0)
    inputs, lengths = random_case(*CASES["mixed"][:2], options.projection_dim, CASES["mixed"][2])
    with torch.no_grad():
        forward, _, final = run_bilstm(stack, inputs, lengths, None, BatchedSettings(impl="batched"))
    assert float(forward[0].abs().max()) == pytest.approx(0.05)
    assert float(final[0][1].abs().max()) == pytest.approx(0.5)
    assert_equal_to_loop(max_differences(stack, inputs, lengths, BatchedSettings(impl="batched")))


def test_with_dropout_given_states_three_layers_and_no_skip_connections(routes):
    options = small_options(n_lstm_layers=3, use_skip_connections=False)
    stack = random_stack(options, dropout=0.3)
    inputs, lengths = random_case(4, 7, options.projection_dim, [7, 3, 0, 1])
    diffs = max_differences(stack, inputs, lengths, BatchedSettings(impl="batched"), states=random_states(options, 4))
    assert_equal_to_loop(diffs)
    assert routes["batched"] == 3


def test_the_loop_route_does_not_use_the_batched_code(routes):
    stack = random_stack(small_options())
    inputs, lengths = random_case(2, 3, 8, [3, 2])
    run_bilstm(stack, inputs, lengths, None, BatchedSettings(impl="loop"))
    assert not routes


def test_padding_to_a_bucket_changes_no_output_or_gradient():
    """What the CUDA-graph route does before capture: extra empty rows and masked steps."""
    torch.manual_seed(0)
    stack = random_stack(small_options())
    x, lengths = random_case(3, 5, 8, [5, 2, 1])
    x2 = torch.stack([x, x.flip(0)]).requires_grad_(True)
    weights = [torch.stack([a, b]).detach().requires_grad_(True) for a, b in (
        (stack.forward_layers[0].input_linearity.weight, stack.backward_layers[0].input_linearity.weight),
        (stack.forward_layers[0].state_linearity.bias, stack.backward_layers[0].state_linearity.bias),
        (stack.forward_layers[0].state_linearity.weight, stack.backward_layers[0].state_linearity.weight),
        (stack.forward_layers[0].projection.weight, stack.backward_layers[0].projection.weight))]

    def run(padded: bool):
        for t in [x2] + weights:
            t.grad = None
        inp, lens = pad_to_bucket(x2, lengths, 8, 16) if padded else (x2, lengths)
        out, h, c = run_layer(inp, step_mask(lens, inp.shape[2]), *weights, None, None, 3.0, 3.0)
        out, h, c = out[:, :3, :5], h[:, :3], c[:, :3]
        (out.sum() * 2 + (h * h).sum() + c.sum()).backward()
        return [out, h, c], [t.grad.clone() for t in [x2] + weights]

    plain, padded = run(False), run(True)
    for a, b in zip(plain[0] + plain[1], padded[0] + padded[1]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_cuda_graphs_are_not_used_off_cuda(routes):
    stack = random_stack(small_options())
    inputs, lengths = random_case(2, 3, 8, [3, 2])
    diffs = max_differences(stack, inputs, lengths, BatchedSettings(impl="batched", cuda_graphs=True))
    assert_equal_to_loop(diffs)
    assert set(routes) == {"batched"}


def test_an_unknown_impl_names_the_choices():
    with pytest.raises(ValueError, match="lstm_impl is 'fast'.*loop.*batched"):
        BatchedSettings(impl="fast")


@pytest.mark.slow
def test_compiled_cell_equals_the_step_loop(routes):
    """torch.compile of the pointwise parts (inductor; about a minute on a 2-core CPU)."""
    from spacy_elmo.bilm.fast.batched_lstm import compiled_steps

    try:
        cell, _ = compiled_steps()
        cell(torch.zeros(2, 1, 8), torch.zeros(2, 1, 2), torch.ones(1, 1, 1, dtype=torch.bool), 3.0)
    except Exception as err:  # noqa: BLE001 - no C++ compiler / unsupported platform
        pytest.skip(f"torch.compile does not run here: {type(err).__name__}: {err}")
    stack = random_stack(small_options())
    for case in ("mixed", "all-length-1"):
        batch, steps, lengths = CASES[case]
        inputs, lengths = random_case(batch, steps, 8, lengths)
        assert_equal_to_loop(max_differences(stack, inputs, lengths, BatchedSettings(impl="batched", compile_cell=True)))
    assert routes["batched-compiled"] == 4 and routes["batched"] == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (benchmarks/gpu_check.py runs this on a GPU)")
def test_cuda_graphs_equal_the_step_loop(routes):
    stack = random_stack(small_options()).cuda()
    for lengths in ([9, 1, 4, 0, 7], [3, 2, 2, 1, 1]):
        inputs, lengths = random_case(5, 9, 8, lengths, device="cuda")
        assert_equal_to_loop(max_differences(stack, inputs, lengths, BatchedSettings(impl="batched", cuda_graphs=True)))
    assert routes["graph-capture"] == 2 and routes["batched-graphed"] == 4  # one bucket, both layers


@pytest.mark.slow
def test_the_bilm_package_imports_neither_spacy_nor_thinc():
    code = (
        "import sys; import spacy_elmo.bilm.fast.batched_lstm, spacy_elmo.bilm.lstm; "
        "bad = [m for m in ('spacy', 'thinc') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


INFERENCE_SENTENCES = [
    "one two three four five six seven".split(),
    ["single"],
    [],
    "the the dog barked at the cat .".split(),
]


@pytest.mark.parametrize("stateful", [False, True], ids=["stateless", "stateful"])
def test_inference_on_the_batched_route_matches_the_exact_path(tiny_bilm, routes, monkeypatch, stateful):
    """The CUDA inference route (here forced onto the CPU): within 1e-5 of the training code path,
    including the stateless shortcut that skips each direction's boundary step."""
    from spacy_elmo.bilm.fast import packed_lstm

    from tests.helpers import assert_arrays_close, on_exact_path

    monkeypatch.setattr(packed_lstm, "BATCHED_DEVICES", ("cpu",))
    fast = tiny_bilm.embed_sentences(INFERENCE_SENTENCES, batch_size=3, stateful=stateful)
    assert routes["inference-batched"] == 2 and routes["batched"] == 4  # 2 batches x 2 layers
    tiny_bilm.reset_states()
    slow = on_exact_path(tiny_bilm, lambda: tiny_bilm.embed_sentences(INFERENCE_SENTENCES, batch_size=3, stateful=stateful))
    assert_arrays_close(fast, slow)


def test_inference_keeps_the_scripted_route_on_cpu(tiny_bilm, routes):
    tiny_bilm.embed_sentences(INFERENCE_SENTENCES)
    assert not routes
