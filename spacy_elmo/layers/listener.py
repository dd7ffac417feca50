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

The forward is a chain of small steps, each with its own backprop: relay (the component's
outputs), layer norm and scalar mix (the array form of :mod:`spacy_elmo.bilm.scalar_mix`, the
package's one mix), dropout, projection (Thinc's ``Linear``), the tok2vec beside it. After its
backprop the listener drops the batch it was sent, as spacy-transformers' listener does, so a
batch's layers do not live on until the next one.

The mix dropout is the listener's own rate, kept in ``attrs["elmo_dropout"]`` rather than
in a thinc ``Dropout`` layer: spaCy sets every ``dropout_rate`` inside a component to
``[training] dropout`` before each update, which would silently override it.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, cast

import numpy
from spacy.tokens import Doc
from thinc.api import Linear, Model
from thinc.types import Floats1d, Floats2d, Floats3d, Ints1d

from ..bilm.scalar_mix import normalise_per_sequence, scalar_mix, softmax

LISTENER_NAME = "elmo-listener"
#: Where the 'elmo' component stores a doc's layers (``doc._.elmo_data``); the listener reads them
#: there when it predicts. Declared here, below the component, which registers the extension.
DATA_ATTR = "elmo_data"


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

    def release(self, batch_id: int) -> None:
        """Drop the stored outputs of batch ``batch_id`` (after its backprop), unless a newer batch came since."""
        if self._batch_id == batch_id:
            self._batch_id, self._outputs, self._backprop = None, None, None

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
        return softmax(numpy, self.ops.to_numpy(self.get_param("mix_weights")))

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
        model.set_param("mix_weights", model.ops.asarray1f(weights.tolist()))
        model.set_param("gamma", model.ops.asarray1f([float(model.attrs["initial_gamma"])]))
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


def _relay(model: ElmoListener, docs: List[Doc], is_train: bool):
    """The biLM layers for ``docs`` and the upstream backprop (None if nothing to send back): what the
    'elmo' component sent for this training batch, else what it stored on the docs."""
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
    """Relay (the component's outputs), then :func:`mixed_forward`."""
    relayed_batch = model._batch_id if is_train else None
    layers_per_doc, upstream_backprop = _relay(model, docs, is_train)
    outputs, backprop = mixed_forward(model, docs, layers_per_doc, upstream_backprop, is_train)
    if relayed_batch is None:
        return outputs, backprop

    def backprop_and_release(d_outputs: List[Floats2d]) -> List[Doc]:
        result = backprop(d_outputs)
        model.release(relayed_batch)
        return result

    return outputs, backprop_and_release


def mixed_forward(model: ElmoListener, docs: List[Doc], layers_per_doc: List[Floats3d],
                  upstream_backprop: Optional[Callable], is_train: bool):
    """The listener's own layers over given biLM layers: (layer norm), scalar mix, dropout,
    (projection), (beside a small tok2vec), each step a small layer with its own backprop, chained
    back in reverse order. ``upstream_backprop`` (None: nothing to send) gets the layers' gradients.
    Shared by the listener and by a standalone model (:mod:`.standalone`), which runs its own biLM."""
    ops, xp = model.ops, model.ops.xp
    lengths = [int(x.shape[1]) for x in layers_per_doc]
    X = xp.concatenate(layers_per_doc, axis=1) if layers_per_doc else ops.alloc3f(model.get_dim("nL"), 0, model.get_dim("nD"))
    if model.attrs["layer_norm"]:
        X, bp_norm = normalise_per_sequence(xp, X, lengths)
    else:
        bp_norm = None
    Y, bp_mix = scalar_mix(xp, _mix_logits(model, is_train), model.get_param("gamma"), X)
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
    n_per_doc = cast(Ints1d, numpy.asarray(lengths, dtype="i"))  # host-side lengths: slicing needs no device sync
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
        d_logits, d_gamma, dX = bp_mix(bp_dropout(dY), input_grad=upstream_backprop is not None)
        model.inc_grad("gamma", d_gamma.astype("f"))
        if model.attrs["mix_l2"] > 0:
            w = cast(Floats1d, model.get_param("mix_weights"))  # equal logits <=> equal layer weights
            d_logits = d_logits + model.attrs["mix_l2"] * (w - w.mean())
        model.inc_grad("mix_weights", d_logits.astype("f"))
        if upstream_backprop is not None:
            dX = bp_norm(dX) if bp_norm is not None else dX
            offsets = numpy.cumsum([0] + lengths)
            upstream_backprop([dX[:, offsets[i] : offsets[i + 1]] for i in range(len(lengths))])
        return []

    return outputs, backprop


def _mix_logits(model: ElmoListener, is_train: bool):
    """The mix logits; in training with ``layer_dropout``, whole layers dropped (logit -inf), never all of them."""
    logits = model.get_param("mix_weights")
    n_output_layers = model.get_dim("nL")
    if is_train and model.attrs["layer_dropout"] > 0:
        keep = numpy.random.uniform(size=(n_output_layers,)) >= model.attrs["layer_dropout"]
        if not keep.any():
            keep[numpy.random.randint(n_output_layers)] = True
        logits = model.ops.xp.where(model.ops.asarray(keep), logits, -numpy.inf)
    return logits


def _dropout(ops, Y, rate: float):
    """Inverted dropout on the mixed vectors; identity (and no mask) when ``rate`` is 0."""
    if rate <= 0.0:
        return Y, lambda dY: dY
    mask = ops.get_dropout_mask(Y.shape, rate)
    return Y * mask, lambda dY: dY * mask
