"""AllenNLP's ELMo module on this package's biLM: ``from spacy_elmo import Elmo, batch_to_ids``.

The same contract as ``allennlp.modules.elmo`` (AllenNLP 2.10.1, archived), so that code written for
it runs with only its import line changed and gives the same numbers (checked against what AllenNLP
returned, ``tests/test_allennlp_compat.py``): the same character ids, the same arguments, the same
output dict, only the scalar mixes trainable unless ``requires_grad=True``, the parameter names of
the mixes (``scalar_mix_0.scalar_parameters.0``, ``scalar_mix_0.gamma``) as AllenNLP's.

Two differences, both on purpose: the biLM is stateless unless ``stateful=True`` (AllenNLP's carries
each batch row's LSTM state into the next batch, so a sentence's vectors depend on what came before it;
its first batch is what the stateless module computes), and the weights may also be named (a packaged
model, a model directory, a pipeline: whatever :func:`spacy_elmo.load_bilm` takes). A frozen biLM
runs on the fast inference route (no autograd) even while the module trains.

Pure PyTorch: importing this imports neither spaCy nor thinc.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from torch import nn

from .bilm.model import BiLM
from .by_name import load_bilm
from .errors import CharacterError, ElmoError

PathLike = Union[str, Path]

# AllenNLP's ELMoCharacterMapper: a fixed vocabulary (UTF-8 bytes 0-255, then these), every id + 1.
MAX_WORD_LENGTH = 50
_BOS, _EOS, _BOW, _EOW, _PAD = 256, 257, 258, 259, 260
BOS_TOKEN, EOS_TOKEN = "<S>", "</S>"  # as tokens, AllenNLP maps these to the sentence markers
#: AllenNLP's ``tiny_value_of_dtype`` for float32/float64: added to the variance in its layer norm.
LAYER_NORM_EPS = 1e-13


@lru_cache(maxsize=2 ** 16)
def _word_ids(word: str) -> bytes:
    ids = numpy.full(MAX_WORD_LENGTH, _PAD, dtype=numpy.int64)
    ids[0] = _BOW
    if word in (BOS_TOKEN, EOS_TOKEN):
        ids[1], ids[2] = (_BOS if word == BOS_TOKEN else _EOS), _EOW
    else:
        data = word.encode("utf-8", "ignore")[: MAX_WORD_LENGTH - 2]  # lone surrogates dropped, as AllenNLP does
        ids[1 : len(data) + 1] = numpy.frombuffer(data, dtype=numpy.uint8)
        ids[len(data) + 1] = _EOW
    return (ids + 1).tobytes()


def batch_to_ids(batch: Sequence[Sequence[str]]) -> torch.Tensor:
    """``[len(batch), longest sentence, 50]`` int64 character ids, zero rows for padding: AllenNLP's ids.

    Each word is begin-of-word, its UTF-8 bytes (the first 48), end-of-word, padding, every id + 1;
    ``"<S>"`` and ``"</S>"`` are the sentence markers, as in AllenNLP. No sentence boundaries are
    added (:class:`Elmo` adds them). An empty string is an error here (AllenNLP embeds it as a word
    without characters; it is nearly always a tokenisation slip, e.g. ``"a  b".split(" ")``).
    """
    if not isinstance(batch, str):  # any iterable of token iterables, as AllenNLP's loop over it took (a generator too)
        batch = [sentence if isinstance(sentence, str) else list(sentence) for sentence in batch]
    if isinstance(batch, str) or any(isinstance(sentence, str) for sentence in batch):
        raise CharacterError(
            "batch_to_ids expects a list of token lists, e.g. [['Hello', 'world', '.']]; got a string. "
            "Split each sentence into tokens first."
        )
    longest = max((len(sentence) for sentence in batch), default=0)
    out = numpy.zeros((len(batch), longest, MAX_WORD_LENGTH), dtype=numpy.int64)
    for i, sentence in enumerate(batch):
        for j, word in enumerate(sentence):
            if not isinstance(word, str):
                raise CharacterError(f"batch_to_ids: sentence {i}, token {j} is {type(word).__name__} {word!r}, not a str.")
            if word == "":
                raise CharacterError(
                    f"batch_to_ids: sentence {i}, token {j} is an empty string, which has no characters to embed. "
                    "Drop empty tokens first (e.g. split() rather than split(' '))."
                )
            out[i, j] = numpy.frombuffer(_word_ids(word), dtype=numpy.int64)
    return torch.from_numpy(out)


class ScalarMix(nn.Module):
    """AllenNLP's scalar mix, ``gamma * sum_k softmax(w)_k * layer_k``, with its parameter names.

    Its layer norm differs from :class:`spacy_elmo.ScalarMix` (per sequence): one mean and variance per
    layer over every unmasked entry of the whole batch, applied to every position, padding included.
    That is what AllenNLP computes, so a sentence's vectors depend on its batch when ``do_layer_norm``.
    """

    def __init__(self, mixture_size: int, do_layer_norm: bool = False, initial_scalar_parameters: Optional[Sequence[float]] = None,
                 trainable: bool = True):
        super().__init__()
        if initial_scalar_parameters is None:
            initial_scalar_parameters = [0.0] * mixture_size
        if len(initial_scalar_parameters) != mixture_size:
            raise ElmoError(
                f"scalar_mix_parameters has {len(initial_scalar_parameters)} values ({list(initial_scalar_parameters)}), "
                f"but the biLM has {mixture_size} output layers: give one (pre-softmax) weight per layer."
            )
        self.mixture_size = mixture_size
        self.do_layer_norm = do_layer_norm
        self.scalar_parameters = nn.ParameterList(
            [nn.Parameter(torch.tensor([float(w)]), requires_grad=trainable) for w in initial_scalar_parameters]
        )
        self.gamma = nn.Parameter(torch.tensor([1.0]), requires_grad=trainable)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``layers [L, B, T, D]``, ``mask [B, T]`` -> ``[B, T, D]``."""
        weights = torch.softmax(torch.cat(list(self.scalar_parameters)), dim=0).to(layers.dtype)
        if self.do_layer_norm:
            layers = _batch_layer_norm(layers, mask)
        return self.gamma.to(layers.dtype) * torch.tensordot(weights, layers, dims=([0], [0]))


def _batch_layer_norm(layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(layers.dtype)[None, :, :, None]
    count = m.sum() * layers.shape[-1]
    masked = layers * m
    mean = masked.sum(dim=(1, 2, 3), keepdim=True) / count
    variance = (((masked - mean) * m) ** 2).sum(dim=(1, 2, 3), keepdim=True) / count
    return (layers - mean) / torch.sqrt(variance + LAYER_NORM_EPS)


class Elmo(nn.Module):
    """``num_output_representations`` learned mixes of the biLM's layers: AllenNLP's ``Elmo``.

    ``options_file`` + ``weight_file``: original ELMo files (paths, or the URLs of a published model's files, as
    AllenNLP code gives them: fetched once and checked, :mod:`spacy_elmo.published`); or ``options_file`` alone (with
    ``weight_file=None``) any name :func:`spacy_elmo.load_bilm` takes, e.g. ``Elmo("en_elmo_small", None, 1)``
    (see also :meth:`from_pretrained`); both None: the packaged default model. ``module``: a
    :class:`~spacy_elmo.BiLM` to use as it is (its parameters' ``requires_grad`` left alone, as AllenNLP
    does with ``module``, unless ``requires_grad=True`` asks to train it). ``vocab_to_cache`` is accepted and not needed: the biLM keeps computed token
    vectors itself at inference. ``stateful``: carry each batch row's LSTM states into the next call, as
    AllenNLP does (:meth:`reset_states` forgets them); the default is stateless.
    """

    def __init__(
        self,
        options_file: Optional[PathLike],
        weight_file: Optional[PathLike],
        num_output_representations: int,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        dropout: float = 0.5,
        vocab_to_cache: Optional[List[str]] = None,
        keep_sentence_boundaries: bool = False,
        scalar_mix_parameters: Optional[List[float]] = None,
        module: Optional[BiLM] = None,
        *,
        stateful: bool = False,
    ) -> None:
        super().__init__()
        if module is not None:
            if options_file is not None or weight_file is not None:
                raise ElmoError("Elmo: give either module or options_file/weight_file, not both.")
            if not isinstance(module, BiLM):
                raise ElmoError(f"Elmo(module=...) takes a spacy_elmo BiLM (spacy_elmo.load_bilm(...)), got {type(module).__name__}.")
            bilm = module
            if requires_grad:  # AllenNLP ignored it here; a request to fine-tune is not ignored silently
                bilm.requires_grad_(True)
        else:
            bilm = load_bilm(options_file, weight_file)
            bilm.requires_grad_(requires_grad)
        if bilm.vocabulary.kind != "bytes":
            raise ElmoError(
                f"Elmo follows AllenNLP's contract, whose batch_to_ids gives UTF-8 byte ids, but this biLM reads its own "
                f"character dictionary ({bilm.vocabulary!r}, e.g. an ELMoForManyLangs model): those ids would mean other "
                "characters. Use bilm.embed_sentences(sentences) or the spaCy component instead."
            )
        if bilm.options.max_characters_per_token != MAX_WORD_LENGTH:
            raise ElmoError(
                f"Elmo: this biLM reads {bilm.options.max_characters_per_token} characters per token, but batch_to_ids "
                f"(AllenNLP's ids) gives {MAX_WORD_LENGTH}; use bilm.char_ids(sentences) and bilm(...) directly."
            )
        if num_output_representations < 1:
            raise ElmoError(f"Elmo: num_output_representations must be >= 1, got {num_output_representations}.")
        self.bilm = bilm
        self.stateful = stateful
        self._keep_sentence_boundaries = keep_sentence_boundaries
        self._dropout = nn.Dropout(p=dropout)
        n_output = bilm.options.n_output_layers
        self._scalar_mixes: List[ScalarMix] = []
        for k in range(num_output_representations):
            mix = ScalarMix(n_output, do_layer_norm, scalar_mix_parameters, trainable=scalar_mix_parameters is None)
            self.add_module(f"scalar_mix_{k}", mix)
            self._scalar_mixes.append(mix)

    @classmethod
    def from_pretrained(cls, name: Optional[PathLike] = None, num_output_representations: int = 1, **kwargs: Any) -> "Elmo":
        """``Elmo.from_pretrained("en_elmo_medium", 2, dropout=0.0)``: the biLM by name (None: the packaged default)."""
        return cls(name, None, num_output_representations, **kwargs)

    def get_output_dim(self) -> int:
        return self.bilm.options.output_dim

    def reset_states(self) -> None:
        """Forget the LSTM states carried between calls (``stateful=True``)."""
        self.bilm.reset_states()

    def forward(self, inputs: torch.Tensor, word_inputs: Optional[torch.Tensor] = None) -> Dict[str, Any]:
        """``inputs [B, T, 50]`` character ids (:func:`batch_to_ids`; more leading axes are flattened and
        restored) -> ``{"elmo_representations": [B, T, D] per mix, "mask": [B, T] bool}``; with
        ``keep_sentence_boundaries``, ``T + 2`` positions. ``word_inputs`` is accepted and not needed."""
        if inputs.dim() < 3 or inputs.shape[-1] != MAX_WORD_LENGTH or inputs.dtype.is_floating_point:
            raise ElmoError(
                f"Elmo expects integer character ids [batch, tokens, {MAX_WORD_LENGTH}] from batch_to_ids, "
                f"got {inputs.dtype} of shape {tuple(inputs.shape)}."
            )
        leading = inputs.shape[:-2]
        ids = inputs.reshape(math.prod(leading), *inputs.shape[-2:]).to(device=self.bilm.device, dtype=torch.long)
        layers, mask, with_markers = self._layers(ids)
        representations = []
        out_mask = _without_markers(mask) if with_markers and not self._keep_sentence_boundaries else mask
        for mix in self._scalar_mixes:
            out = mix(layers, mask)
            if out_mask is not mask:  # AllenNLP's rule: drop each row's markers, zero at padding
                out = out[:, 1:-1] * out_mask[:, :, None].to(out.dtype)
            representations.append(self._dropout(out))
        shape = tuple(leading) + tuple(out_mask.shape[1:])
        return {
            "elmo_representations": [r.reshape(*shape, r.shape[-1]) for r in representations],
            "mask": out_mask.reshape(shape),
        }

    def _layers(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, bool]:
        """Every layer ``[L, B, T', D]``, its mask, and whether ``T' = T + 2`` (the sentence markers kept:
        with layer norm, which counts them, or keep_sentence_boundaries)."""
        frozen = not any(p.requires_grad for p in self.bilm.parameters())
        with_markers = self._keep_sentence_boundaries or self._scalar_mixes[0].do_layer_norm
        was_training = self.bilm.training
        if frozen:  # no gradient can reach the biLM: its fast inference route, whatever the module's mode
            self.bilm.eval()
        try:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
                if with_markers:
                    raw = self.bilm.run(self.bilm.vocabulary.add_sentence_boundaries(ids), stateful=self.stateful)
                    mask = raw.mask
                    layers = raw.layers() * mask[None, :, :, None].to(raw.token_embedding.dtype)
                else:
                    out = self.bilm(ids, stateful=self.stateful)
                    layers, mask = out.layers, out.mask
        finally:
            self.bilm.train(was_training)
        return layers, mask, with_markers


def _without_markers(mask: torch.Tensor) -> torch.Tensor:
    """The ``[B, T]`` mask of the tokens alone, from the ``[B, T + 2]`` mask with the sentence markers."""
    lengths = mask.sum(dim=1) - 2
    return torch.arange(mask.shape[1] - 2, device=mask.device)[None, :] < lengths[:, None]
