"""LSTM with a projected, clipped hidden state, and the bidirectional stack of them.

The cell is TensorFlow's ``LSTMCell(num_proj, cell_clip, proj_clip)`` as bilm-tf
used it. Gates are kept in TF's order (input, new input, forget, output); the
constant forget bias of 1.0 that TF adds at run time is folded into the stored bias.
Sequences are left-aligned and each row runs for its own length: past its end,
the state is frozen, so the final state is the one after the row's last token.
"""
from __future__ import annotations

from typing import List, Optional, Tuple, cast

import torch
from torch import nn

from .options import BiLMOptions

State = Tuple[torch.Tensor, torch.Tensor]  # (h [B, proj], c [B, cell])


class LstmWithProjection(nn.Module):
    def __init__(self, input_size: int, cell_size: int, proj_size: int, cell_clip: float, proj_clip: float):
        super().__init__()
        self.input_size, self.cell_size, self.proj_size = input_size, cell_size, proj_size
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.input_linearity = nn.Linear(input_size, 4 * cell_size, bias=False)
        self.state_linearity = nn.Linear(proj_size, 4 * cell_size, bias=True)
        self.projection = nn.Linear(cell_size, proj_size, bias=False)

    def zero_state(self, batch: int, like: torch.Tensor) -> State:
        return like.new_zeros(batch, self.proj_size), like.new_zeros(batch, self.cell_size)

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor, state: Optional[State] = None
    ) -> Tuple[torch.Tensor, State]:
        """``inputs [B, T, in]`` -> outputs ``[B, T, proj]`` (zero past each length) and final state."""
        batch, steps, _ = inputs.shape
        h, c = state if state is not None else self.zero_state(batch, inputs)
        # The input half of every gate, for all steps at once; only h @ W_h stays in the loop.
        # unbind/stack rather than per-step indexing: indexing a step in the loop makes
        # autograd allocate and fill a full [B, T, ...] gradient per step (quadratic in T).
        projected_inputs = self.input_linearity(inputs).unbind(1)
        outputs = []
        step_mask = (torch.arange(steps, device=inputs.device)[None, :] < lengths[:, None]).unsqueeze(-1).unbind(1)
        for t in range(steps):
            gates = projected_inputs[t] + self.state_linearity(h)
            i, j, f, o = gates.chunk(4, dim=-1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
            if self.cell_clip:
                c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
            h_new = self.projection(torch.sigmoid(o) * torch.tanh(c_new))
            if self.proj_clip:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
            live = step_mask[t]
            h = torch.where(live, h_new, h)
            c = torch.where(live, c_new, c)
            outputs.append(h_new * live)
        if not outputs:
            return inputs.new_zeros(batch, steps, self.proj_size), (h, c)
        return torch.stack(outputs, dim=1), (h, c)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``length`` steps in place; padding stays at the end."""
    steps = x.shape[1]
    positions = torch.arange(steps, device=x.device)[None, :].expand(x.shape[0], steps)
    flipped = lengths[:, None] - 1 - positions
    index = torch.where(flipped >= 0, flipped, positions)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiLstmStack(nn.Module):
    """Separate forward and backward stacks of ``n_lstm_layers`` LSTMs over the token vectors.

    With ``use_skip_connections`` every layer after the first adds its input to its
    output (the residual connection). ``dropout`` applies to each layer's input while
    training (0 at inference).
    """

    def __init__(self, options: BiLMOptions, dropout: float = 0.0):
        super().__init__()
        self.options = options
        self.dropout = dropout

        def make() -> nn.ModuleList:
            return nn.ModuleList(
                LstmWithProjection(
                    options.projection_dim, options.lstm_dim, options.projection_dim, options.cell_clip, options.proj_clip
                )
                for _ in range(options.n_lstm_layers)
            )

        self.forward_layers = make()
        self.backward_layers = make()

    def directions(self) -> Tuple[List[LstmWithProjection], List[LstmWithProjection]]:
        """The forward and the backward layers, typed (a ``ModuleList`` yields plain ``Module`` s)."""
        return (
            [cast(LstmWithProjection, lstm) for lstm in self.forward_layers],
            [cast(LstmWithProjection, lstm) for lstm in self.backward_layers],
        )

    def layer_pairs(self) -> List[Tuple[LstmWithProjection, LstmWithProjection]]:
        """``(forward, backward)`` LSTM of each layer, bottom first."""
        forward, backward = self.directions()
        return list(zip(forward, backward))

    def forward(
        self,
        inputs: torch.Tensor,
        lengths: torch.Tensor,
        states: Optional[List[State]] = None,
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
        """Run both directions. Returns per-layer forward outputs, backward outputs (in
        sentence order) and the final states ``[fwd_0, bwd_0, fwd_1, bwd_1, ...]``."""
        fwd_in = inputs
        bwd_in = reverse_padded(inputs, lengths)
        forward_out: List[torch.Tensor] = []
        backward_out: List[torch.Tensor] = []
        final_states: List[State] = []
        for layer, (fwd_lstm, bwd_lstm) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if self.training and self.dropout:
                fwd_in = nn.functional.dropout(fwd_in, self.dropout, True)
                bwd_in = nn.functional.dropout(bwd_in, self.dropout, True)
            fwd_state = states[2 * layer] if states is not None else None
            bwd_state = states[2 * layer + 1] if states is not None else None
            fwd_h, fwd_final = fwd_lstm(fwd_in, lengths, fwd_state)
            bwd_h, bwd_final = bwd_lstm(bwd_in, lengths, bwd_state)
            if layer > 0 and self.options.use_skip_connections:
                fwd_h = fwd_h + fwd_in
                bwd_h = bwd_h + bwd_in
            forward_out.append(fwd_h)
            backward_out.append(reverse_padded(bwd_h, lengths))
            final_states += [fwd_final, bwd_final]
            fwd_in, bwd_in = fwd_h, bwd_h
        return forward_out, backward_out, final_states
