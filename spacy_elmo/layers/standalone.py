"""ELMo without an 'elmo' component: a downstream component's own frozen biLM and its own mix.

What ``nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])`` puts in place of the NER's
:class:`~.listener.ElmoListener`, the way spacy-transformers makes a listener standalone: the 'elmo'
component's model carries two hooks in its ``attrs``, which spaCy calls,

- ``replace_listener(copy, listener, component)``: the model object, an :class:`ElmoStandalone`
  holding a frozen copy of the component's biLM (with the component's splitting and batching) and
  a copy of the listener with its trained mix, projection and tok2vec;
- ``replace_listener_cfg(bilm_cfg, listener_cfg)``: the same as a config block
  (``spacy-elmo.StandaloneElmo.v1``), so the component's saved config rebuilds it.

The standalone model reads no ``doc._.elmo_data``: it runs its biLM on the docs it is given, so
the component can be sourced into a pipeline without an 'elmo' component and predicts what it did
before the replacement. Its biLM never trains (the copy is frozen); its mix does.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .bilm_model import ElmoBiLMModel, StandaloneSettings
from .bilm_shim import WeightsSource
from .listener import ElmoListener, listener_init, mixed_forward
from .splitting import DEFAULT_SPLITTER, Splitter

STANDALONE_NAME = "elmo-standalone"
STANDALONE_ARCHITECTURE = "spacy-elmo.StandaloneElmo.v1"
LISTENER_ARCHITECTURE = "spacy-elmo.ElmoListener.v1"
#: ``upstream_name`` of a listener inside a standalone model: no 'elmo' component registers it.
NO_UPSTREAM = "(standalone)"


class ElmoStandalone(Model):
    """``List[Doc] -> List[Floats2d]``: its own frozen biLM, then its own mix (a listener's layers)."""

    name = STANDALONE_NAME

    def __init__(self, bilm: ElmoBiLMModel, mix: ElmoListener):
        mix.upstream_name = NO_UPSTREAM
        super().__init__(self.name, forward=standalone_forward, init=standalone_init, layers=[bilm, mix],
                         dims={"nO": mix.get_dim("nO") if mix.has_dim("nO") else None})

    @property
    def bilm_model(self) -> ElmoBiLMModel:
        return self.layers[0]  # type: ignore[return-value]

    @property
    def mix(self) -> ElmoListener:
        return self.layers[1]  # type: ignore[return-value]


def _know_the_bilm(model: ElmoStandalone) -> None:
    options = model.bilm_model.bilm.options
    model.mix.set_upstream_dims(options.n_output_layers, options.output_dim)
    if model.mix.has_dim("nO") and not model.has_dim("nO"):
        model.set_dim("nO", model.mix.get_dim("nO"))


def standalone_init(model: ElmoStandalone, X: Optional[List[Doc]] = None, Y=None) -> ElmoStandalone:
    """Read the weights (unless copied or deserialized already), then initialize the mix for them."""
    model.bilm_model.initialize()
    _know_the_bilm(model)
    listener_init(model.mix, X, Y)
    model.set_dim("nO", model.mix.get_dim("nO"))
    return model


def standalone_forward(model: ElmoStandalone, docs: List[Doc], is_train: bool):
    layers = model.bilm_model.predict(docs)  # frozen: nothing flows back into the biLM
    return mixed_forward(model.mix, docs, layers, None, is_train)


def StandaloneElmo(
    bilm: ElmoBiLMModel,
    mix: ElmoListener,
    weights: Optional[str] = None,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    split: Optional[Splitter] = None,
    batch_size: int = 64,
    max_batch_tokens: int = 4096,
    stateful: bool = False,
    cache_size_mb: float = 0.0,
    precision: str = "fp32",
) -> ElmoStandalone:
    """``spacy-elmo.StandaloneElmo.v1``: a tok2vec with its own frozen biLM and its own mix, what
    ``nlp.replace_listeners`` puts in an ``ElmoListener``'s place (spaCy writes this block into the
    component's config).

    bilm: a ``spacy-elmo.BiLM.v1`` block; it runs frozen (its dropout is unused).
    mix: a ``spacy-elmo.ElmoListener.v1`` block (its ``upstream`` is unused: nothing is listened to).
    weights / options_file / weight_file, split, batch_size, max_batch_tokens, stateful, precision: as the
      'elmo' component's settings of the same names (copied from it). A saved pipeline keeps its own
      copy of the biLM, so the weights are read only when such a block is trained from scratch.
    cache_size_mb: a layer cache for this biLM (0: none; the copy's cache starts empty).
    """
    if not isinstance(bilm, ElmoBiLMModel) or not isinstance(mix, ElmoListener):
        raise ValueError(
            f"{STANDALONE_ARCHITECTURE} needs bilm = a spacy-elmo.BiLM.v1 block and mix = a {LISTENER_ARCHITECTURE} block."
        )
    settings = StandaloneSettings(split=split or DEFAULT_SPLITTER, batch_size=batch_size,
                                  max_batch_tokens=max_batch_tokens, stateful=stateful, cache_size_mb=cache_size_mb,
                                  precision=precision)
    bilm.configure(settings, WeightsSource(weights, options_file, weight_file))
    return ElmoStandalone(bilm, mix)


# -- the two hooks spaCy's replace_listeners calls ---------------------------------------------------
def replace_listener(copied: Model, listener: ElmoListener, component: Any) -> ElmoStandalone:
    """The model that takes ``listener``'s place: ``copied`` (the 'elmo' model's frozen copy, see
    ``ElmoBiLMModel.copy``) and a copy of the listener's trained layers."""
    if not isinstance(copied, ElmoBiLMModel):
        raise ValueError(f"replace_listener got {type(copied).__name__}, not the 'elmo' component's model copy.")
    mix = copy.deepcopy(listener)
    if mix._batch_id is not None:
        mix.release(mix._batch_id)
    standalone = ElmoStandalone(copied, mix)
    _know_the_bilm(standalone)
    return standalone


def install_replace_hooks(model: ElmoBiLMModel, settings: Any) -> None:
    """Give the 'elmo' component's model the two hooks spaCy's ``replace_listeners`` looks for.
    ``settings``: the component's (``ElmoSettings``); those the standalone block needs go with it."""
    model.attrs["replace_listener"] = replace_listener
    model.attrs["replace_listener_cfg"] = ReplaceListenerConfig({
        "weights": settings.weights, "options_file": settings.options_file, "weight_file": settings.weight_file,
        "split": settings.split.config, "batch_size": settings.batch_size,
        "max_batch_tokens": settings.max_batch_tokens, "stateful": settings.stateful,
        "precision": settings.precision,  # else a bf16 component's replaced listeners would run fp32, silently
    })


class ReplaceListenerConfig:
    """``replace_listener_cfg``: the standalone block for a listener block, with the 'elmo'
    component's settings (which are the component's, not in its model block). Picklable."""

    def __init__(self, settings: Dict[str, Any]):
        self.settings = dict(settings)

    def __call__(self, bilm_cfg: Dict[str, Any], listener_cfg: Dict[str, Any]) -> Dict[str, Any]:
        mix = find_listener_block(listener_cfg)
        return {"@architectures": STANDALONE_ARCHITECTURE, "bilm": copy.deepcopy(dict(bilm_cfg)),
                "mix": copy.deepcopy(dict(mix)), **copy.deepcopy(self.settings)}


def find_listener_block(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The ``ElmoListener.v1`` block in ``cfg`` (itself, or nested as in ``spacy-elmo.ElmoTok2Vec.v1``).

    spaCy hands ``replace_listener_cfg`` the component's ``model.tok2vec`` block whatever the
    listener's path, so a listener deeper inside (``model.tok2vec.elmo``) is looked for."""
    if cfg.get("@architectures") == LISTENER_ARCHITECTURE:
        return cfg
    for value in cfg.values():
        if isinstance(value, dict):
            try:
                return find_listener_block(value)
            except LookupError:
                continue
    raise LookupError(f"No {LISTENER_ARCHITECTURE} block in {cfg.get('@architectures', cfg)!r}.")
