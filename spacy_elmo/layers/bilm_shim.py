"""Where the component's biLM comes from, and how Thinc holds it.

:class:`WeightsSource` answers "which weights?" for the component with the package's one rule
(:func:`spacy_elmo.weights.resolve_weights`) when the component is created, so a wrong path fails
at ``nlp.add_pipe``; the tensors are read only at first use (``initialize`` or the first doc).
While ``spacy.load`` rebuilds a saved pipeline, the weights come from the pipeline directory
(``from_disk``), so the configured path is not checked then: a pipeline trained here loads on
another machine where that path does not exist.

:class:`BiLMShim` is a ``PyTorchShim`` whose biLM is built on first use from the source; Thinc
moves it between devices, applies the optimizer when it is trainable, and serializes it as msgpack
``{"options": ..., "tensors": <safetensors bytes>}`` (exact float32, no pickle, and the
architecture comes with the weights).
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable, List, Optional

import srsly
import torch
from thinc.api import PyTorchShim, get_torch_default_device

from ..bilm import BiLM, BiLMOptions
from ..weights import COMPONENT_NAMES, Weights, resolve_weights


class WeightsSource:
    """The component's ``weights`` / ``options_file`` + ``weight_file``, resolved (checked) at creation."""

    def __init__(self, weights: Optional[str] = None, options_file: Optional[str] = None, weight_file: Optional[str] = None):
        self.given = (weights, options_file, weight_file)
        self._resolved: Optional[Weights] = None
        if not restoring_saved_pipeline():
            self._resolved = self.resolve()

    def resolve(self) -> Weights:
        if self._resolved is None:
            self._resolved = resolve_weights(*self.given, names=COMPONENT_NAMES)
        return self._resolved

    def load(self) -> BiLM:
        return self.resolve().load()

    def describe(self) -> str:
        return self.resolve().describe()


def restoring_saved_pipeline() -> bool:
    """True while spaCy rebuilds a saved pipeline (``spacy.load``, a packaged pipeline, a sourced
    component): every such route goes through ``spacy.util.load_model_from_path``, and its
    ``from_disk`` then restores the biLM from the pipeline directory."""
    import spacy.util

    target = spacy.util.load_model_from_path.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is target:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


class BiLMShim(PyTorchShim):
    """A ``PyTorchShim`` whose biLM is built on first use from a :class:`WeightsSource`."""

    def __init__(self, source: Optional[WeightsSource] = None, frozen: bool = True):
        super().__init__(torch.nn.Module(), serialize_model=_serialize_bilm, deserialize_model=_deserialize_bilm)
        self.source = source
        self.frozen = frozen
        self.trainable_layers: Optional[int] = None
        self.learn_rate_scale = 1.0
        self._device: Optional[torch.device] = None
        self.on_load: List[Callable[[BiLM], None]] = []

    @property
    def is_loaded(self) -> bool:
        return isinstance(self._model, BiLM)

    @property
    def bilm(self) -> BiLM:
        if not self.is_loaded:
            if self.source is None:  # pragma: no cover - the component always sets one
                raise RuntimeError("The biLM shim has no weights source.")
            self.set_bilm(self.source.load())
        return self._model

    def set_bilm(self, bilm: BiLM) -> None:
        device = self._device if self._device is not None else get_torch_default_device()
        bilm = bilm.to(device)
        _mark_trainable(bilm, self.frozen, self.trainable_layers)
        bilm.eval()
        self._model = bilm
        for callback in self.on_load:
            callback(bilm)

    def set_trainable(self, frozen: bool, trainable_layers: Optional[int] = None, learn_rate_scale: float = 1.0) -> None:
        """Which weights fine-tuning moves (none when frozen), and how fast relative to the task's."""
        self.frozen = frozen
        self.trainable_layers = trainable_layers
        self.learn_rate_scale = learn_rate_scale
        if self.is_loaded:
            _mark_trainable(self._model, frozen, trainable_layers)

    @property
    def options(self) -> Optional[BiLMOptions]:
        return self._model.options if self.is_loaded else None

    def to_device(self, device_type: str, device_id: int):
        self._device = torch.device("cpu") if device_type == "cpu" else torch.device(f"cuda:{device_id}")
        return super().to_device(device_type, device_id)

    def to_bytes(self):
        self.bilm  # a model is serialized with its weights, so load them if not yet done
        return super().to_bytes()

    def from_bytes(self, bytes_data):
        super().from_bytes(bytes_data)
        self.set_bilm(self._model)
        return self

    def finish_update(self, optimizer):
        """Thinc's update, with the biLM's own ``lr_scale`` (it skips weights without a gradient,
        such as frozen lower layers)."""
        if self.frozen or not self.is_loaded:
            return
        super().finish_update(functools.partial(optimizer, lr_scale=self.learn_rate_scale))


def _mark_trainable(bilm: BiLM, frozen: bool, trainable_layers: Optional[int]) -> None:
    """requires_grad on what fine-tuning trains: nothing, everything, or the top N LSTM layers."""
    bilm.requires_grad_(not frozen and trainable_layers is None)
    if frozen or trainable_layers is None:
        return
    stack = bilm.lstm
    n_lstm_layers = len(stack.forward_layers)
    if trainable_layers > n_lstm_layers:
        raise ValueError(
            f"'elmo' trainable_layers = {trainable_layers}, but this biLM has {n_lstm_layers} LSTM layers: give at most "
            f"{n_lstm_layers}, or null to train the whole biLM."
        )
    for layers in (stack.forward_layers, stack.backward_layers):
        for layer in list(layers)[n_lstm_layers - trainable_layers :]:
            layer.requires_grad_(True)


def _serialize_bilm(bilm: BiLM) -> bytes:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in bilm.state_dict().items()}
    msg = {"options": bilm.options.to_dict(), "tensors": save(tensors)}
    dictionaries = bilm.vocabulary.to_dict()  # a dictionary vocabulary's characters and words (None: bytes)
    if dictionaries is not None:
        msg["dictionaries"] = dictionaries
    return srsly.msgpack_dumps(msg)


def _deserialize_bilm(_old: Any, data: bytes, device: "torch.device") -> BiLM:
    from safetensors.torch import load

    from ..bilm.dictionary_characters import vocabulary_from_dict

    msg = srsly.msgpack_loads(data)
    options = BiLMOptions.from_dict(msg["options"])
    bilm = BiLM(options, vocabulary=vocabulary_from_dict(options, msg.get("dictionaries"), "the serialized biLM"))
    bilm.load_state_dict(load(msg["tensors"]))
    return bilm.to(device).eval()
