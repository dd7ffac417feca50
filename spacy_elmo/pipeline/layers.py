"""The biLM as a Thinc model: ``List[Doc] -> List[Floats3d]`` (each ``[n_layers + 1, n_tokens, dim]``).

The PyTorch biLM lives in a :class:`BiLMShim` (a ``PyTorchShim``), so Thinc moves it
between devices, serializes it (options + safetensors, no pickle) and applies the
optimizer to it when it is trainable. The Thinc model itself does what spaCy needs
around the biLM: it splits long docs, batches segments by length under a cap on padded
tokens, caches layers of a frozen biLM, and reassembles one array per doc.

Weights are loaded lazily from a *source* (a native directory, or the original
``options.json`` + ``.hdf5``) the first time they are needed, i.e. at ``initialize`` or
at the first call, so ``nlp.add_pipe("elmo", ...)`` followed by ``nlp(text)`` works and
``spacy.load`` (which restores the weights from the pipeline directory) never touches
the source at all.

Docs are embedded one sentence at a time by default (``split_sentences = "sentencizer"``), as
the original ELMo and this package's pretraining run the biLM: a sentence's vectors then never
depend on its neighbours. The sentences are the doc's own when it has boundaries
(``doc.has_annotation("SENT_START")``), else those spaCy's rule-based sentencizer would set,
computed for the biLM only and never written to the doc.

Long docs (more than ``max_batch_tokens`` tokens) are split so memory stays bounded:

* into sentences when the doc has sentence boundaries (``doc.has_annotation("SENT_START")``);
  sentences still longer than ``max_batch_tokens`` are windowed as below;
* otherwise into windows of ``window_size`` tokens that overlap by ``window_overlap`` tokens.
  The last window is aligned to the end of the doc. A token in an overlap takes its
  vector from the window in which it is further from the edge (the overlap is cut in the
  middle), so every token but those at the doc's ends sees ``>= window_overlap / 2``
  tokens of context on each side.

Docs (or sentences) that are not split get exactly the vectors of ``BiLM.embed_sentences`` on their tokens.

Tokens are fed as their exact text, whitespace tokens included (``"\\n\\n"`` is the
two bytes ``0x0A 0x0A`` between the begin/end-of-word markers, as the original character
vocabulary allows). spaCy never makes an empty token (``Doc`` rejects ``""``), the one
string the biLM cannot embed. Tokens longer than ``max_characters_per_token - 2`` bytes
keep their first bytes, as in the original.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
import torch
from spacy.tokens import Doc
from thinc.api import CupyOps, Model, PyTorchShim, get_torch_default_device, torch2xp
from thinc.types import Floats3d

from ..bilm import BiLM, BiLMOptions, load_bilm
from ..bilm.errors import ElmoError
from .cache import LayerCache

BILM_MODEL_NAME = "elmo-bilm"


def _one_torch_thread_in_forked_child() -> None:
    """GNU OpenMP's thread team does not survive ``fork()``: once the parent ran a parallel MKL
    sgemm, the child's first one waits forever on threads that do not exist (seen with
    ``nlp.pipe(n_process=2)``, which forks). One intra-op thread per worker process avoids the
    team entirely, and is what several worker processes on one machine want anyway."""
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_torch_thread_in_forked_child)


# -- where the weights come from ------------------------------------------------------------
@dataclass(frozen=True)
class WeightsSource:
    """Which biLM to load: ``weights`` (a native or original directory) or ``options_file`` +
    ``weight_file`` (original format); all ``None`` means the packaged default model."""

    weights: Optional[str] = None
    options_file: Optional[str] = None
    weight_file: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.options_file is None) != (self.weight_file is None):
            raise ElmoError(
                "The 'elmo' component needs both 'options_file' (options.json) and 'weight_file' (.hdf5) for "
                f"original ELMo weights; got options_file={self.options_file!r}, weight_file={self.weight_file!r}."
            )
        if self.weights is not None and self.options_file is not None:
            raise ElmoError(
                "Give the 'elmo' component either 'weights' (a model directory) or 'options_file' + 'weight_file', not both."
            )

    @property
    def is_default(self) -> bool:
        return self.weights is None and self.options_file is None

    def check_default_available(self) -> None:
        """Raise a clear error now (not at the first doc) if the default model is needed but missing."""
        if self.is_default:
            default_dir()

    def load(self) -> BiLM:
        if self.options_file is not None:
            return load_bilm(self.options_file, self.weight_file)
        if self.weights is None:
            return load_bilm(default_dir())
        return load_bilm(pipeline_bilm_dir(Path(self.weights)) or self.weights)

    def describe(self) -> str:
        if self.options_file is not None:
            return f"{self.options_file} + {self.weight_file}"
        return str(self.weights) if self.weights is not None else "the default model"


def pipeline_bilm_dir(path: Path) -> Optional[Path]:
    """The biLM inside a saved spaCy pipeline (``<pipeline>/<elmo component>/bilm``), if ``path`` is one.

    WHY: a biLM fine-tuned in one pipeline (``frozen = false``) can then feed another one
    with ``weights = training/model-best``.
    """
    config_path = path / "config.cfg"
    if not config_path.is_file():
        return None
    from spacy.util import load_config

    components = load_config(config_path).get("components", {})
    found = [name for name, block in components.items() if block.get("factory") == "elmo" and (path / name / "bilm").is_dir()]
    if len(found) > 1:
        raise ElmoError(f"{path} has several 'elmo' components ({', '.join(found)}); give weights = '{path}/<name>/bilm'.")
    return path / found[0] / "bilm" if found else None


def default_dir() -> Path:
    from ..models import DEFAULT_MODEL_NAME, default_model_dir

    try:
        return default_model_dir()
    except ElmoError as err:
        raise ElmoError(
            f"The 'elmo' component was given no weights and the default English ELMo model "
            f"({DEFAULT_MODEL_NAME}) is not installed. "
            "Give weights in the component's config: nlp.add_pipe('elmo', config={'weights': '/path/to/model_dir'}) "
            "for a spacy-elmo model directory (options.json + weights.safetensors), or "
            "config={'options_file': '.../options.json', 'weight_file': '.../weights.hdf5'} for original ELMo weights "
            "(in a training config: [components.elmo] weights = ... or --paths.elmo /path/to/model_dir)."
        ) from err


# -- the shim: holds the torch module, loads it lazily, serializes it as safetensors -----------
class BiLMShim(PyTorchShim):
    """A ``PyTorchShim`` whose biLM is built on first use from a :class:`WeightsSource`.

    Serialized as msgpack ``{"options": ..., "tensors": <safetensors bytes>}``: exact float32,
    no pickle, and the architecture comes with the weights (no config needed to rebuild it).
    """

    def __init__(self, source: WeightsSource, frozen: bool = True):
        super().__init__(torch.nn.Module(), serialize_model=_serialize_bilm, deserialize_model=_deserialize_bilm)
        self.source = source
        self.frozen = frozen
        self._device: Optional[torch.device] = None
        self.on_load: List[Callable[[BiLM], None]] = []

    @property
    def is_loaded(self) -> bool:
        return isinstance(self._model, BiLM)

    @property
    def bilm(self) -> BiLM:
        if not self.is_loaded:
            self.set_bilm(self.source.load())
        return self._model

    def set_bilm(self, bilm: BiLM) -> None:
        device = self._device if self._device is not None else get_torch_default_device()
        bilm = bilm.to(device)
        bilm.requires_grad_(not self.frozen)
        bilm.eval()
        self._model = bilm
        for callback in self.on_load:
            callback(bilm)

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
        if self.frozen or not self.is_loaded:
            return
        super().finish_update(optimizer)


def _serialize_bilm(bilm: BiLM) -> bytes:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in bilm.state_dict().items()}
    return srsly.msgpack_dumps({"options": bilm.options.to_dict(), "tensors": save(tensors)})


def _deserialize_bilm(_old: Any, data: bytes, device: "torch.device") -> BiLM:
    from safetensors.torch import load

    msg = srsly.msgpack_loads(data)
    bilm = BiLM(BiLMOptions.from_dict(msg["options"]))
    bilm.load_state_dict(load(msg["tensors"]))
    return bilm.to(device).eval()


# -- splitting docs into segments --------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """Tokens ``[start, end)`` of doc ``doc`` go through the biLM; ``[keep_start, keep_end)`` of
    them (absolute token indices) are taken from this segment's output."""

    doc: int
    start: int
    end: int
    keep_start: int
    keep_end: int

    def __len__(self) -> int:
        return self.end - self.start


def window_spans(start: int, end: int, size: int, overlap: int) -> List[Tuple[int, int, int, int]]:
    """``(start, end, keep_start, keep_end)`` windows covering ``[start, end)`` (see module doc)."""
    if end - start <= size:
        return [(start, end, start, end)]
    spans: List[Tuple[int, int]] = []
    s = start
    while True:
        if s + size >= end:
            spans.append((max(start, end - size), end))
            break
        spans.append((s, s + size))
        s += size - overlap
    out = []
    keep = start
    for k, (s, e) in enumerate(spans):
        cut = end if k == len(spans) - 1 else (spans[k + 1][0] + e) // 2
        out.append((s, e, keep, cut))
        keep = cut
    return out


def check_split_sentences(value: Any) -> Union[bool, str]:
    if not (isinstance(value, bool) or value == "sentencizer"):
        raise ValueError(
            f"'elmo' split_sentences must be true, false or \"sentencizer\", got {value!r}. true: the doc's own "
            "sentences when it has them; \"sentencizer\": also find sentences in docs without boundaries, "
            "by spaCy's rule-based sentencizer (without changing the doc); false: never split sentences."
        )
    return value


@lru_cache(maxsize=1)
def _rule_sentencizer():
    from spacy.pipeline import Sentencizer

    return Sentencizer()


def rule_sentence_ranges(doc: Doc) -> List[Tuple[int, int]]:
    """Sentences as spaCy's rule-based ``Sentencizer`` (the rule this package's pretraining uses)
    would set them, computed without writing them to the doc: a downstream parser or NER that
    keeps entities inside sentences is not constrained by boundaries only the biLM needs."""
    starts = _rule_sentencizer().predict([doc])[0]
    bounds = [0] + [i for i, is_start in enumerate(starts) if is_start and i > 0] + [len(doc)]
    return list(zip(bounds, bounds[1:]))


def split_doc(
    doc: Doc, index: int, max_tokens: int, window_size: int, window_overlap: int,
    split_sentences: Union[bool, str] = True,
) -> List[Segment]:
    n = len(doc)
    if n == 0:
        return []
    if n <= max_tokens and not split_sentences:
        return [Segment(index, 0, n, 0, n)]
    # Here the doc is split into sentences, or too long: its own sentences are the best cuts either way.
    if doc.has_annotation("SENT_START"):
        ranges = [(sent.start, sent.end) for sent in doc.sents]
    elif split_sentences == "sentencizer":
        ranges = rule_sentence_ranges(doc)
    else:
        ranges = [(0, n)]
    if len(ranges) == 1 and n <= max_tokens:
        return [Segment(index, 0, n, 0, n)]
    segments = []
    for a, b in ranges:
        size = window_size if b - a > max_tokens else b - a
        for s, e, ks, ke in window_spans(a, b, size, window_overlap if size < b - a else 0):
            segments.append(Segment(index, s, e, ks, ke))
    return segments


def make_batches(segments: Sequence[Segment], batch_size: int, max_batch_tokens: int, sort: bool) -> List[List[Segment]]:
    """Batches of at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens (rows x longest)."""
    order = sorted(segments, key=len) if sort else list(segments)
    batches: List[List[Segment]] = []
    current: List[Segment] = []
    longest = 0
    for seg in order:
        new_longest = max(longest, len(seg))
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * new_longest > max_batch_tokens):
            batches.append(current)
            current, new_longest = [], len(seg)
        current.append(seg)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def segment_texts(doc: Doc, seg: Segment) -> Tuple[str, ...]:
    return tuple(t.text for t in doc[seg.start : seg.end])


# -- the Thinc model -----------------------------------------------------------------------------
class ElmoBiLMModel(Model):
    """Thinc model over docs; its single shim is a :class:`BiLMShim`. Settings live in ``attrs``."""

    def __init__(self, dropout: float = 0.0):
        source = WeightsSource()
        super().__init__(
            BILM_MODEL_NAME,
            forward=bilm_forward,
            init=bilm_init,
            shims=[BiLMShim(source)],
            attrs={
                "frozen": True,
                "stateful": False,
                "batch_size": 64,
                "max_batch_tokens": 4096,
                "split_sentences": "sentencizer",
                "window_size": 256,
                "window_overlap": 64,
                "cache_size_mb": 0.0,
                "bilm_dropout": float(dropout),
            },
        )
        self.cache = LayerCache(0.0)
        self.shim.on_load.append(self._clear_cache)  # a bound method, not a lambda: picklable
        # The biLM follows the model's ops (CupyOps after spacy.require_gpu()), not whatever is current later.
        self.shim._device = torch.device(f"cuda:{torch.cuda.current_device()}") if isinstance(self.ops, CupyOps) else torch.device("cpu")

    def _clear_cache(self, _bilm: BiLM) -> None:
        self.cache.clear()

    @property
    def shim(self) -> BiLMShim:
        return self.shims[0]  # type: ignore[return-value]

    @property
    def bilm(self) -> BiLM:
        return self.shim.bilm

    def configure(
        self,
        source: WeightsSource,
        *,
        frozen: bool,
        stateful: bool,
        batch_size: int,
        max_batch_tokens: int,
        window_size: int,
        window_overlap: int,
        cache_size_mb: float,
        split_sentences: Union[bool, str] = "sentencizer",
    ) -> "ElmoBiLMModel":
        """Apply the component's settings; validated here so a bad config fails at ``add_pipe``."""
        if batch_size < 1:
            raise ValueError(f"'elmo' batch_size must be >= 1, got {batch_size}.")
        if window_size < 1 or max_batch_tokens < window_size:
            raise ValueError(
                f"'elmo' needs 1 <= window_size <= max_batch_tokens; got window_size={window_size}, "
                f"max_batch_tokens={max_batch_tokens}."
            )
        if not 0 <= window_overlap < window_size:
            raise ValueError(f"'elmo' needs 0 <= window_overlap < window_size; got {window_overlap} and {window_size}.")
        self.shim.source = source
        self.shim.frozen = frozen
        if self.shim.is_loaded:
            self.shim.bilm.requires_grad_(not frozen)
        self.attrs.update(
            frozen=frozen,
            stateful=stateful,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            split_sentences=check_split_sentences(split_sentences),
            window_size=window_size,
            window_overlap=window_overlap,
            cache_size_mb=float(cache_size_mb),
        )
        self.cache = LayerCache(cache_size_mb if (frozen and not stateful) else 0.0)
        return self

    def copy(self):  # pragma: no cover - spaCy's replace_listeners would copy the biLM; not supported
        raise NotImplementedError(
            "The 'elmo' biLM cannot be copied into a downstream component (replace_listeners); keep the 'elmo' component."
        )


def bilm_init(model: ElmoBiLMModel, X=None, Y=None) -> ElmoBiLMModel:
    """Read the weights (once): from the source here, unless already loaded or deserialized."""
    model.bilm
    return model


def _set_dropout(bilm: BiLM, rate: float) -> None:
    """The biLM's own dropout (on each LSTM layer's input); only active when fine-tuning it."""
    lstm = getattr(bilm, "lstm", None)
    if lstm is not None and hasattr(lstm, "dropout"):
        lstm.dropout = rate


def bilm_forward(model: ElmoBiLMModel, docs: List[Doc], is_train: bool):
    bilm = model.bilm
    attrs = model.attrs
    options = bilm.options
    n_out, dim = options.n_output_layers, options.output_dim
    train_bilm = is_train and not attrs["frozen"]
    stateful = attrs["stateful"]
    cache = model.cache if (attrs["frozen"] and not stateful) else None

    segments: List[Segment] = []
    for i, doc in enumerate(docs):
        segments.extend(split_doc(
            doc, i, attrs["max_batch_tokens"], attrs["window_size"], attrs["window_overlap"], attrs["split_sentences"]
        ))
    texts = [segment_texts(docs[seg.doc], seg) for seg in segments]

    seg_out: List[Any] = [None] * len(segments)
    # A doc cut into segments gets its output array up front; each segment's kept tokens are copied
    # in as soon as they exist, so a long doc never holds all its (overlapping) windows at once:
    # peak memory is one copy of the output plus one batch.
    split_out: Dict[int, Any] = {}
    for seg in segments:
        if not (seg.start == 0 and seg.end == len(docs[seg.doc])) and seg.doc not in split_out:
            split_out[seg.doc] = model.ops.alloc3f(n_out, len(docs[seg.doc]), dim)

    def take(k: int, out) -> None:
        seg = segments[k]
        if seg.doc in split_out:
            split_out[seg.doc][:, seg.keep_start : seg.keep_end] = out[:, seg.keep_start - seg.start : seg.keep_end - seg.start]
        else:
            seg_out[k] = out

    todo = list(range(len(segments)))
    if cache is not None and cache.enabled:
        todo = []
        for k, key in enumerate(texts):
            hit = cache.get(key)
            if hit is None:
                todo.append(k)
            else:
                take(k, model.ops.asarray3f(hit))

    # batches of segment indices
    index_of = {id(seg): k for k, seg in enumerate(segments)}
    batches = make_batches([segments[k] for k in todo], attrs["batch_size"], attrs["max_batch_tokens"], sort=not stateful)
    graph: List[Tuple[torch.Tensor, List[int]]] = []  # (layers tensor, segment indices) to backprop into
    bilm.train(train_bilm)
    if train_bilm:
        _set_dropout(bilm, attrs.get("bilm_dropout", 0.0))
    try:
        for batch in batches:
            ks = [index_of[id(seg)] for seg in batch]
            ids = bilm.char_ids([texts[k] for k in ks])
            if train_bilm:
                layers_t = bilm(ids, stateful=stateful).layers
                graph.append((layers_t, ks))
            else:
                with torch.no_grad():
                    layers_t = bilm(ids, stateful=stateful).layers
            layers_x = torch2xp(layers_t.detach().float(), ops=model.ops)
            for row, k in enumerate(ks):
                out = layers_x[:, row, : len(segments[k])]
                if segments[k].doc not in split_out or (cache is not None and cache.enabled):
                    out = model.ops.xp.ascontiguousarray(out)
                take(k, out)
                if cache is not None and cache.enabled:
                    cache.put(texts[k], out)
    finally:
        bilm.eval()

    # reassemble one [n_out, n_tokens, dim] array per doc
    by_doc: List[List[int]] = [[] for _ in docs]
    for k, seg in enumerate(segments):
        by_doc[seg.doc].append(k)
    outputs: List[Floats3d] = []
    for i, doc in enumerate(docs):
        ks = by_doc[i]
        if i in split_out:
            outputs.append(split_out[i])
        elif not ks:
            outputs.append(model.ops.alloc3f(n_out, 0, dim))
        else:
            outputs.append(seg_out[ks[0]])

    def backprop(d_outputs: List[Floats3d]) -> List[Doc]:
        if not graph:
            return []
        tensors, grads = [], []
        for layers_t, ks in graph:
            grad = numpy.zeros(tuple(layers_t.shape), dtype=numpy.float32) if model.ops.xp is numpy else model.ops.xp.zeros(tuple(layers_t.shape), dtype="f")
            for row, k in enumerate(ks):
                seg = segments[k]
                d_doc = d_outputs[seg.doc]
                grad[:, row, seg.keep_start - seg.start : seg.keep_end - seg.start] = d_doc[:, seg.keep_start : seg.keep_end]
            tensors.append(layers_t)
            grads.append(_to_torch(grad, layers_t))
        torch.autograd.backward(tensors, grads)
        return []

    return outputs, backprop


def _to_torch(array, like: torch.Tensor) -> torch.Tensor:
    if isinstance(array, numpy.ndarray):
        return torch.from_numpy(array).to(like.device, like.dtype)
    from thinc.api import xp2torch

    return xp2torch(array, device=like.device).to(like.dtype)


def BiLMModel(dropout: float = 0.0) -> ElmoBiLMModel:
    return ElmoBiLMModel(dropout=dropout)
