"""The "elmo" pipeline component: runs the biLM over docs, stores all its layers on each doc,
and feeds them to downstream ``ElmoListener`` layers during training.

    nlp.add_pipe("elmo", config={"weights": "/path/to/model_dir"})
    doc = nlp("The bank of the river.")
    doc[1]._.elmo, doc[0:2]._.elmo, doc._.elmo, doc[1].similarity(doc[4])

Inference needs no ``nlp.initialize()``: the weights are read on first use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import SimpleFrozenList, ensure_path
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats3d

from ..bilm import BiLM
from ..bilm.errors import ElmoError
from ..bilm.io_native import load_native
from .data import ElmoData
from .extensions import DATA_ATTR, install_extensions, keep_vector_hooks_across_processes, set_vector_hooks
from .layers import ElmoBiLMModel, WeightsSource
from .listener import ElmoListener

OutputMix = Union[str, int, List[float]]

DEFAULT_ELMO_MODEL = """
[model]
@architectures = "spacy-elmo.BiLM.v1"
dropout = 0.0
"""

BILM_DIR = "bilm"


@Language.factory(
    "elmo",
    default_config={
        "model": Config().from_str(DEFAULT_ELMO_MODEL)["model"],
        "weights": None,
        "options_file": None,
        "weight_file": None,
        "frozen": True,
        "stateful": False,
        "batch_size": 64,
        "max_batch_tokens": 4096,
        "split_sentences": "sentencizer",
        "window_size": 256,
        "window_overlap": 64,
        "cache_size_mb": 512.0,
        "output_mix": "mean",
        "set_vector_hooks": True,
    },
)
def make_elmo(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats3d]],
    weights: Optional[str],
    options_file: Optional[str],
    weight_file: Optional[str],
    frozen: bool,
    stateful: bool,
    batch_size: int,
    max_batch_tokens: int,
    split_sentences: Union[bool, str],
    window_size: int,
    window_overlap: int,
    cache_size_mb: float,
    output_mix: OutputMix,
    set_vector_hooks: bool,
) -> "ElmoComponent":
    """Settings:

    weights: a spacy-elmo model directory (options.json + weights.safetensors), a directory with one
        original options.json + .hdf5, or a saved spaCy pipeline with an 'elmo' component (its biLM);
        null with no options_file means the packaged default model.
    options_file + weight_file: original ELMo weights (read once, at initialize or first use).
    frozen: keep the biLM fixed (listeners still train their mix); false fine-tunes it.
    stateful: carry LSTM states across batches as the original TF code (vectors then depend on order).
    batch_size / max_batch_tokens: rows per biLM call and the cap on rows x longest segment.
    split_sentences: embed each sentence on its own, as the original ELMo and this package's
        pretraining do. "sentencizer" (default): the doc's own sentences when it has boundaries (a
        sentencizer, parser or senter ran), else those of spaCy's rule-based sentencizer (the
        pretraining's rule), found for the biLM only and not written to the doc, so a downstream NER
        is not bound by them; true: only the doc's own boundaries (a doc without them is one
        sequence); false: the whole doc as one sequence (split only when longer than max_batch_tokens).
    window_size / window_overlap: how docs longer than max_batch_tokens are cut when they have no
        sentence boundaries (or a sentence is itself too long).
    cache_size_mb: bound of the layer cache used with a frozen, stateless biLM (0 turns it off).
    output_mix: what token._.elmo is: "mean" (of all layers), "top", "concat", a layer index, or a
        list of one fixed coefficient per layer (used as given).
    set_vector_hooks: make token/span/doc .vector and .similarity use these vectors.
    """
    component = ElmoComponent(
        nlp.vocab,
        model,
        name,
        source=WeightsSource(weights, options_file, weight_file),
        frozen=frozen,
        stateful=stateful,
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        split_sentences=split_sentences,
        window_size=window_size,
        window_overlap=window_overlap,
        cache_size_mb=cache_size_mb,
        output_mix=output_mix,
        set_vector_hooks=set_vector_hooks,
    )
    if set_vector_hooks:
        keep_vector_hooks_across_processes(nlp)  # docs from worker processes get their hooks back
    return component


def output_mix_coefficients(output_mix: OutputMix, n_layers: int) -> Optional[numpy.ndarray]:
    """The fixed coefficients of ``output_mix`` for ``n_layers`` output layers (None = concatenate)."""
    if isinstance(output_mix, str):
        if output_mix == "mean":
            return numpy.full((n_layers,), 1.0 / n_layers, dtype=numpy.float32)
        if output_mix == "top":
            return numpy.eye(n_layers, dtype=numpy.float32)[-1]
        if output_mix == "concat":
            return None
        raise ValueError(
            f"'elmo' output_mix={output_mix!r} is not known; use 'mean', 'top', 'concat', a layer index, "
            "or a list of one coefficient per layer."
        )
    if isinstance(output_mix, bool):
        raise ValueError(f"'elmo' output_mix must not be a bool, got {output_mix!r}.")
    if isinstance(output_mix, int):
        if not -n_layers <= output_mix < n_layers:
            raise ValueError(f"'elmo' output_mix={output_mix} is not a layer index of a biLM with {n_layers} output layers.")
        return numpy.eye(n_layers, dtype=numpy.float32)[output_mix]
    weights = numpy.asarray(list(output_mix), dtype=numpy.float32)
    if weights.shape != (n_layers,):
        raise ValueError(f"'elmo' output_mix has {weights.size} coefficients, but the biLM has {n_layers} output layers.")
    return weights


class ElmoComponent(TrainablePipe):
    """Writes ``doc._.elmo_data`` (all layers) and feeds listeners; see module docstring."""

    def __init__(
        self,
        vocab: Vocab,
        model: ElmoBiLMModel,
        name: str = "elmo",
        *,
        source: WeightsSource,
        frozen: bool = True,
        stateful: bool = False,
        batch_size: int = 64,
        max_batch_tokens: int = 4096,
        split_sentences: Union[bool, str] = "sentencizer",
        window_size: int = 256,
        window_overlap: int = 64,
        cache_size_mb: float = 512.0,
        output_mix: OutputMix = "mean",
        set_vector_hooks: bool = True,
    ):
        if not isinstance(model, ElmoBiLMModel):
            raise ElmoError(
                f"The 'elmo' component needs a spacy-elmo.BiLM.v1 model, got {getattr(model, 'name', model)!r}."
            )
        source.check_default_available()
        if isinstance(output_mix, str):
            output_mix_coefficients(output_mix, 1)  # fail at add_pipe on an unknown name
        install_extensions()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[ElmoListener]] = {}
        self.output_mix = output_mix
        self.set_hooks = set_vector_hooks
        self.frozen = frozen
        self.cfg: Dict = {}
        self._pending_update = False
        # Kept so from_disk/from_bytes can re-apply the same settings to a restored model.
        self._settings = dict(
            frozen=frozen, stateful=stateful, batch_size=batch_size, max_batch_tokens=max_batch_tokens,
            split_sentences=split_sentences, window_size=window_size, window_overlap=window_overlap, cache_size_mb=cache_size_mb,
        )
        self.model.configure(source, **self._settings)
        self.model.shim.on_load.append(self._on_bilm_loaded)

    # -- the biLM -----------------------------------------------------------------------------------
    @property
    def bilm(self) -> BiLM:
        """The PyTorch biLM (loaded on first access)."""
        return self.model.bilm

    def _on_bilm_loaded(self, bilm: BiLM) -> None:
        for listener in self.listeners:
            listener.set_upstream_dims(bilm.options.n_output_layers, bilm.options.output_dim)

    def _mix(self) -> Optional[numpy.ndarray]:
        return output_mix_coefficients(self.output_mix, self.bilm.options.n_output_layers)

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
        if self.model.shim.is_loaded:
            options = self.bilm.options
            listener.set_upstream_dims(options.n_output_layers, options.output_dim)

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
            doc._.set(DATA_ATTR, ElmoData(to_numpy(layers), mix))
            if self.set_hooks:
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
                losses[self.name] += float((grad ** 2).sum())
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
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "model" not in exclude:
            options = self.bilm.options
            # Recorded so that from_disk can refuse a biLM swapped for one of another shape.
            self.cfg["bilm_shape"] = [options.n_output_layers, options.output_dim]
        srsly.write_json(path / "cfg", self.cfg)
        if "model" not in exclude:
            self.bilm.save(path / BILM_DIR)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()) -> "ElmoComponent":
        path = ensure_path(path)
        if (path / "cfg").is_file():
            self.cfg.update(srsly.read_json(path / "cfg"))
        if "model" not in exclude:
            if not (path / BILM_DIR).is_dir():
                raise ElmoError(
                    f"{path} has no {BILM_DIR}/ directory with the biLM weights; the pipeline was not saved by "
                    "nlp.to_disk with an 'elmo' component, or is incomplete."
                )
            bilm = load_native(path / BILM_DIR)
            saved = self.cfg.get("bilm_shape")
            found = [bilm.options.n_output_layers, bilm.options.output_dim]
            if saved is not None and list(saved) != found:
                raise ElmoError(
                    f"{path / BILM_DIR} holds a biLM with {found[0]} output layers of width {found[1]}, but this "
                    f"pipeline was saved with {saved[0]} layers of width {saved[1]}: its trained components depend on "
                    "that biLM. Put the original biLM back, or retrain the pipeline on the new one."
                )
            self.model.shim.set_bilm(bilm)
        return self

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()) -> "ElmoComponent":
        super().from_bytes(bytes_data, exclude=exclude)
        # Thinc restores the attrs saved with the model; the current config's settings win.
        self.model.configure(self.model.shim.source, **self._settings)
        return self
