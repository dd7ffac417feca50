"""Registered, versioned architectures (also declared as ``spacy_architectures`` entry points,
so configs resolve them without importing spacy_elmo first)."""
from __future__ import annotations

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Floats3d

from .bilm_model import ElmoBiLMModel
from .listener import ElmoListener
from .standalone import StandaloneElmo


@registry.architectures("spacy-elmo.BiLM.v1")
def BiLM_v1(dropout: float = 0.0) -> Model[List[Doc], List[Floats3d]]:
    """The biLM over docs: each doc's ``[n_output_layers, n_tokens, dim]`` layers.

    Which weights, batching, long-doc splitting, frozen/stateful and the cache are settings of
    the 'elmo' component (they concern the component, and ``add_pipe`` takes them flat).
    ``dropout``: the biLM's own dropout on each LSTM layer's input, used only when the
    component is trainable (``frozen = false``) and training.
    """
    return ElmoBiLMModel(dropout=dropout)


@registry.architectures("spacy-elmo.ElmoListener.v1")
def ElmoListener_v1(
    width: Optional[int] = None,
    upstream: str = "*",
    layer_norm: bool = False,
    layer_dropout: float = 0.0,
    dropout: float = 0.0,
    initial_weights: Optional[List[float]] = None,
    initial_gamma: float = 1.0,
    tok2vec: Optional[Model[List[Doc], List[Floats2d]]] = None,
    mix_l2: float = 0.0,
) -> Model[List[Doc], List[Floats2d]]:
    """A tok2vec for any component: its own scalar mix of the upstream 'elmo' layers.

    width: project the mix to this width (null: no projection, the biLM's width).
    upstream: name of the 'elmo' component to listen to ("*" = any).
    layer_norm: normalise each layer per doc before mixing.
    layer_dropout: probability of dropping a whole layer from the softmax in training.
    dropout: dropout on the mixed vectors in training; the listener's own rate, independent of
      ``[training] dropout`` (which spaCy applies to the other layers of the component).
    mix_l2: L2 penalty on the mix logits' deviation from their mean, pulling the layer weights
      towards equal (Peters et al. 2018 found a small one helps; 0.001-0.01 is the usual range).
    initial_weights / initial_gamma: start of the mix (default: equal weights, gamma 1).
    tok2vec: an optional small trainable tok2vec (e.g. spacy.MultiHashEmbed.v2 on
      NORM/PREFIX/SUFFIX/SHAPE) whose vectors are concatenated after ELMo's.

    Several listeners may share one 'elmo' component. ``nlp.replace_listeners("elmo", NAME,
    ["model.tok2vec"])`` puts a ``spacy-elmo.StandaloneElmo.v1`` in its place (a frozen copy of the
    biLM and this listener's trained layers), so the component no longer needs the 'elmo' component.
    """
    return ElmoListener(
        upstream,
        width,
        layer_norm=layer_norm,
        layer_dropout=layer_dropout,
        dropout=dropout,
        initial_weights=initial_weights,
        initial_gamma=initial_gamma,
        mix_l2=mix_l2,
        tok2vec=tok2vec,
    )


#: What ``nlp.replace_listeners`` puts in an ``ElmoListener``'s place (see :func:`.standalone.StandaloneElmo`).
StandaloneElmo_v1 = registry.architectures("spacy-elmo.StandaloneElmo.v1")(StandaloneElmo)
