"""Which output layers: one vocabulary, one parser, for ``embed --layers``, ``similarity --layers``,
``visualize word --layers``, Python's ``layers=`` (``BiLM.embed_sentences``) and the component's
``output_mix``. The same word means the same vectors in each place.

A biLM gives ``L = n_lstm_layers + 1`` output layers per token: 0 is the context-free token
layer (the character CNN), 1..L-1 the LSTM layers. A layer choice is one of

- ``"mix"``: what ``token._.elmo`` is (the component's ``output_mix``); where there is no component
  to ask (a bare biLM, or ``output_mix`` itself) the component's default mix, the average;
- ``"top"``: the last layer;
- ``"average"`` (also ``"mean"``): the mean of all layers;
- ``"all"`` (also ``"concat"``): every layer, in order;
- layer numbers, ``"0,2"`` (or an ``int``; in Python's ``layers=`` also a list of ``int`` s; negative
  numbers count from the top, ``-1`` is the top layer): those layers, in the order given.

:func:`select_layers` keeps a layer axis for ``"all"`` and layer numbers (``[k, n, D]``, as
``embed`` writes them) and gives ``[n, D]`` otherwise. Where one vector per token is needed
(``token._.elmo``, ``similarity``, ``visualize``) :func:`token_vectors` concatenates the kept
layers: ``"all"`` is ``[n, L * D]``, ``"0,2"`` is ``[n, 2 * D]``.

``output_mix`` also takes a list of numbers: always one fixed coefficient per layer, as it has since
before layer numbers were words there (a config file writes ``[0, 0, 1]`` as whole numbers, and that
must keep meaning "the top layer", not "layers 0, 0 and 1"); layer numbers there are ``"0,2"``.
Plain numpy: no spaCy, no torch.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy

from .errors import ElmoError

NAMED = ("mix", "top", "average", "all")
ALIASES = {"mean": "average", "concat": "all"}
#: Every word a layer choice takes, as error messages and ``--help`` name them.
CHOICES = "mix, top, average (or mean), all (or concat), or layer numbers such as 0,2 (0 = the token layer, -1 = the top)"
#: The same words as ``--help`` gives them for ``--layers``.
LAYERS_HELP = "mix (token._.elmo), top, average (or mean), all (or concat), or layer numbers such as 0,2 (0 = the token layer, -1 = the top)"
#: What a caller may pass: a word, a layer number, or layer numbers.
LayerChoice = Union[str, int, Sequence[int]]
#: What :func:`parse_layers` gives: a word of :data:`NAMED`, or layer numbers.
LayerSpec = Union[str, Tuple[int, ...]]


def parse_layers(spec: LayerChoice, n_output_layers: Optional[int] = None, what: str = "--layers") -> LayerSpec:
    """A layer choice as ``"mix"``, ``"top"``, ``"average"``, ``"all"`` or a tuple of layer numbers.

    Numbers are checked against ``n_output_layers`` when it is known (and negative ones made
    positive), so a typo fails before hours of embedding rather than after.
    """
    if isinstance(spec, bool):
        raise ElmoError(f"{what} {spec!r} is not a layer choice; use {CHOICES}.")
    if isinstance(spec, int):
        indices: Tuple[int, ...] = (spec,)
    elif isinstance(spec, str):
        text = spec.strip().lower()
        text = ALIASES.get(text, text)
        if text in NAMED:
            return text
        try:
            indices = tuple(int(part) for part in text.split(",") if part.strip() != "")
        except ValueError:
            indices = ()
    else:
        try:
            indices = tuple(_int(i) for i in spec)
        except (TypeError, ValueError):
            indices = ()
    if not indices:
        raise ElmoError(f"{what} {spec!r} is not understood: use {CHOICES}.")
    if n_output_layers is not None:
        bad = [i for i in indices if not -n_output_layers <= i < n_output_layers]
        if bad:
            raise ElmoError(
                f"{what} {spec!r} names layer {bad[0]}, but this model has {n_output_layers} output layers "
                f"(0 = token layer, 1..{n_output_layers - 1} = LSTM layers; -1 = the top)."
            )
        indices = tuple(i % n_output_layers for i in indices)
    return indices


def _int(value) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(value)
    return int(value)


def select_layers(layers: numpy.ndarray, spec: LayerSpec, mixed: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """``[L, n, D]`` -> ``[n, D]`` (``top``, ``average``, ``mix``) or ``[k, n, D]`` (``all``, layer numbers).

    ``mix`` is ``mixed`` (the component's ``[n, D']`` output); without it, the average.
    """
    if layers.ndim != 3:
        raise ValueError(f"expected [n_output_layers, n_tokens, dim], got shape {layers.shape}")
    if spec == "all":
        return layers
    if spec == "top":
        return layers[-1]
    if spec == "average":
        return layers.mean(axis=0)
    if spec == "mix":
        return mixed if mixed is not None else layers.mean(axis=0)
    return layers[[int(i) for i in spec]]


def token_vectors(layers: numpy.ndarray, spec: LayerSpec, mixed: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """One flat vector per token, ``[n, D']``: :func:`select_layers` with the kept layers concatenated."""
    selected = select_layers(layers, spec, mixed)
    if selected.ndim == 3:
        return numpy.concatenate(list(selected), axis=-1) if len(selected) else numpy.zeros((layers.shape[1], 0), layers.dtype)
    return selected


def mix_coefficients(output_mix, n_output_layers: int) -> Optional[numpy.ndarray]:
    """The fixed coefficients of an ``output_mix`` for ``n_output_layers`` layers: ``[L]`` for one linear mix
    (``token._.elmo = sum_l c[l] * layer_l``), ``[k, L]`` for ``k`` of them concatenated (layer numbers
    ``"0,2"``: one row per kept layer), None for all layers concatenated. The same vectors as
    :func:`token_vectors` gives for the same word.
    """
    if _is_coefficients(output_mix):
        weights = numpy.asarray(list(output_mix), dtype=numpy.float32)
        if weights.shape != (n_output_layers,):
            raise ValueError(
                f"'elmo' output_mix has {weights.size} coefficients, but the biLM has {n_output_layers} output layers."
            )
        return weights
    spec = check_output_mix(output_mix, n_output_layers)
    if spec in ("average", "mix"):  # output_mix "mix" names the component's default mix
        return numpy.full((n_output_layers,), 1.0 / n_output_layers, dtype=numpy.float32)
    if spec == "top":
        return numpy.eye(n_output_layers, dtype=numpy.float32)[-1]
    if spec == "all":
        return None
    rows = numpy.eye(n_output_layers, dtype=numpy.float32)[[int(i) for i in spec]]
    return rows[0] if len(rows) == 1 else rows


def check_output_mix(output_mix, n_output_layers: Optional[int] = None) -> LayerSpec:
    """Validate an ``output_mix``; ``ValueError`` (the component's settings are checked as values) names the choices."""
    if _is_coefficients(output_mix):
        bad = [v for v in output_mix if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ValueError(f"'elmo' output_mix {list(output_mix)!r} has {bad[0]!r}, not a number: a list is one coefficient "
                             "per layer, e.g. [0.2, 0.3, 0.5]; for layer numbers write a string such as \"0,2\".")
        return "all"  # coefficients: checked against the biLM by mix_coefficients
    try:
        return parse_layers(output_mix, n_output_layers, what="'elmo' output_mix")
    except ElmoError as err:
        raise ValueError(f"{err} output_mix also takes a list of one coefficient per layer, e.g. [0.2, 0.3, 0.5].") from None


def _is_coefficients(output_mix) -> bool:
    """In ``output_mix`` a list is coefficients, whole numbers or not (see the module docstring)."""
    return isinstance(output_mix, (list, tuple))
