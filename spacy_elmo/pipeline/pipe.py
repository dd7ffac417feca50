"""The "elmo" pipeline component: runs the biLM over docs, stores all its layers on each doc,
and feeds them to downstream ``ElmoListener`` layers during training.

    nlp.add_pipe("elmo", config={"weights": "/path/to/model_dir"})
    doc = nlp("The bank of the river.")
    doc[1]._.elmo, doc[0:2]._.elmo, doc._.elmo, doc[1].similarity(doc[4])

Inference needs no ``nlp.initialize()``: the weights are read on first use.
"""
from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import SimpleFrozenList
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats3d

from ..atomic import write_text
from ..bilm import BiLM, load_native
from ..bilm.fast.threads import install_fork_handler
from ..errors import ElmoError
from ..layer_choice import mix_coefficients
from ..layers.bilm_model import ElmoBiLMModel
from ..layers.bilm_shim import WeightsSource
from ..layers.listener import DATA_ATTR, ElmoListener
from ..layers.standalone import install_replace_hooks
from ..layout import COMPONENT_CFG_NAME, PIPELINE_BILM_DIR
from .data import ElmoData
from .extensions import install_extensions, keep_vector_hooks_across_processes, set_vector_hooks
from .settings import ElmoSettings
from .stored_config import keep_stored_configs_current

DEFAULT_ELMO_MODEL = """
[model]
@architectures = "spacy-elmo.BiLM.v1"
dropout = 0.0
"""



def make_elmo(nlp: Language, name: str, model: Model[List[Doc], List[Floats3d]], **settings) -> "ElmoComponent":
    """The "elmo" factory. Its settings, their types and defaults are :class:`ElmoSettings`' fields
    (see its docstring); the signature below is made from them, so spaCy validates configs against
    that one declaration."""
    component = ElmoComponent(nlp.vocab, model, name, settings=ElmoSettings.from_config(**settings))
    keep_stored_configs_current(nlp)
    if component.settings.set_vector_hooks:
        keep_vector_hooks_across_processes(nlp)  # docs from worker processes get their hooks back
    return component


make_elmo.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("nlp", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Language),
        inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Model[List[Doc], List[Floats3d]]),
        *ElmoSettings.factory_parameters(),
    ],
    return_annotation="ElmoComponent",
)
Language.factory(
    "elmo",
    default_config={"model": Config().from_str(DEFAULT_ELMO_MODEL)["model"], **ElmoSettings.default_config()},
    # what nlp.analyze_pipes() reports: every layer on the doc, the vectors read from it, and (with
    # set_doc_tensor) doc.tensor; set_vector_hooks also routes .vector / .similarity through the hooks
    assigns=["doc._.elmo_data", "token._.elmo", "span._.elmo", "doc._.elmo", "doc.tensor"],
)(make_elmo)


class LanguageMismatchWarning(UserWarning):
    """The biLM was trained on another language than the pipeline's (``nlp.lang``)."""


class ElmoComponent(TrainablePipe):
    """Writes ``doc._.elmo_data`` (all layers) and feeds listeners; see module docstring."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "elmo", *, settings: Optional[ElmoSettings] = None):
        if not isinstance(model, ElmoBiLMModel):
            raise ElmoError(
                f"The 'elmo' component needs a spacy-elmo.BiLM.v1 model, got {getattr(model, 'name', model)!r}."
            )
        settings = settings if settings is not None else ElmoSettings()
        source = WeightsSource(settings.weights, settings.options_file, settings.weight_file)  # a wrong path fails here
        install_extensions()
        install_fork_handler()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[ElmoListener]] = {}
        self.settings = settings
        self.cfg: Dict = {}
        self._pending_update = False
        self.model.configure(settings, source)
        install_replace_hooks(self.model, settings)  # nlp.replace_listeners: see spacy_elmo.layers.standalone
        self.model.shim.on_load.append(self._on_bilm_loaded)

    @property
    def frozen(self) -> bool:
        return self.settings.frozen

    @property
    def output_mix(self):
        return self.settings.output_mix

    # -- the biLM -----------------------------------------------------------------------------------
    @property
    def bilm(self) -> BiLM:
        """The PyTorch biLM (loaded on first access)."""
        return self.model.bilm

    def _on_bilm_loaded(self, bilm: BiLM) -> None:
        for listener in self.listeners:
            listener.set_upstream_dims(bilm.options.n_output_layers, bilm.options.output_dim)
        lang = bilm.options.lang  # recorded where known (published models); an ELMoForManyLangs folder has none
        if lang is not None and lang != self.vocab.lang and not getattr(self, "_language_warned", False):
            self._language_warned = True
            warnings.warn(
                f"[spacy-elmo W003] The 'elmo' component's biLM is a {lang!r} model, but this pipeline's language is {self.vocab.lang!r}: "
                f"its vectors fit {lang!r} text. Use spacy.blank({lang!r}) (or a {lang!r} pipeline), or a biLM of "
                f"{self.vocab.lang!r}.",
                LanguageMismatchWarning,
                stacklevel=2,
            )

    def _mix(self) -> Optional[numpy.ndarray]:
        return mix_coefficients(self.settings.output_mix, self.bilm.options.n_output_layers)

    # -- listeners (the same protocol as spaCy's Tok2Vec, so Language links them) --------------------
    @property
    def listeners(self) -> List[ElmoListener]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: ElmoListener, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        shape = self._output_shape()
        if shape is not None:
            listener.set_upstream_dims(*shape)

    def _output_shape(self) -> Optional[tuple]:
        """``(n_output_layers, dim)`` of the biLM, read from its options file if the weights are not
        loaded yet, so that a listener knows its input before anything runs (``spacy debug model``,
        a config's shape inference). None while a saved pipeline is being restored (its listeners
        bring their dims with them)."""
        if self.model.shim.is_loaded:
            options = self.bilm.options
        else:
            source = self.model.shim.source
            if source is None:
                return None
            try:
                options = source.resolve().read_options()
            except (ElmoError, OSError):
                return None
        return options.n_output_layers, options.output_dim

    def remove_listener(self, listener: ElmoListener, component_name: str) -> bool:
        if component_name in self.listener_map and listener in self.listener_map[component_name]:
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            return True
        return False

    def find_listeners(self, component) -> None:
        """Register the ElmoListener layers of ``component`` that listen to this component (or to "*")."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, ElmoListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    # -- prediction ---------------------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[Floats3d]:
        docs = list(docs)
        if not docs:
            return []
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], outputs: List[Floats3d]) -> None:
        mix = self._mix()
        to_numpy = self.model.ops.to_numpy
        for doc, layers in zip(docs, outputs):
            data = ElmoData(to_numpy(layers), mix)
            doc._.set(DATA_ATTR, data)
            if self.settings.set_doc_tensor:
                doc.tensor = data.vectors  # numpy, as the rest of doc._.elmo_data
            if self.settings.set_vector_hooks:
                set_vector_hooks(doc)

    # -- training -----------------------------------------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the biLM on the batch and hand its layers to every listener.

        Frozen: listeners get no backprop callback (the cache spares the biLM on later epochs).
        Trainable: the listeners' gradients are summed and sent through the biLM once.
        """
        if losses is None:
            losses = {}
        examples = list(examples)
        validate_examples(examples, "ElmoComponent.update")
        losses.setdefault(self.name, 0.0)
        if not self.listeners:
            return losses
        docs = [eg.predicted for eg in examples]
        set_dropout_rate(self.model, drop)
        outputs, bp_outputs = self.model.begin_update(docs)
        batch_id = ElmoListener.get_batch_id(docs)
        if self.frozen:
            for listener in self.listeners:
                listener.receive(batch_id, outputs, None)
            return losses
        d_outputs = [self.model.ops.alloc3f(*out.shape) for out in outputs]

        def accumulate_gradient(one_d_outputs: List[Floats3d]) -> List:
            for i, grad in enumerate(one_d_outputs):
                d_outputs[i] += grad
                losses[self.name] += float(self.model.ops.xp.square(grad).sum())
            return []

        def backprop(one_d_outputs: List[Floats3d]) -> List:
            accumulate_gradient(one_d_outputs)
            bp_outputs(d_outputs)
            self._pending_update = True
            if sgd is not None:
                self.finish_update(sgd)
            return []

        for listener in self.listeners[:-1]:
            listener.receive(batch_id, outputs, accumulate_gradient)
        self.listeners[-1].receive(batch_id, outputs, backprop)
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Apply the biLM's accumulated gradients (trainable only).

        ``nlp.update`` calls this right after ``update``, before the listeners' components have
        sent their gradients back, so a step's gradients are applied at the next step's call, as
        for spaCy's own Tok2Vec with listeners. Nothing is applied when nothing is pending, so
        the optimizer never takes a momentum-only step on zero gradients.
        """
        if not self.frozen and self._pending_update:
            self.model.finish_update(sgd)
            self._pending_update = False

    def get_loss(self, examples, scores):  # pragma: no cover - the loss belongs to the listeners' components
        return 0.0, scores

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Read the weights (once; a no-op if already loaded) and tell the listeners the biLM's shape."""
        validate_get_examples(get_examples, "ElmoComponent.initialize")
        self.model.initialize()
        self._on_bilm_loaded(self.bilm)

    def add_label(self, label: str) -> int:  # pragma: no cover - spaCy API completeness
        raise NotImplementedError("The 'elmo' component has no labels.")

    # -- serialization: the weights go into the pipeline directory as a native model ----------------
    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "model" not in exclude:
            options = self.bilm.options
            # Recorded so that from_disk can refuse a biLM swapped for one of another shape.
            self.cfg["bilm_shape"] = [options.n_output_layers, options.output_dim]
        write_text(path / COMPONENT_CFG_NAME, srsly.json_dumps(self.cfg, indent=2))  # as srsly.write_json, atomically
        if "model" not in exclude:
            self.bilm.save(path / PIPELINE_BILM_DIR)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()) -> "ElmoComponent":
        path = Path(path)
        if (path / COMPONENT_CFG_NAME).is_file():
            self.cfg.update(srsly.read_json(path / COMPONENT_CFG_NAME))
        if "model" not in exclude:
            if not (path / PIPELINE_BILM_DIR).is_dir():
                raise ElmoError(
                    f"{path} has no {PIPELINE_BILM_DIR}/ directory with the biLM weights; the pipeline was not saved by "
                    "nlp.to_disk with an 'elmo' component, or is incomplete."
                )
            bilm = load_native(path / PIPELINE_BILM_DIR)
            saved = self.cfg.get("bilm_shape")
            found = [bilm.options.n_output_layers, bilm.options.output_dim]
            if saved is not None and list(saved) != found:
                raise ElmoError(
                    f"{path / PIPELINE_BILM_DIR} holds a biLM with {found[0]} output layers of width {found[1]}, but this "
                    f"pipeline was saved with {saved[0]} layers of width {saved[1]}: its trained components depend on "
                    "that biLM. Put the original biLM back, or retrain the pipeline on the new one."
                )
            self.model.shim.set_bilm(bilm)
        return self

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "ElmoComponent":
        super().from_bytes(bytes_data, exclude=exclude)
        # The settings are not in the serialized model (only the biLM and its dropout are): the
        # current config's ElmoSettings stay in force.
        return self
