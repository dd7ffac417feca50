"""The biLSTM stack for training with fewer, bigger kernels: both directions in one matmul per step.

WHY: the step loop of ``lstm.py`` runs each direction's dozen small ops per time step, so on a
GPU one update is thousands of kernel launches and the chip waits on them, whatever the batch
size. Here, with the same parameters and the same maths:
- the two directions' weights are stacked (``[2, ...]``), so each step is one ``baddbmm``
  (recurrent product), one pointwise cell, one ``bmm`` (projection) and one pointwise
  clip-and-mask, for both directions and every row;
- the input half of every gate (and the bias), for every step, is one ``baddbmm`` per layer
  before the loop, time-major so that each step reads one block;
- optional, ``compile_cell``: the two pointwise parts compiled by ``torch.compile`` into one
  fused kernel each (forward and backward);
- optional, ``cuda_graphs`` (CUDA only): each layer captured as a CUDA graph, forward and
  backward, per bucket of (rows, steps), the batch padded to its bucket with empty rows and
  masked steps, which changes no number;
- bfloat16 autocast works as for the step loop (the cell state stays float32).
Masking, clipping, the backward direction's per-row reversal, given initial states and the
final states are those of the step loop, so outputs, losses and gradients equal it up to
float rounding (tests/bilm/test_batched_lstm.py). Knows nothing of spaCy.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, cast

import torch
from torch import nn

from ..lstm import BiLstmStack, LstmWithProjection, State, reverse_padded

#: How often each route ran ("batched", "batched-compiled", "batched-graphed", "graph-capture",
#: "graph-limit"), for tests and benchmark reports. Counting costs one dict update per layer.
ROUTES: Counter = Counter()


@dataclass
class BatchedSettings:
    """How the biLSTM stack runs with grad (``BiLM.lstm_settings``, the trainer's ``lstm_impl``): ``impl``
    "loop" (the reference step loop, ``BiLstmStack``) or "batched" (this module); see :func:`run_bilstm`."""

    impl: str = "loop"
    compile_cell: bool = False  # fuse the pointwise parts with torch.compile
    cuda_graphs: bool = False  # CUDA only: graph each layer per (rows, steps) bucket
    bucket_rows: int = 32  # with cuda_graphs: rows padded up to a multiple of this
    bucket_steps: int = 8  # with cuda_graphs: steps padded up to a multiple of this
    max_graphs: int = 24  # with cuda_graphs: buckets beyond this many run eagerly

    IMPLS = ("loop", "batched")

    def __post_init__(self) -> None:
        if self.impl not in self.IMPLS:
            raise ValueError(f"lstm_impl is {self.impl!r}; expected one of {self.IMPLS}.")


# -- the pointwise parts: plain functions, so torch.compile can fuse each into one kernel ----------
def cell_step(gates: torch.Tensor, c: torch.Tensor, live: torch.Tensor, cell_clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``gates [2, B, 4H]`` (TF order i, j, f, o) and cell ``c [2, B, H]`` -> the projection's input
    ``o * tanh(c')`` and the carried cell (``c'`` where ``live [1, B, 1]``, else ``c``)."""
    i, j, f, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
    if cell_clip:
        c_new = c_new.clamp(-cell_clip, cell_clip)
    return torch.sigmoid(o) * torch.tanh(c_new), torch.where(live, c_new, c)


def projection_step(p: torch.Tensor, h: torch.Tensor, live: torch.Tensor, proj_clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Projected ``p [2, B, P]`` -> the carried output (``p`` clipped where live, else ``h``) and
    this step's output (zero where not live)."""
    if proj_clip:
        p = p.clamp(-proj_clip, proj_clip)
    return torch.where(live, p, h), p * live


_compiled: Dict[str, Callable] = {}


def compiled_steps() -> Tuple[Callable, Callable]:
    """``cell_step`` and ``projection_step`` under ``torch.compile`` (compiled on first call, per
    shape family; ``dynamic=True`` so that a new batch size does not recompile)."""
    if not _compiled:
        _compiled["cell"] = torch.compile(cell_step, dynamic=True)
        _compiled["projection"] = torch.compile(projection_step, dynamic=True)
    return _compiled["cell"], _compiled["projection"]


# -- one layer, both directions -------------------------------------------------------------------
def run_layer(
    x: torch.Tensor,
    live: torch.Tensor,
    input_weight: torch.Tensor,
    bias: torch.Tensor,
    recurrent_weight: torch.Tensor,
    projection_weight: torch.Tensor,
    h0: Optional[torch.Tensor],
    c0: Optional[torch.Tensor],
    cell_clip: float,
    proj_clip: float,
    cell: Callable = cell_step,
    projection: Callable = projection_step,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both directions of one layer over ``x [2, B, T, P]`` (direction 1 already reversed per row).

    ``live [T, 1, B, 1]``: real steps. Weights stacked per direction: ``input_weight [2, 4H, P]``,
    ``bias [2, 4H]``, ``recurrent_weight [2, 4H, P]``, ``projection_weight [2, P, H]``.
    ``h0 [2, B, P]`` / ``c0 [2, B, H]``, or None for zeros. Returns the outputs ``[2, B, T, P]``
    (zero at padding) and the final ``h``, ``c``.
    """
    _, batch, steps, width = x.shape
    gates_size = input_weight.shape[1]
    c = c0 if c0 is not None else x.new_zeros(2, batch, gates_size // 4)
    h = h0 if h0 is not None else x.new_zeros(2, batch, projection_weight.shape[1])
    if steps == 0:
        return x.new_zeros(2, batch, 0, projection_weight.shape[1]), h, c
    time_major = x.transpose(1, 2).reshape(2, steps * batch, width)
    # unbind rather than per-step indexing: indexing a step in the loop makes autograd allocate
    # and fill a full [2, T, B, 4H] gradient per step (quadratic in T).
    all_gates = torch.baddbmm(bias.unsqueeze(1), time_major, input_weight.transpose(1, 2))
    input_gates = all_gates.view(2, steps, batch, gates_size).unbind(1)
    recurrent_t, projection_t = recurrent_weight.transpose(1, 2), projection_weight.transpose(1, 2)
    outputs: List[torch.Tensor] = []
    for t in range(steps):
        # Step 0 from a zero state needs no recurrent product.
        gates = input_gates[t] if (t == 0 and h0 is None) else torch.baddbmm(input_gates[t], h, recurrent_t)
        hidden, c = cell(gates, c, live[t], cell_clip)
        h, out = projection(torch.bmm(hidden, projection_t), h, live[t], proj_clip)
        outputs.append(out)
    return torch.stack(outputs, dim=2), h, c


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``[T, 1, B, 1]`` bool: step ``t`` of row ``b`` is real."""
    return (torch.arange(steps, device=lengths.device)[:, None] < lengths[None, :])[:, None, :, None]


Weights = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _stacked(layers: Tuple[LstmWithProjection, LstmWithProjection]) -> Weights:
    """The layer's weights with the two directions stacked (differentiable: grads reach each one)."""
    f, b = layers
    return (
        torch.stack([f.input_linearity.weight, b.input_linearity.weight]),
        torch.stack([f.state_linearity.bias, b.state_linearity.bias]),
        torch.stack([f.state_linearity.weight, b.state_linearity.weight]),
        torch.stack([f.projection.weight, b.projection.weight]),
    )


# -- the stack ------------------------------------------------------------------------------------
def run_bilstm(
    stack: BiLstmStack,
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    states: Optional[List[State]] = None,
    settings: Optional[BatchedSettings] = None,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
    """The stack with grad on the route ``settings`` names: the reference step loop, or :func:`batched_bilstm`."""
    if settings is not None and settings.impl == "batched":
        return batched_bilstm(stack, inputs, lengths, states, settings)
    return stack(inputs, lengths, states)


def batched_bilstm(
    stack: BiLstmStack,
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    states: Optional[List[State]] = None,
    settings: Optional[BatchedSettings] = None,
    run_lengths: Optional[torch.Tensor] = None,
) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
    """Drop-in for ``BiLstmStack.forward`` (same outputs, final states, dropout draws and grads).

    ``run_lengths`` (inference): run only this many steps of each row in each direction (the
    backward direction is still reversed over ``lengths``); outputs past them are zero."""
    settings = settings or BatchedSettings(impl="batched")
    options = stack.options
    cell_clip, proj_clip = float(options.cell_clip or 0.0), float(options.proj_clip or 0.0)
    graphs = (
        settings.cuda_graphs and inputs.device.type == "cuda" and states is None and run_lengths is None and torch.is_grad_enabled()
    )
    if settings.compile_cell:
        cell, projection = compiled_steps()
        route = "batched-compiled"
    else:
        cell, projection, route = cell_step, projection_step, "batched"
    live = step_mask(lengths if run_lengths is None else run_lengths, inputs.shape[1])
    fwd_in, bwd_in = inputs, reverse_padded(inputs, lengths)
    forward_out: List[torch.Tensor] = []
    backward_out: List[torch.Tensor] = []
    final_states: List[State] = []
    for layer, pair in enumerate(stack.layer_pairs()):
        if stack.training and stack.dropout:  # the step loop's draws, in its order
            fwd_in = nn.functional.dropout(fwd_in, stack.dropout, True)
            bwd_in = nn.functional.dropout(bwd_in, stack.dropout, True)
        x = torch.stack([fwd_in, bwd_in])
        weights = _stacked(pair)
        if graphs:
            out, h, c = _graphed_layer(layer, x, lengths, weights, cell_clip, proj_clip, cell, projection, settings)
        else:
            h0 = c0 = None
            if states is not None:
                h0 = torch.stack([states[2 * layer][0], states[2 * layer + 1][0]])
                c0 = torch.stack([states[2 * layer][1], states[2 * layer + 1][1]])
            out, h, c = run_layer(x, live, *weights, h0, c0, cell_clip, proj_clip, cell, projection)
            ROUTES[route] += 1
        fwd_h, bwd_h = out.unbind(0)
        if layer > 0 and options.use_skip_connections:
            fwd_h = fwd_h + fwd_in
            bwd_h = bwd_h + bwd_in
        forward_out.append(fwd_h)
        backward_out.append(reverse_padded(bwd_h, lengths))
        final_states += [(h[0], c[0]), (h[1], c[1])]
        fwd_in, bwd_in = fwd_h, bwd_h
    return forward_out, backward_out, final_states


# -- CUDA graphs over (rows, steps) buckets ------------------------------------------------------------
def round_up(n: int, multiple: int) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def pad_to_bucket(x: torch.Tensor, lengths: torch.Tensor, rows: int, steps: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``x [2, B, T, P]`` padded to ``[2, rows, steps, P]`` with zeros, ``lengths`` with rows of length 0.
    Padded rows and steps are masked in ``run_layer``, so they change no output of the real ones."""
    _, batch, length, _ = x.shape
    x = nn.functional.pad(x, (0, 0, 0, steps - length, 0, rows - batch))
    return x, nn.functional.pad(lengths, (0, rows - batch))


LayerRun = Callable[..., Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
_graph_cache: Dict[tuple, LayerRun] = {}


def _graphed_layer(layer: int, x, lengths, weights: Weights, cell_clip, proj_clip, cell, projection, settings: BatchedSettings):
    """``run_layer`` from zero states through a CUDA graph (forward and backward) for the batch's bucket.

    One graph per layer and bucket: a graph's outputs and saved activations live in its own static
    memory, which the next replay overwrites, so two layers of one update must never share a graph."""
    _, batch, steps, _ = x.shape
    rows, padded_steps = round_up(batch, settings.bucket_rows), round_up(steps, settings.bucket_steps)
    px, plengths = pad_to_bucket(x, lengths, rows, padded_steps)
    live = step_mask(plengths, padded_steps)
    key = (layer, rows, padded_steps, x.shape[-1], tuple(w.shape for w in weights), x.dtype, x.device, cell_clip, proj_clip, cell)
    graphed = _graph_cache.get(key)
    if graphed is None:
        if len(_graph_cache) >= settings.max_graphs:
            ROUTES["graph-limit"] += 1
            out, h, c = run_layer(px, live, *weights, None, None, cell_clip, proj_clip, cell, projection)
            return _unpad(out, h, c, batch, steps)

        def run(x_, live_, w_in, b, w_h, w_p):
            return run_layer(x_, live_, w_in, b, w_h, w_p, None, None, cell_clip, proj_clip, cell, projection)

        samples = (px.detach().clone().requires_grad_(px.requires_grad), live.clone()) + tuple(
            w.detach().clone().requires_grad_(w.requires_grad) for w in weights
        )
        graphed = cast(LayerRun, torch.cuda.make_graphed_callables(run, samples))  # one callable in, one out
        _graph_cache[key] = graphed
        ROUTES["graph-capture"] += 1
    ROUTES["batched-graphed"] += 1
    out, h, c = graphed(px, live, *weights)
    return _unpad(out, h, c, batch, steps)


def _unpad(out, h, c, batch: int, steps: int):
    return out[:, :batch, :steps], h[:, :batch], c[:, :batch]


def clear_graphs() -> None:
    """Drop every captured graph (and the memory each holds)."""
    _graph_cache.clear()
