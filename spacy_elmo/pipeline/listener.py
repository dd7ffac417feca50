"""``ElmoListener``: the tok2vec-slot layer that feeds ELMo to a downstream component.

Like spaCy's ``Tok2VecListener`` it receives the upstream 'elmo' component's outputs
during ``update`` (and sends gradients back), and reads ``doc._.elmo_data`` at
prediction time, because components batch docs differently when predicting. Unlike a
plain listener it owns the task-specific part of ELMo (Peters et al. 2018, eq. 1):

    h_k = gamma * sum_j softmax(w)_j * LN(layer_j)_k

with optional per-doc layer norm, optional *layer dropout* (whole layers dropped from
the softmax during training, as in UDify), dropout on the mix, an L2 penalty that pulls
the layer weights towards equal (the paper's regulariser), an optional projection to
``width``, and optionally a small trainable tok2vec whose output is concatenated, which
is how the paper used ELMo: beside the task's own token features.

The mix dropout is the listener's own rate, kept in ``attrs["elmo_dropout"]`` rather than
in a thinc ``Dropout`` layer: spaCy sets every ``dropout_rate`` inside a component to
``[training] dropout`` before each update, which would silently override it.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy
from spacy.tokens import Doc
from thinc.api import Linear, Model
from thinc.types import Floats2d, Floats3d

from .extensions import DATA_ATTR

LISTENER_NAME = "elmo-listener"
LN_EPS = 1e-12  # same as spacy_elmo.bilm.ScalarMix's masked layer norm


class ElmoListener(Model):
    """Receives ``List[[n_output_layers, n_tokens, dim]]`` from the upstream 'elmo' component.

    Dims: ``nL`` (biLM output layers) and ``nD`` (their width) are set by the upstream
    component once it knows its biLM (``set_upstream_dims``); ``nO`` is the output width.
    """

    name = LISTENER_NAME

    def __init__(
        self,
        upstream_name: str = "*",
        width: Optional[int] = None,
        *,
        layer_norm: bool = False,
        layer_dropout: float = 0.0,
        dropout: float = 0.0,
        initial_weights: Optional[Sequence[float]] = None,
        initial_gamma: float = 1.0,
        mix_l2: float = 0.0,
        tok2vec: Optional[Model] = None,
    ):
        if width is not None and width < 1:
            raise ValueError(f"ElmoListener width must be a positive int or null (no projection), got {width}.")
        if not 0.0 <= layer_dropout < 1.0:
            raise ValueError(f"ElmoListener layer_dropout must be in [0, 1), got {layer_dropout}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ElmoListener dropout must be in [0, 1), got {dropout}.")
        if mix_l2 < 0.0:
            raise ValueError(f"ElmoListener mix_l2 must be >= 0, got {mix_l2}.")
        projection = Linear(nO=width) if width is not None else None
        layers = ([projection] if projection is not None else []) + ([tok2vec] if tok2vec is not None else [])
        Model.__init__(
            self,
            self.name,
            forward=listener_forward,
            init=listener_init,
            dims={"nO": None, "nL": None, "nD": None},
            params={"mix_weights": None, "gamma": None},
            layers=layers,
            refs={"projection": projection, "tok2vec": tok2vec},
            attrs={
                "layer_norm": bool(layer_norm),
                "layer_dropout": float(layer_dropout),
                "elmo_dropout": float(dropout),
                "mix_l2": float(mix_l2),
                "initial_weights": None if initial_weights is None else [float(w) for w in initial_weights],
                "initial_gamma": float(initial_gamma),
                "width": width,
            },
        )
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[Floats3d]] = None
        self._backprop: Optional[Callable] = None
        self._update_nO()

    # -- wiring with the upstream component ---------------------------------------------------
    @classmethod
    def get_batch_id(cls, inputs: Sequence[Doc]) -> int:
        """Content hash of a batch, to catch a listener being fed another batch's outputs."""
        return sum(sum(token.orth for token in doc) for doc in inputs)

    def receive(self, batch_id: int, outputs: List[Floats3d], backprop: Optional[Callable]) -> None:
        """Store the upstream outputs of a training batch; ``backprop`` is None for a frozen biLM."""
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def set_upstream_dims(self, n_output_layers: int, dim: int) -> None:
        for name, value in (("nL", n_output_layers), ("nD", dim)):
            if self.has_dim(name) and self.get_dim(name) != value:
                raise ValueError(
                    f"This ElmoListener was built for a biLM with {self.get_dim('nL')} layers of width "
                    f"{self.get_dim('nD')}, but the 'elmo' component now gives {n_output_layers} layers of width {dim}. "
                    "A trained listener cannot switch biLMs: retrain the downstream component."
                )
            self.set_dim(name, value)
        self._update_nO()

    def _update_nO(self) -> None:
        width = self.attrs["width"]
        if width is None and self.has_dim("nD"):
            width = self.get_dim("nD")
        tok2vec = self.get_ref("tok2vec") if self.has_ref("tok2vec") else None
        if width is None:
            return
        if tok2vec is not None:
            if not tok2vec.has_dim("nO"):
                return
            width += tok2vec.get_dim("nO")
        if not self.has_dim("nO"):
            self.set_dim("nO", width)

    @property
    def mix_weights(self) -> numpy.ndarray:
        """The normalized (softmax) layer weights, as a numpy array."""
        w = self.ops.to_numpy(self.get_param("mix_weights"))
        e = numpy.exp(w - w.max())
        return e / e.sum()

    @property
    def gamma(self) -> float:
        return float(self.ops.to_numpy(self.get_param("gamma"))[0])


def listener_init(model: ElmoListener, X: Optional[List[Doc]] = None, Y=None) -> ElmoListener:
    if not model.has_dim("nL") or not model.has_dim("nD"):
        raise ValueError(
            "ElmoListener does not know its biLM yet: the 'elmo' component it listens to "
            f"(upstream {model.upstream_name!r}) must come before this component in the pipeline and be "
            "initialized first (nlp.initialize() does both when 'elmo' is earlier in the pipeline)."
        )
    n_output_layers, dim = model.get_dim("nL"), model.get_dim("nD")
    initial = model.attrs["initial_weights"]
    if initial is not None and len(initial) != n_output_layers:
        raise ValueError(f"ElmoListener initial_weights has {len(initial)} values but the biLM has {n_output_layers} output layers.")
    if not model.has_param("mix_weights"):
        weights = numpy.zeros((n_output_layers,), dtype="f") if initial is None else numpy.asarray(initial, dtype="f")
        model.set_param("mix_weights", model.ops.asarray1f(weights))
        model.set_param("gamma", model.ops.asarray1f(numpy.asarray([model.attrs["initial_gamma"]], dtype="f")))
    projection = model.get_ref("projection") if model.has_ref("projection") else None
    if projection is not None:
        if not projection.has_dim("nI"):
            projection.set_dim("nI", dim)
        projection.initialize()
    tok2vec = model.get_ref("tok2vec") if model.has_ref("tok2vec") else None
    if tok2vec is not None:
        tok2vec.initialize(X=X)
    model._update_nO()
    return model


def _upstream_layers(model: ElmoListener, docs: List[Doc], is_train: bool):
    """The biLM layers for ``docs`` and the upstream backprop (None if nothing to send back)."""
    if is_train and model._batch_id is not None:
        batch_id = model.get_batch_id(docs)
        if batch_id != model._batch_id:
            raise ValueError(
                f"ElmoListener got a batch (id {batch_id}) other than the one the 'elmo' component last sent "
                f"(id {model._batch_id}). Update the 'elmo' component on the same batch first (nlp.update does)."
            )
        return model._outputs, model._backprop
    # Prediction (or training with 'elmo' in [training] frozen_components + annotating_components):
    # read the layers the component stored on the docs; zeros where it has not run (e.g. during nlp.initialize).
    n_output_layers, dim = model.get_dim("nL"), model.get_dim("nD")
    outputs = []
    for doc in docs:
        data = doc._.get(DATA_ATTR)
        if data is None:
            if is_train and len(doc):
                raise ValueError(
                    "ElmoListener is training but got neither outputs from the 'elmo' component nor "
                    "doc._.elmo_data: with 'elmo' in [training] frozen_components, also list it in "
                    "[training] annotating_components (or leave it out of frozen_components and set its "
                    "own 'frozen = true', which also caches the biLM's layers)."
                )
            outputs.append(model.ops.alloc3f(n_output_layers, len(doc), dim))
            continue
        if data.layers.shape != (n_output_layers, len(doc), dim):
            raise ValueError(
                f"doc._.{DATA_ATTR} has layers of shape {data.layers.shape}, but this ElmoListener expects "
                f"({n_output_layers}, {len(doc)}, {dim}): the doc was embedded by another biLM or changed afterwards."
            )
        outputs.append(model.ops.asarray3f(data.layers))
    return outputs, None


def listener_forward(model: ElmoListener, docs: List[Doc], is_train: bool):
    ops, xp = model.ops, model.ops.xp
    layers_per_doc, upstream_backprop = _upstream_layers(model, docs, is_train)
    n_output_layers, dim = model.get_dim("nL"), model.get_dim("nD")
    lengths = [int(x.shape[1]) for x in layers_per_doc]
    X = xp.concatenate(layers_per_doc, axis=1) if layers_per_doc else ops.alloc3f(n_output_layers, 0, dim)

    if model.attrs["layer_norm"]:
        Xn, stats = _layer_norm(ops, X, lengths)
    else:
        Xn, stats = X, None

    logits = model.get_param("mix_weights")
    gamma = model.get_param("gamma")
    if is_train and model.attrs["layer_dropout"] > 0:
        keep = numpy.random.uniform(size=(n_output_layers,)) >= model.attrs["layer_dropout"]
        if not keep.any():
            keep[numpy.random.randint(n_output_layers)] = True
        logits = xp.where(ops.asarray(keep), logits, -numpy.inf)
    s = _softmax(xp, logits)
    mixed = xp.tensordot(s, Xn, axes=([0], [0]))  # [N, D]
    Y = gamma[0] * mixed

    Y, bp_dropout = _dropout(ops, Y, model.attrs["elmo_dropout"] if is_train else 0.0)
    projection = model.get_ref("projection") if model.has_ref("projection") else None
    if projection is not None:
        Y, bp_projection = projection(Y, is_train)
    tok2vec = model.get_ref("tok2vec") if model.has_ref("tok2vec") else None
    if tok2vec is not None:
        T_per_doc, bp_tok2vec = tok2vec(docs, is_train)
        T = xp.concatenate(T_per_doc, axis=0) if T_per_doc else ops.alloc2f(0, tok2vec.get_dim("nO"))
        out = xp.concatenate([Y, T], axis=1)
    else:
        out = Y
    elmo_width = Y.shape[1]
    n_per_doc = numpy.asarray(lengths, dtype="i")  # host-side lengths: slicing needs no device sync
    outputs: List[Floats2d] = ops.unflatten(out, n_per_doc) if lengths else []

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_out = ops.flatten(d_outputs) if d_outputs else ops.alloc2f(0, out.shape[1])
        if tok2vec is not None:
            dT = d_out[:, elmo_width:]
            bp_tok2vec(ops.unflatten(xp.ascontiguousarray(dT), n_per_doc) if lengths else [])
            dY = xp.ascontiguousarray(d_out[:, :elmo_width])
        else:
            dY = d_out
        if projection is not None:
            dY = bp_projection(dY)
        dY = bp_dropout(dY)
        model.inc_grad("gamma", (dY * mixed).sum().reshape((1,)).astype("f"))
        d_mixed = gamma[0] * dY
        ds = xp.tensordot(Xn, d_mixed, axes=([1, 2], [0, 1]))  # [L]
        d_logits = s * (ds - (s * ds).sum())
        if model.attrs["mix_l2"] > 0:
            w = model.get_param("mix_weights")  # equal logits <=> equal layer weights
            d_logits = d_logits + model.attrs["mix_l2"] * (w - w.mean())
        model.inc_grad("mix_weights", d_logits.astype("f"))
        if upstream_backprop is not None:
            dXn = s[:, None, None] * d_mixed[None, :, :]
            dX = _layer_norm_backprop(ops, dXn, stats, lengths) if stats is not None else dXn
            offsets = numpy.cumsum([0] + lengths)
            upstream_backprop([dX[:, offsets[i] : offsets[i + 1]] for i in range(len(lengths))])
        return []

    return outputs, backprop


def _dropout(ops, Y, rate: float):
    """Inverted dropout on the mixed vectors; identity (and no mask) when ``rate`` is 0."""
    if rate <= 0.0:
        return Y, lambda dY: dY
    mask = ops.get_dropout_mask(Y.shape, rate)
    return Y * mask, lambda dY: dY * mask


def _softmax(xp, logits):
    e = xp.exp(logits - logits.max())
    return e / e.sum()


def _layer_norm(ops, X, lengths):
    """Normalise each layer of each doc over its ``(n_tokens, dim)`` entries (as ScalarMix does)."""
    xp = ops.xp
    Xn = xp.empty_like(X)
    inv_std = []
    start = 0
    for n in lengths:
        part = X[:, start : start + n]
        if n == 0:
            inv_std.append(xp.zeros((X.shape[0], 1, 1), dtype="f"))
            continue
        mean = part.mean(axis=(1, 2), keepdims=True)
        var = ((part - mean) ** 2).mean(axis=(1, 2), keepdims=True)
        inv = 1.0 / xp.sqrt(var + LN_EPS)
        Xn[:, start : start + n] = (part - mean) * inv
        inv_std.append(inv)
        start += n
    return Xn, (Xn, inv_std)


def _layer_norm_backprop(ops, dXn, stats, lengths):
    xp = ops.xp
    Xn, inv_std = stats
    dX = xp.empty_like(dXn)
    start = 0
    for n, inv in zip(lengths, inv_std):
        if n == 0:
            continue
        g = dXn[:, start : start + n]
        xhat = Xn[:, start : start + n]
        dX[:, start : start + n] = inv * (
            g - g.mean(axis=(1, 2), keepdims=True) - xhat * (g * xhat).mean(axis=(1, 2), keepdims=True)
        )
        start += n
    return dX
