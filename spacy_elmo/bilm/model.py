"""The bidirectional language model: character CNN under a biLSTM stack.

Pure PyTorch, no spaCy. ``forward`` takes character ids without sentence
boundaries and returns every layer per token with the boundaries removed;
``run`` exposes the raw directional outputs that language-model training needs.

The model is made of the reference parts (``char_cnn``, ``lstm``: the exact maths, the only
route with grad besides ``batched_lstm``) and picks a route of :mod:`.fast` at inference (eval,
no grad); each fast route is checked against the reference in the tests. This module is the one
place that knows both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from torch import nn

from ..layer_choice import LayerChoice, parse_layers, select_layers
from .batching import DEFAULT_BATCH_SIZE, cut_batches
from .char_cnn import CharCNN
from .characters import ByteVocabulary, CharacterVocabulary, lengths_of
from .fast.batched_lstm import BatchedSettings, run_bilstm
from .fast.char_cnn import fast_char_cnn
from .fast.packed_lstm import fast_bilstm
from .fast.threads import inference_thread_count, run_split
from .io_native import save_native
from .lstm import BiLstmStack, State
from ..errors import OptionsError
from .options import BiLMOptions
from .fast.precision import check_precision, compute_dtype
from .fast.precision_auto import ProductSizes
from .token_cache import TokenCache

DEFAULT_TOKEN_CACHE_MB = 128.0


@dataclass
class BiLMOutput:
    """``layers [n_output_layers, B, T, 2 * projection_dim]``; ``mask [B, T]`` marks real tokens."""

    layers: torch.Tensor
    mask: torch.Tensor


@dataclass
class RawBiLMOutput:
    """Directional outputs over the ids as given (boundaries included if present).

    ``token_embedding [B, T, P]``; ``forward`` / ``backward``: one ``[B, T, P]`` per
    LSTM layer, both in sentence order; ``lengths [B]``.
    """

    token_embedding: torch.Tensor
    forward: List[torch.Tensor]
    backward: List[torch.Tensor]
    lengths: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        steps = self.token_embedding.shape[1]
        return torch.arange(steps, device=self.lengths.device)[None, :] < self.lengths[:, None]

    def layers(self) -> torch.Tensor:
        """``[n_output_layers, B, T, 2P]``: the token layer doubled, then each LSTM layer."""
        token = torch.cat([self.token_embedding, self.token_embedding], dim=-1)
        lstm = [torch.cat([f, b], dim=-1) for f, b in zip(self.forward, self.backward)]
        return torch.stack([token] + lstm)


class BiLM(nn.Module):
    """ELMo's biLM. Stateless by default: a sentence's vectors never depend on its batch.

    ``stateful=True`` (per call) carries each batch row's final LSTM states into the
    next stateful call, as the original TensorFlow code does; ``reset_states`` clears them.
    """

    #: Use the inference fast paths (:mod:`.fast`) in eval mode without grad. They give the
    #: exact path's numbers up to float rounding; set False to run the training code path.
    fast_inference: bool = True
    _precision: str = "fp32"

    def __init__(self, options: BiLMOptions, dropout: float = 0.0, vocabulary: Optional[CharacterVocabulary] = None):
        super().__init__()
        self.options = options
        #: Tokens to rows of ids (``characters``): the byte vocabulary of the original ELMo unless the
        #: options name another kind, whose dictionaries then come with the weights.
        self.vocabulary = _vocabulary_for(options, vocabulary)
        self.char_cnn = CharCNN(options, self.vocabulary)
        self.lstm = BiLstmStack(options, dropout=dropout)
        #: How the LSTM stack runs with grad: the reference step loop (``impl="loop"``) or
        #: ``fast.batched_lstm`` (same numbers up to float rounding, far fewer kernels; the trainer's
        #: ``lstm_impl``). ``compile_cell`` also serves inference on CUDA.
        self.lstm_settings = BatchedSettings()
        self._states: Optional[List[State]] = None
        #: Token vectors by character ids, used at inference only; ``token_cache.max_mb = 0`` disables it.
        self.token_cache = TokenCache(max_mb=DEFAULT_TOKEN_CACHE_MB)

    # -- core computation -------------------------------------------------------------
    def token_embedding(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` ids -> ``[B, T, P]`` context-free vectors, zero at padding slots.

        The character CNN only runs on real tokens, never on padding slots; at inference
        (eval, no grad) each distinct token is computed once and kept in ``token_cache``.
        """
        real = (char_ids > 0).any(-1)
        out = char_ids.new_zeros(*char_ids.shape[:2], self.options.projection_dim, dtype=self._dtype())
        if real.any():
            tokens = char_ids[real]
            if self._fast():
                vectors = self.token_cache.lookup(
                    tokens, self._fast_char_cnn, self.char_cnn.parameters(), self.options.projection_dim, out.dtype,
                    variant=self.compute_dtype(),
                )
            else:
                vectors = self.char_cnn(tokens)
            out[real] = vectors.to(out.dtype)
        return out

    def _fast_char_cnn(self, tokens: torch.Tensor) -> torch.Tensor:
        dtype = self.compute_dtype()  # both halves on both cores where the call's threads allow (fast.threads)
        return run_split(lambda part: fast_char_cnn(self.char_cnn, part, dtype), tokens)

    # -- precision of the inference products ---------------------------------------------------
    @property
    def precision(self) -> str:
        """``"fp32"`` (default), ``"bf16"`` or ``"auto"``: the precision of the fast inference route's
        products on the CPU (:mod:`.precision`). The weights stay as they are; outputs are float32.
        Setting ``"bf16"`` on a CPU without native bf16 raises :class:`~.precision.PrecisionError`."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        check_precision(value)
        if self.device.type == "cpu":
            if value == "bf16":
                compute_dtype(value, self.device)  # an explicit bf16 the CPU cannot do fails now, not at first use
        self._precision = value

    def compute_dtype(self) -> torch.dtype:
        """The dtype the fast inference route multiplies in now: the precision setting on float32
        weights (weights converted with ``.to(dtype)`` compute in their own dtype)."""
        if self._dtype() != torch.float32:
            return self._dtype()
        return compute_dtype(self._precision, self.device, ProductSizes.of(self.options))  # "auto": measured at these sizes

    def clear_token_cache(self) -> None:
        """Drop every cached token vector (they are also dropped whenever the weights change)."""
        self.token_cache.clear()

    def run(self, char_ids: torch.Tensor, stateful: bool = False) -> RawBiLMOutput:
        """Run on ``[B, T, C]`` ids exactly as given (no boundaries added)."""
        return self._run(char_ids, stateful)

    def _run(self, char_ids: torch.Tensor, stateful: bool, boundaries_dropped: bool = False) -> RawBiLMOutput:
        """``boundaries_dropped``: the caller discards the outputs at the sentence boundaries, so a
        stateless fast run may skip each direction's last step (the boundary token's own step)."""
        if self._fast():  # inference: the thread count that is safe on a busy machine (fast.threads)
            with inference_thread_count(char_ids.device):
                return self._run_here(char_ids, stateful, boundaries_dropped)
        return self._run_here(char_ids, stateful, boundaries_dropped)

    def _run_here(self, char_ids: torch.Tensor, stateful: bool, boundaries_dropped: bool) -> RawBiLMOutput:
        lengths = lengths_of(char_ids)
        embedded = self.token_embedding(char_ids)
        states = self._states_for(char_ids.shape[0], embedded) if stateful else None
        skip = boundaries_dropped and not stateful
        forward, backward, final = self.contextualize(embedded, lengths, states, skip_final_step=skip)
        if stateful:
            self._store_states(final)
        return RawBiLMOutput(embedded, forward, backward, lengths)

    def forward(self, char_ids: torch.Tensor, stateful: bool = False) -> BiLMOutput:
        """``[B, T, C]`` ids of sentences (no boundaries) -> all layers per token."""
        raw = self._run(self.vocabulary.add_sentence_boundaries(char_ids), stateful, boundaries_dropped=True)
        layers = raw.layers()[:, :, 1:-1]
        lengths = raw.lengths - 2
        # The end-of-sentence token of shorter rows sits inside [1:-1]; zero it out.
        steps = layers.shape[2]
        mask = torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]
        return BiLMOutput(layers * mask[None, :, :, None], mask)

    def contextualize(
        self, embedded: torch.Tensor, lengths: torch.Tensor, states: Optional[List[State]] = None, skip_final_step: bool = False
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[State]]:
        """The biLSTM over token embeddings ``[B, T, dim]``: per-layer forward and backward outputs and final
        states, through the fast routes where autograd and dropout cannot be affected (eval, no grad), else
        with grad on the route of ``lstm_settings`` (what LM training runs on the token vectors)."""
        if self._fast():
            compile_cell = self.lstm_settings.compile_cell
            return fast_bilstm(self.lstm, embedded, lengths, states, skip_final_step=skip_final_step, compile_cell=compile_cell,
                               compute_dtype=self.compute_dtype())
        return run_bilstm(self.lstm, embedded, lengths, states, self.lstm_settings)

    def _fast(self) -> bool:
        """Fast paths only where autograd and dropout cannot be affected: eval and no grad."""
        return self.fast_inference and not self.training and not torch.is_grad_enabled()

    # -- state for stateful mode ----------------------------------------------------------
    def reset_states(self) -> None:
        self._states = None

    def _states_for(self, batch: int, like: torch.Tensor) -> List[State]:
        layers = [lstm for pair in self.lstm.layer_pairs() for lstm in pair]
        if self._states is None:
            return [lstm.zero_state(batch, like) for lstm in layers]
        states = []
        for (h, c), lstm in zip(self._states, layers):
            if h.shape[0] < batch:
                zh, zc = lstm.zero_state(batch - h.shape[0], like)
                h, c = torch.cat([h, zh]), torch.cat([c, zc])
            states.append((h[:batch], c[:batch]))
        return states

    def _store_states(self, final: List[State]) -> None:
        """Keep the new states of the rows in this batch; rows beyond it keep their old ones."""
        new: List[State] = []
        for i, (h, c) in enumerate(final):
            h, c = h.detach(), c.detach()
            if self._states is not None and self._states[i][0].shape[0] > h.shape[0]:
                old_h, old_c = self._states[i]
                h = torch.cat([h, old_h[h.shape[0]:]])
                c = torch.cat([c, old_c[c.shape[0]:]])
            new.append((h, c))
        self._states = new

    # -- convenience API -------------------------------------------------------------------
    def _dtype(self) -> torch.dtype:
        return self.char_cnn.projection.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.char_cnn.projection.weight.device

    def char_ids(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, T, vocabulary.width]`` ids of the tokens (no boundaries), on the model's device."""
        return self.vocabulary.sentences_to_ids(sentences).to(self.device)

    @torch.inference_mode()
    def embed_sentences(
        self, sentences: Sequence[Sequence[str]], batch_size: int = DEFAULT_BATCH_SIZE, stateful: bool = False,
        layers: LayerChoice = "all",
    ) -> List[numpy.ndarray]:
        """Each sentence's ``[n_output_layers, n_tokens, 2 * projection_dim]`` float32 array.

        Stateless calls batch sentences of similar length together (results do not depend
        on batching); stateful calls keep the given order, since state follows batch rows.
        ``layers`` (:mod:`spacy_elmo.layer_choice`, the words of ``--layers`` and ``output_mix``): ``"all"``
        (the default), or layer numbers such as ``"0,2"``, keep a layer axis, ``[k, n_tokens, D]``; ``"top"``,
        ``"average"`` and ``"mix"`` (a bare biLM's mix is the component's default one, the average) give ``[n_tokens, D]``.
        """
        spec = parse_layers(layers, self.options.n_output_layers, what="layers=")
        if spec != "all":
            return [select_layers(x, spec) for x in self.embed_sentences(sentences, batch_size, stateful)]
        was_training = self.training
        self.eval()
        try:
            order = list(range(len(sentences)))
            if not stateful:
                order.sort(key=lambda i: len(sentences[i]))
            results: List[Optional[numpy.ndarray]] = [None] * len(sentences)
            for a, b in cut_batches([len(sentences[i]) for i in order], batch_size):
                chunk = order[a:b]
                batch = [sentences[i] for i in chunk]
                nonempty = [j for j, s in enumerate(batch) if len(s) > 0]
                width = self.options.output_dim
                for j, s in enumerate(batch):
                    if len(s) == 0:
                        results[chunk[j]] = numpy.zeros((self.options.n_output_layers, 0, width), dtype=numpy.float32)
                if not nonempty:
                    continue
                out = self.forward(self.char_ids([batch[j] for j in nonempty]), stateful=stateful)
                values = out.layers.float().cpu().numpy()
                for row, j in enumerate(nonempty):
                    results[chunk[j]] = numpy.ascontiguousarray(values[:, row, : len(batch[j])])
            return results  # type: ignore[return-value]
        finally:
            self.train(was_training)

    def embed_sentence(self, tokens: Sequence[str], layers: LayerChoice = "all") -> numpy.ndarray:
        """One sentence (a list of tokens): ``embed_sentences([tokens], layers=layers)[0]``, as AllenNLP's
        ``ElmoEmbedder.embed_sentence`` (``[n_output_layers, n_tokens, D]`` by default)."""
        return self.embed_sentences([tokens], layers=layers)[0]

    def save(self, model_dir: Union[str, Path], half: bool = False) -> None:
        """Write the native format: ``options.json`` + ``weights.safetensors`` (+ the dictionaries of a
        dictionary vocabulary) in ``model_dir``."""
        save_native(self, model_dir, half=half)


def state_shapes(options: BiLMOptions, vocabulary: Optional[CharacterVocabulary] = None) -> Dict[str, Tuple[int, ...]]:
    """Every tensor of a ``BiLM(options)``'s state dict and its shape, computed without allocating
    (on the meta device): what a loader checks a weight file against before building the model."""
    with torch.device("meta"):
        model = BiLM(options, vocabulary=vocabulary)
    return {name: tuple(value.shape) for name, value in model.state_dict().items()}


def _vocabulary_for(options: BiLMOptions, vocabulary: Optional[CharacterVocabulary]) -> CharacterVocabulary:
    """The given vocabulary, checked against the options' sizes, or the byte one they describe."""
    if vocabulary is None:
        if options.vocabulary != "bytes":
            raise OptionsError(
                f"These options describe a {options.vocabulary} character vocabulary, whose dictionaries come with the "
                "weights: load the model with spacy_elmo.bilm.load_bilm(model_dir), not BiLM(options)."
            )
        return ByteVocabulary(options.max_characters_per_token)
    found = (vocabulary.kind, vocabulary.n_char_rows, vocabulary.n_word_rows, vocabulary.max_chars)
    wanted = (options.vocabulary, options.char_embedding_rows, options.n_words, options.max_characters_per_token)
    if found != wanted:
        raise OptionsError(
            f"The character vocabulary ({vocabulary!r}: kind, character rows, word rows, characters per token {found}) does "
            f"not match the options ({wanted}); the dictionaries do not belong to these weights."
        )
    return vocabulary
