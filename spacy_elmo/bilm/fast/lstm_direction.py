"""One direction of the biLSTM stack at inference on CPU/float32, as a TorchScript loop.

WHY: at ELMo small's shapes one LSTM step is ~10 tiny ops on a dozen rows, so Python
dispatch and the OpenMP hand-offs between two threads cost more than the arithmetic.
Scripted, the step loop runs in C++ and releases the GIL, so the forward and backward
directions can each run on their own core (``threads.run_both``) with 1 intra-op thread.

Same numbers as ``LstmWithProjection`` up to float rounding, with two exact rewrites that
save ops (``tanh`` costs ~8x a ``sigmoid`` per element in ATen on this CPU):
- ``tanh(z) = 2 sigmoid(2z) - 1``: the new-input gate's rows of every weight and bias are
  doubled (once per weight change), so one ``sigmoid_`` serves all four gates;
- the cell is carried as ``m = -2c``, so ``o * tanh(c) = o - 2 o sigmoid(m)`` is one
  ``sigmoid`` and one ``addcmul``; doubling and negating are exact in floating point.
The projection's clip is oneDNN's ``hardtanh`` post-op and the recurrent product adds the
input gates as a ``binary add`` post-op, so neither needs its own pass over memory.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor

from .onednn import padded_rows


#: Steps with more rows run in blocks of this many, so oneDNN compiles kernels for at most
#: this many row counts per product (``onednn.padded_rows`` says why that matters). Passed
#: to the scripted loop as ``max_rows`` (TorchScript reads no mutable globals).
MAX_STEP_ROWS = 64


def _projection(x: Tensor, weight: Tensor, clip: float, max_rows: int) -> Tensor:
    """``x @ weight.T`` (oneDNN-packed weight), clipped to ``[-clip, clip]`` when ``clip > 0``."""
    scalars = torch.jit.annotate(List[Optional[Union[int, float, complex]]], [])  # the schema's Scalar?[]
    attr = "none"
    if clip > 0.0:
        scalars = torch.jit.annotate(List[Optional[Union[int, float, complex]]], [-clip, clip])
        attr = "hardtanh"
    rows = x.shape[0]
    if rows <= max_rows:
        return torch.ops.mkldnn._linear_pointwise(x, weight, None, attr, scalars, "")
    blocks: List[Tensor] = []
    for start in range(0, rows, max_rows):
        size = min(max_rows, rows - start)
        blocks.append(torch.ops.mkldnn._linear_pointwise(x.narrow(0, start, size), weight, None, attr, scalars, ""))
    return torch.cat(blocks)


def _recurrent(h: Tensor, input_gates: Tensor, weight: Tensor, max_rows: int) -> Tensor:
    """``input_gates + h @ weight.T`` (oneDNN-packed weight), the sum as a post-op."""
    rows = h.shape[0]
    if rows <= max_rows:
        return torch.ops.mkldnn._linear_pointwise(h, input_gates, weight, None, "add")
    blocks: List[Tensor] = []
    for start in range(0, rows, max_rows):
        size = min(max_rows, rows - start)
        blocks.append(torch.ops.mkldnn._linear_pointwise(h.narrow(0, start, size), input_gates.narrow(0, start, size), weight, None, "add"))
    return torch.cat(blocks)


def _input_gates(x: Tensor, weight: Tensor, bias: Tensor, exact_rows: int) -> Tensor:
    """``x @ weight.T + bias`` over every real step, rows padded as ``onednn.padded_rows`` does."""
    rows = x.shape[0]
    if rows == 0:
        return x.new_zeros(0, weight.shape[0])
    padded = padded_rows(rows, exact_rows)
    if padded != rows:
        x = torch.constant_pad_nd(x, [0, 0, 0, padded - rows], 0.0)
    no_scalars = torch.jit.annotate(List[Optional[Union[int, float, complex]]], [])
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", no_scalars, "").narrow(0, 0, rows)


def run_direction(
    inputs: Tensor,
    input_weights: List[Tensor],
    input_biases: List[Tensor],
    recurrent_weights: List[Tensor],
    projection_weights: List[Tensor],
    initial_h: List[Tensor],
    initial_c: List[Tensor],
    live_rows: List[int],
    offsets: List[int],
    last_index: Tensor,
    batch: int,
    cell_clip: float,
    proj_clip: float,
    skip_connections: bool,
    max_rows: int,
    exact_rows: int,
) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
    """Every layer of one direction over packed ``inputs [N, P]`` (``Packing`` layout).

    Weights are oneDNN-packed: ``input_weights`` and ``recurrent_weights`` ``[4H, P]`` and
    ``input_biases [4H]`` with the new-input rows doubled, ``projection_weights [P, H]``.
    ``initial_h``/``initial_c``: per layer ``[B, P]``/``[B, H]`` in packed row order, or empty
    lists for a zero state. ``last_index [B]``: each row's packed index at its final step
    (any valid index for rows without steps). Returns per layer the packed outputs ``[N, P]``
    (skip connection added), the final outputs ``[B, P]`` (garbage for rows without steps)
    and the final cells ``[B, H]``. ``max_rows``: ``MAX_STEP_ROWS``; ``exact_rows``: ``onednn.EXACT_ROWS``.
    """
    outputs: List[Tensor] = []
    final_h: List[Tensor] = []
    final_c: List[Tensor] = []
    layer_in = inputs
    stateful = len(initial_h) > 0
    for layer in range(len(input_weights)):
        cell = input_weights[layer].shape[0] // 4
        gates_all = _input_gates(layer_in, input_weights[layer], input_biases[layer], exact_rows)
        h: Optional[Tensor] = None
        if stateful:
            h = initial_h[layer]
            m = initial_c[layer].float() * -2.0
        else:
            m = torch.zeros(batch, cell, dtype=torch.float32)  # the cell stays float32 in every precision
        steps: List[Tensor] = []
        for t in range(len(live_rows)):
            n = live_rows[t]
            if n == 0:
                break
            gates = gates_all.narrow(0, offsets[t], n)
            if h is not None:
                gates = _recurrent(h.narrow(0, 0, n), gates, recurrent_weights[layer], max_rows)
            gates.sigmoid_()
            i = gates.narrow(1, 0, cell)
            s = gates.narrow(1, cell, cell)
            f = gates.narrow(1, 2 * cell, cell)
            o = gates.narrow(1, 3 * cell, cell)
            m_t = m.narrow(0, 0, n)
            # c' = f c + i tanh(z) with tanh(z) = 2 s - 1, in m = -2c:  m' = f m - 4 i s + 2 i
            m_t.mul_(f).addcmul_(i, s, value=-4.0).add_(i, alpha=2.0)
            if cell_clip > 0.0:
                m_t.clamp_(-2.0 * cell_clip, 2.0 * cell_clip)
            hidden = torch.addcmul(o, o, torch.sigmoid(m_t), value=-2.0)  # o * tanh(c), float32
            h = _projection(hidden.to(inputs.dtype), projection_weights[layer], proj_clip, max_rows)
            steps.append(h)
        if len(steps) > 0:
            out = torch.cat(steps)
        else:
            out = inputs.new_zeros(0, projection_weights[layer].shape[0])
        final_h.append(out.index_select(0, last_index) if out.shape[0] > 0 else inputs.new_zeros(batch, out.shape[1]))
        if layer > 0 and skip_connections:
            out = out + layer_in
        outputs.append(out)
        final_c.append(m * -0.5)
        layer_in = out
    return outputs, final_h, final_c


_scripted: Optional[torch.jit.ScriptFunction] = None
_script_failed = False


def scripted() -> Optional[torch.jit.ScriptFunction]:
    """``run_direction`` compiled by TorchScript, once per process on first use; None where this
    torch cannot script it (callers then use the Python step loop, which gives the same numbers)."""
    global _scripted, _script_failed
    if _scripted is None and not _script_failed:
        try:
            with warnings.catch_warnings():
                # torch 2.13 marks torch.jit.script deprecated; it is still the one way to run a
                # loop of eager-shaped ops in C++ without a compiler toolchain at run time.
                warnings.simplefilter("ignore", DeprecationWarning)
                _scripted = torch.jit.script(run_direction)
        except Exception:  # noqa: BLE001 - any failure here only means "use the slower path"
            _script_failed = True
    return _scripted
