"""``x @ W.T + b`` for the inference paths, through oneDNN with a prepacked weight where that is faster.

WHY: PyTorch's CPU matmul goes to MKL, which on AMD CPUs reaches well under half of what the
hardware does: at every fp32 shape of the published ELMo models (few or many rows, narrow or
wide), oneDNN with weights laid out once runs the same product 2-2.6x faster on 1 or 2 threads
(``benchmarks/results/matmul_routes.md``; e.g. [1000, 112] x [112, 2048]: 2.8 ms MKL vs 1.2 ms, 2 threads).
Prepacked copies are cached per parameter and rebuilt whenever the parameter changes (version
or storage), so they never go stale; they cost one extra copy of the weights they serve.
"""
from __future__ import annotations

import functools
import weakref
from typing import Callable, Dict, Optional, Tuple

import torch

#: Set False to send every product to ``torch.nn.functional.linear``.
ENABLED = True
#: Row counts up to this get a kernel of their own; larger ones are padded (``padded_rows``),
#: so products whose row count varies freely (new tokens per batch, all steps of a batch)
#: need at most 16 + 8 per doubling kernels per weight.
EXACT_ROWS = 16
#: The row count oneDNN lays weights out for (``_pack``).
LAYOUT_ROWS = 32

_PREPARED: Dict[Tuple[int, str], Tuple[weakref.ref, Tuple, torch.Tensor]] = {}


def _forget(slot: Tuple[int, str], _ref: weakref.ref) -> None:
    """Drop a prepared copy once its source tensor is garbage-collected (a weakref callback)."""
    _PREPARED.pop(slot, None)


def _mkldnn_op(name: str):
    """``torch.ops.mkldnn.<name>``, or None where this torch build lacks it (private ops move)."""
    try:
        return getattr(torch.ops.mkldnn, name)
    except (AttributeError, RuntimeError):
        return None


#: oneDNN linear taking and returning dense tensors (PyTorch >= 2.1).
_POINTWISE = _mkldnn_op("_linear_pointwise")
#: oneDNN's own weight layout for a linear (as ``torch.compile`` prepacks it).
_REORDER = _mkldnn_op("_reorder_linear_weight")


def usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether ``linear`` sends this product to oneDNN (CPU, float32, 2-D, at least one row)."""
    return (
        ENABLED
        and x.device.type == "cpu"
        and x.shape[0] > 0
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.dim() == 2
        and torch.backends.mkldnn.is_available()
    )


def _pack(weight: torch.Tensor) -> torch.Tensor:
    """``weight [out, in]`` as a oneDNN tensor, in the blocked layout oneDNN picks for
    ``LAYOUT_ROWS``-row inputs where the dense-in/dense-out linear can use it (it serves every
    row count; 25-45% faster than the plain layout at 4-32 rows, measured), else plain."""
    if _POINTWISE is not None and _REORDER is not None and weight.dim() == 2:
        try:
            return _REORDER(weight.contiguous(), LAYOUT_ROWS)
        except RuntimeError:
            pass
    return weight.to_mkldnn()


def prepared(tensor: torch.Tensor, variant: str = "", derive: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """The cached oneDNN copy of ``tensor`` (of ``derive(tensor)`` for a named ``variant``),
    rebuilt when ``tensor`` was changed in place or replaced."""
    # Inference tensors (weights created under torch.inference_mode) keep no version counter;
    # they cannot be changed in place outside inference mode, so their storage identifies them.
    version = -1 if tensor.is_inference() else tensor._version
    key = (version, tensor.data_ptr(), tuple(tensor.shape), _POINTWISE is not None)
    slot = (id(tensor), variant)
    entry = _PREPARED.get(slot)
    if entry is None or entry[0]() is not tensor or entry[1] != key:
        ref = weakref.ref(tensor, functools.partial(_forget, slot))
        source = tensor.detach() if derive is None else derive(tensor.detach())
        entry = (ref, key, _pack(source))
        _PREPARED[slot] = entry
    return entry[2]


def prepared_in(
    tensor: torch.Tensor, dtype: torch.dtype, variant: str = "", derive: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
) -> torch.Tensor:
    """``prepared`` for products in ``dtype``: the cached oneDNN copy of ``derive(tensor)`` (or of
    ``tensor``) cast to ``dtype``; float32 shares the float32 entries."""
    if dtype == torch.float32:
        return prepared(tensor, variant, derive)

    def derive_cast(source: torch.Tensor) -> torch.Tensor:
        return (source if derive is None else derive(source)).to(dtype)

    return prepared(tensor, f"{variant}/{dtype}", derive_cast)


def pointwise_available() -> bool:
    """Whether the dense-in/dense-out oneDNN linear (and its fused post-ops) can be used at all."""
    return ENABLED and _POINTWISE is not None and torch.backends.mkldnn.is_available()


def padded_rows(rows: int, exact_up_to: int) -> int:
    """``rows`` rounded up to one of 8 sizes per power of two (at most 12.5% more) above
    ``exact_up_to``; unchanged up to it.

    WHY: oneDNN compiles and caches a kernel per input shape (0.3-1 MB each, up to 1,024 of
    them per process), so products over a varying number of rows (tokens in a batch) made
    the process grow by ~0.5 MB per new row count; padded, a few dozen shapes serve every size.
    """
    if rows <= exact_up_to:
        return rows
    step = 1
    while step * 16 <= rows:
        step *= 2
    return (rows + step - 1) // step * step


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``x [n, in] @ weight[out, in].T + bias`` (a new dense tensor). Inference only: no autograd.

    ``dtype=torch.bfloat16``: the product in bf16 (a cached bf16 copy of the float32 weight, float32
    accumulation inside oneDNN), the bias added in float32; the result is float32 either way.
    """
    if not usable(x, weight):
        return torch.nn.functional.linear(x, weight, bias)
    rows = x.shape[0]
    x = x.contiguous()
    padded = padded_rows(rows, EXACT_ROWS)
    if padded != rows:
        x = torch.constant_pad_nd(x, [0, 0, 0, padded - rows])
    if dtype == torch.bfloat16 and _POINTWISE is not None:
        out = _POINTWISE(x.to(torch.bfloat16), prepared_in(weight, torch.bfloat16), None, "none", [], "")[:rows]
        return out.float() if bias is None else torch.add(out, bias)  # bf16 + float32 -> float32
    if _POINTWISE is not None:  # dense in, dense out: no layout conversions
        return _POINTWISE(x, prepared(weight), bias, "none", [], "")[:rows]
    out = torch._C._nn.mkldnn_linear(x.to_mkldnn(), prepared(weight), None).to_dense()[:rows]
    if bias is not None:
        out += bias
    return out
