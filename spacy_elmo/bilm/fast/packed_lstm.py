"""Inference-only run of the biLSTM stack: same numbers as ``BiLstmStack``, less work per step.

Why it is faster than the exact path (``lstm.py``), which stays the one used for training:
- rows are sorted by length and packed time-major (step 0 of every row, then step 1 of the
  rows still running, ...), so no matmul or elementwise op ever touches padding, and each
  step's rows are one contiguous block;
- the input half of every gate (and the bias) is one matmul per layer and direction over all
  real tokens; only ``h @ W_h`` stays in the loop;
- on CPU in float32 each direction's whole stack runs as one TorchScript loop
  (``lstm_direction``: no Python per op, fused post-ops, no ``tanh``), the two directions
  at once on their own threads (``threads.run_both``);
- on CUDA (``BATCHED_DEVICES``) the training path's ``batched_lstm``: both directions in one
  batched matmul per step, the pointwise cell fused when ``compile_cell``;
- elsewhere (CPU bfloat16) both directions advance in the same Python-level step, sharing
  one set of elementwise kernels, computed in place.
Only for no-grad evaluation: it writes into preallocated buffers, which autograd cannot follow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ..lstm import BiLstmStack, LstmWithProjection, State, reverse_padded
from ..options import BiLMOptions
from . import batched_lstm, lstm_direction, onednn, threads

Pair = Tuple[LstmWithProjection, LstmWithProjection]  # (forward, backward) of one layer

#: Device types whose inference runs ``batched_lstm`` (one bmm per step for both directions,
#: padded rows masked): fewer, bigger kernels, which a GPU needs; on CPU the scripted loop is faster.
BATCHED_DEVICES = ("cuda",)


@dataclass
class Packing:
    """Where each step's rows live in the packed layout. Rows are sorted longest first."""

    order: torch.Tensor  # sorted row -> original row
    restore: torch.Tensor  # original row -> sorted row
    lengths: torch.Tensor  # sorted lengths
    live_rows: List[int]  # rows still running at step t
    offsets: List[int]  # start of step t's block
    mask: torch.Tensor  # [T, B] time-major, sorted rows: True where the step is real

    @classmethod
    def of(cls, lengths: torch.Tensor, steps: int) -> "Packing":
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order]
        counts = torch.bincount(sorted_lengths.clamp(max=steps), minlength=steps + 1).tolist()
        live_rows, offsets, alive, offset = [], [], len(lengths), 0
        for t in range(steps):
            alive -= counts[t]
            live_rows.append(alive)
            offsets.append(offset)
            offset += alive
        mask = torch.arange(steps, device=lengths.device)[:, None] < sorted_lengths[None, :]
        return cls(order, torch.argsort(order), sorted_lengths, live_rows, offsets, mask)

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` in sorted row order -> ``[N, D]`` packed."""
        return padded.transpose(0, 1)[self.mask]

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` packed -> ``[B, T, D]`` in sorted row order, zero past each length."""
        steps, batch = self.mask.shape
        out = packed.new_zeros(steps, batch, packed.shape[-1])
        out[self.mask] = packed
        return out.transpose(0, 1)

    def last(self, packed: torch.Tensor) -> torch.Tensor:
        """Each row's packed row at its final step (garbage for rows of length 0): ``[B, D]``."""
        if packed.shape[0] == 0:
            return packed.new_zeros(len(self.lengths), packed.shape[-1])
        return packed[self.last_index(packed.shape[0]).to(packed.device)]

    def last_index(self, n_packed: int) -> torch.Tensor:
        """Each row's packed index at its final step; rows without steps get some valid index."""
        offsets = torch.tensor(self.offsets + [0], dtype=torch.long, device=self.lengths.device)
        rows = torch.arange(len(self.lengths), device=self.lengths.device)
        index = offsets[(self.lengths - 1).clamp(min=0)] + rows
        return index.clamp(max=max(n_packed - 1, 0))


def _input_gates(lstms: Pair, inputs: torch.Tensor) -> torch.Tensor:
    """``inputs [2, N, P]`` packed -> ``x W_in + b`` for every real step: ``[2, N, 4H]``."""
    out = inputs.new_empty(2, inputs.shape[1], 4 * lstms[0].cell_size)
    for d, lstm in enumerate(lstms):
        weight, bias = lstm.input_linearity.weight, lstm.state_linearity.bias
        if onednn.usable(inputs[d], weight):
            out[d] = onednn.linear(inputs[d], weight, bias)
        else:
            torch.addmm(bias, inputs[d], weight.t(), out=out[d])
    return out


def _add_product(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``out += x @ weight.T`` in place."""
    if onednn.usable(x, weight):
        out.add_(onednn.linear(x, weight))
    else:
        out.addmm_(x, weight.t())


def _write_product(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``out = x @ weight.T`` in place."""
    if onednn.usable(x, weight):
        out.copy_(onednn.linear(x, weight))
    else:
        torch.mm(x, weight.t(), out=out)


def _run_layer(lstms: Pair, inputs: torch.Tensor, packing: Packing, h0: Optional[torch.Tensor], c: torch.Tensor) -> torch.Tensor:
    """One layer, both directions, over packed ``inputs [2, N, P]``. ``h0 [2, B, P]`` is the
    initial output (None: zeros, so the first step needs no recurrent matmul); ``c [2, B, H]``
    is updated in place to each row's final cell. Returns the packed outputs ``[2, N, P]``."""
    cell = lstms[0].cell_size
    cell_clip, proj_clip = lstms[0].cell_clip, lstms[0].proj_clip
    gates_all = _input_gates(lstms, inputs)  # becomes each step's full gates, in place
    recurrent_w = [lstm.state_linearity.weight for lstm in lstms]
    projection_w = [lstm.projection.weight for lstm in lstms]
    outputs = inputs.new_empty(2, inputs.shape[1], lstms[0].proj_size)
    h = h0
    for n, start in zip(packing.live_rows, packing.offsets):
        if n == 0:
            break
        gates = gates_all[:, start : start + n]
        if h is not None:
            for d in range(2):
                _add_product(gates[d], h[d, :n], recurrent_w[d])
        new_input = torch.tanh(gates[..., cell : 2 * cell])
        gates.sigmoid_()  # i, f, o need sigmoid; j was read above
        i, f, o = gates[..., :cell], gates[..., 2 * cell : 3 * cell], gates[..., 3 * cell :]
        c_t = c[:, :n]
        c_t.mul_(f).addcmul_(i, new_input)
        if cell_clip:
            c_t.clamp_(-cell_clip, cell_clip)
        hidden = torch.tanh(c_t).mul_(o)
        h = outputs[:, start : start + n]
        for d in range(2):
            _write_product(h[d], hidden[d], projection_w[d])
        if proj_clip:
            h.clamp_(-proj_clip, proj_clip)
    return outputs


def fast_bilstm(
    stack: BiLstmStack,
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    states: Optional[List[State]] = None,
    skip_final_step: bool = False,
    compile_cell: bool = False,
    compute_dtype: Optional[torch.dtype] = None,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
    """Drop-in for ``stack(inputs, lengths, states)`` at inference (eval, no grad).

    ``compute_dtype``: the products' precision on the CPU's scripted route (``torch.bfloat16``: bf16
    products, float32 cell state, outputs in ``inputs.dtype``); None: ``inputs.dtype``.

    ``skip_final_step``: do not run each direction's last step (the sentence-end token going
    forward, the sentence-start token going backward). Their outputs are zero and the final
    states are not the true ones; ``BiLM.forward`` drops those outputs anyway when stateless.
    ``compile_cell``: on ``BATCHED_DEVICES``, fuse the pointwise cell (``BiLM.lstm_settings``).
    """
    batch, steps, _ = inputs.shape
    run_lengths = (lengths - 1).clamp(min=0) if skip_final_step else lengths
    if inputs.device.type in BATCHED_DEVICES:
        batched_lstm.ROUTES["inference-batched"] += 1
        settings = batched_lstm.BatchedSettings(impl="batched", compile_cell=compile_cell)
        return batched_lstm.batched_bilstm(stack, inputs, lengths, states, settings, run_lengths=run_lengths)
    packing = Packing.of(run_lengths, steps)
    x = inputs[packing.order]
    backward_x = reverse_padded(x, lengths[packing.order])  # reversed over the full length
    compute = compute_dtype or inputs.dtype
    if compute != inputs.dtype and not _scripted_usable(inputs, compute):
        compute = inputs.dtype  # only the scripted route has a bf16 variant; the others keep the inputs' dtype
    if _scripted_usable(inputs, compute):
        forward_out, backward_out, final_states = _scripted_bilstm(stack, packing, x, backward_x, states, compute)
        if compute != inputs.dtype:
            forward_out = [out.to(inputs.dtype) for out in forward_out]
            backward_out = [out.to(inputs.dtype) for out in backward_out]
            final_states = [(h.to(inputs.dtype), c.to(inputs.dtype)) for h, c in final_states]
    else:
        forward_out, backward_out, final_states = _stepwise_bilstm(stack, packing, x, backward_x, states)
    forward_out = [packing.unpack(out)[packing.restore] for out in forward_out]
    backward_out = [reverse_padded(packing.unpack(out), lengths[packing.order])[packing.restore] for out in backward_out]
    return forward_out, backward_out, final_states


def _scripted_usable(inputs: torch.Tensor, compute: torch.dtype = torch.float32) -> bool:
    """The per-direction TorchScript loop serves CPU float32 inputs through oneDNN, with float32 or
    bfloat16 products; the rest steps in Python."""
    return (
        inputs.device.type == "cpu"
        and inputs.dtype == torch.float32
        and compute in (torch.float32, torch.bfloat16)
        and onednn.pointwise_available()
        and lstm_direction.scripted() is not None
        and _scripted_route_checked(compute)
    )


#: Largest difference to the exact float32 path the self-check accepts, per compute dtype (the tiny
#: stack's values are within [-1, 1]; bf16 keeps 8 bits of mantissa, ~4e-3 relative per rounding).
SELF_CHECK_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2}
_SELF_CHECK: Dict[torch.dtype, bool] = {}


def _scripted_route_checked(dtype: torch.dtype = torch.float32) -> bool:
    """Whether the scripted route in ``dtype`` gave the exact path's numbers on a tiny random stack,
    checked once per process and dtype (a few ms). WHY: it relies on private oneDNN ops
    (``torch.ops.mkldnn``) whose presence or meaning could change with the torch version or the CPU
    (e.g. aarch64 builds, or no bf16 kernels); then the Python step loop (float32) serves instead,
    with a warning, rather than a crash or wrong vectors."""
    if dtype not in _SELF_CHECK:
        _SELF_CHECK[dtype] = False  # also while checking: the check itself must not recurse
        try:
            generator = torch.Generator().manual_seed(0)
            options = BiLMOptions(
                filters=((1, 4),), char_embedding_dim=4, n_highway=0, lstm_dim=12, projection_dim=6, n_lstm_layers=2,
                cell_clip=1.0, proj_clip=1.0, use_skip_connections=True,
            )
            with torch.inference_mode(False):  # ordinary tensors, even when called under inference mode
                stack = BiLstmStack(options).eval()
            with torch.inference_mode(False), torch.no_grad():
                for p in stack.parameters():
                    p.copy_(torch.rand(p.shape, generator=generator) - 0.5)
                inputs = torch.randn(3, 5, 6, generator=generator)
                lengths = torch.tensor([5, 2, 0])
                packing = Packing.of(lengths, 5)
                x = inputs[packing.order]
                sorted_lengths = lengths[packing.order]
                forward, backward, states = _scripted_bilstm(stack, packing, x, reverse_padded(x, sorted_lengths), None, dtype)
                got = [packing.unpack(out)[packing.restore] for out in forward]
                got += [reverse_padded(packing.unpack(out), sorted_lengths)[packing.restore] for out in backward]
                want_forward, want_backward, want_states = stack(inputs, lengths)  # the exact (training) path
                pairs = list(zip(got, want_forward + want_backward))
                pairs += [(g, w) for gs, ws in zip(states, want_states) for g, w in zip(gs, ws)]
                tolerance = SELF_CHECK_TOLERANCE[dtype]
                _SELF_CHECK[dtype] = all(g.shape == w.shape and bool((g.float() - w).abs().max() <= tolerance) for g, w in pairs)
        except Exception:  # noqa: BLE001 - any failure means "use the Python step loop"
            _SELF_CHECK[dtype] = False
        if not _SELF_CHECK[dtype]:
            import warnings

            if dtype == torch.float32:
                message = "using the slower Python step loop (same results)"
            else:
                message = f"using float32 instead of {dtype}"
            warnings.warn(
                f"spacy-elmo: the fast CPU LSTM route (TorchScript + oneDNN) in {dtype} failed its self-check with "
                f"this torch {torch.__version__}; {message}. Please report this with your torch version and CPU.",
                RuntimeWarning,
                stacklevel=3,
            )
    return _SELF_CHECK[dtype]


def _double_new_input_rows(weight: torch.Tensor) -> torch.Tensor:
    cell = weight.shape[0] // 4
    doubled = weight.clone()
    doubled[cell : 2 * cell] *= 2.0
    return doubled


def _scripted_bilstm(
    stack: BiLstmStack, packing: Packing, x: torch.Tensor, backward_x: torch.Tensor, states: Optional[List[State]],
    dtype: torch.dtype = torch.float32,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
    """Both directions through ``lstm_direction``, concurrently where threads allow, with products in
    ``dtype`` (float32 or bfloat16; the cell state is float32 in both). Returns packed outputs per
    layer and direction (in ``dtype``), and the final states in batch order (``h`` in ``dtype``, ``c`` float32)."""
    batch = x.shape[0]
    has_steps = (packing.lengths > 0)[:, None]
    last_index = packing.last_index(int(sum(packing.live_rows)))
    options = stack.options
    jobs = []
    forward_layers, backward_layers = stack.directions()
    for d, (layers, packed) in enumerate(((forward_layers, packing.pack(x)), (backward_layers, packing.pack(backward_x)))):
        initial_h = [states[2 * layer + d][0][packing.order].to(dtype).contiguous() for layer in range(len(layers))] if states is not None else []
        initial_c = [states[2 * layer + d][1][packing.order].float().contiguous() for layer in range(len(layers))] if states is not None else []
        doubled = "new_input_doubled"
        jobs.append(
            (
                packed.to(dtype).contiguous(),
                [onednn.prepared_in(lstm.input_linearity.weight, dtype, doubled, _double_new_input_rows) for lstm in layers],
                [_double_new_input_rows(lstm.state_linearity.bias).to(dtype) for lstm in layers],
                [onednn.prepared_in(lstm.state_linearity.weight, dtype, doubled, _double_new_input_rows) for lstm in layers],
                [onednn.prepared_in(lstm.projection.weight, dtype) for lstm in layers],
                initial_h,
                initial_c,
                packing.live_rows,
                packing.offsets,
                last_index,
                batch,
                float(options.cell_clip or 0.0),
                float(options.proj_clip or 0.0),
                bool(options.use_skip_connections),
                lstm_direction.MAX_STEP_ROWS,
                onednn.EXACT_ROWS,
            )
        )
    run_direction = lstm_direction.scripted()
    assert run_direction is not None  # this route is taken only when _scripted_usable said so
    results = threads.run_both(run_direction, jobs[0], jobs[1])
    outputs = [results[0][0], results[1][0]]
    final_states: List[State] = []
    for layer in range(options.n_lstm_layers):
        for d in range(2):
            h_last, c_last = results[d][1][layer], results[d][2][layer]
            h0 = states[2 * layer + d][0][packing.order] if states is not None else torch.zeros_like(h_last)
            h = torch.where(has_steps, h_last, h0)
            final_states.append((h[packing.restore], c_last[packing.restore]))
    return outputs[0], outputs[1], final_states


def _stepwise_bilstm(
    stack: BiLstmStack, packing: Packing, x: torch.Tensor, backward_x: torch.Tensor, states: Optional[List[State]]
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
    """Both directions in the same Python-level steps (any device and dtype).
    Returns packed outputs per layer and direction, and the final states in batch order."""
    batch = x.shape[0]
    layer_in = torch.stack([packing.pack(x), packing.pack(backward_x)])  # [2, N, P]
    has_steps = (packing.lengths > 0)[:, None]
    forward_out: List[torch.Tensor] = []
    backward_out: List[torch.Tensor] = []
    final_states: List[State] = []
    for layer, lstms in enumerate(stack.layer_pairs()):
        if states is not None:
            h0 = torch.stack([states[2 * layer][0], states[2 * layer + 1][0]])[:, packing.order].contiguous()
            c = torch.stack([states[2 * layer][1], states[2 * layer + 1][1]])[:, packing.order].contiguous()
        else:
            h0 = None
            c = x.new_zeros(2, batch, lstms[0].cell_size)
        out = _run_layer(lstms, layer_in, packing, h0, c)
        if h0 is None:
            h0 = x.new_zeros(2, batch, lstms[0].proj_size)
        h = [torch.where(has_steps, packing.last(out[d]), h0[d])[packing.restore] for d in range(2)]
        c = c[:, packing.restore]
        final_states += [(h[0], c[0]), (h[1], c[1])]
        if layer > 0 and stack.options.use_skip_connections:
            out += layer_in
        forward_out.append(out[0])
        backward_out.append(out[1])
        layer_in = out
    return forward_out, backward_out, final_states
