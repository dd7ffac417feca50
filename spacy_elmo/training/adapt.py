"""Domain adaptation: a short, bounded continuation of a biLM's LM training on a task's unlabelled text.

As in the ELMo paper (section 3.4), the biLM is fine-tuned on the task's own text before a task model is
trained on its features. Unlike ``pretrain --init-from``, adaptation keeps the model's own output layer and
vocabulary (``output_io``), so the perplexity on held-out task text is measured before anything changes and
the first updates do not push gradients through a random softmax. A model without an output layer (original
ELMo files) first gets one fitted with the biLM frozen (``head_steps``), which is also how the packaged models'
output layers were made.

The result is a native model directory (biLM, output layer, vocabulary, ``adapt.json``): every command and
the ``elmo`` component accept it.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import torch

from ..atomic import write_text
from ..bilm import BiLM
from ..errors import ElmoError
from ..layout import ADAPT_RECORD_NAME as RECORD_NAME
from ..layout import VOCAB_NAME
from ..progress import progress_bar
from .batching import BatchMaker, epoch_batches
from .config import CorpusSettings, PretrainConfig, TrainingSettings
from .corpus import CorpusError
from .evaluation import evaluate
from .lm import BidirectionalLM
from .output_io import find_output_layer, save_output_layer
from .trainer import build_lm, prepare_corpus, split_heldout, update
from .vocab import Vocabulary


@dataclass
class AdaptSettings:
    """How far and how fast to adapt. Only ``steps`` was checked on dev: 400 beat 100 (eng.train) and 200 (movie
    reviews) on held-out perplexity and, within the seed spread, on the task's dev score; the rest is a starting
    point (BENCHMARKS.md)."""

    steps: int = 400  # updates of the whole LM (biLM + output layer); 0 = only fit a missing output layer
    learning_rate: float = 2e-4  # a fifth of pretraining's peak: move the biLM, do not retrain it
    warmup_steps: int = 40
    min_lr_ratio: float = 0.1  # cosine decay to this share of learning_rate at the last step
    head_steps: int = 300  # output-layer fit with the biLM frozen, only for a model without an output layer
    head_learning_rate: float = 2e-3
    batch_tokens: int = 4000
    dropout: float = 0.1  # on the LSTM inputs (the value the issue-19 adaptation runs used)
    output_dropout: float = 0.1
    heldout_sentences: int = 500  # held out from TEXT for the perplexity when no dev text is given
    min_train_tokens: int = 5000  # less text than this is refused: too little to move the biLM meaningfully
    vocab_size: int = 50_000  # for a model without its own vocabulary
    lang: str = "en"
    pretokenized: bool = False
    autocast: str = "none"  # "bfloat16": matmuls in bf16; "auto": bf16 where it measured faster on this CPU (trainer.autocast_dtype)
    seed: int = 0
    half: bool = False  # store the adapted biLM and output layer in float16


class AdaptError(ElmoError, ValueError):
    """Adaptation cannot run (bad settings, an output directory in the way)."""


def _config(bilm: BiLM, settings: AdaptSettings, learning_rate: float, steps: int, warmup: int) -> PretrainConfig:
    corpus = CorpusSettings(lang=settings.lang, pretokenized=settings.pretokenized, vocab_size=settings.vocab_size)
    training = TrainingSettings(
        seed=settings.seed, batch_tokens=settings.batch_tokens, dropout=settings.dropout,
        output_dropout=settings.output_dropout, learning_rate=learning_rate, warmup_steps=warmup,
        min_lr_ratio=settings.min_lr_ratio, max_steps=max(steps, 1), autocast=settings.autocast,
    )
    return PretrainConfig(model=bilm.options, corpus=corpus, training=training)


def _check(settings: AdaptSettings) -> None:
    if settings.steps < 0 or settings.head_steps < 0:
        raise AdaptError("steps and head_steps must be 0 or more.")
    if settings.learning_rate <= 0 or settings.head_learning_rate <= 0:
        raise AdaptError("The learning rates must be positive.")
    if settings.batch_tokens < 100:
        raise AdaptError(f"batch_tokens is {settings.batch_tokens}; give at least 100 (the default is 4000).")


def _train(lm: BidirectionalLM, params, maker: BatchMaker, config: PretrainConfig, steps: int, device: torch.device,
           progress: bool, desc: str) -> float:
    """``steps`` updates of ``params`` over epochs of ``maker``'s sentences; returns the mean loss of the last 50."""
    optimizer = torch.optim.Adam(params, lr=config.training.learning_rate)
    bar = progress_bar(progress, every=2.0, total=steps, desc=desc, unit="step")
    losses = []
    epoch, position = 0, 0
    batches: List[Any] = []
    try:
        for step in range(steps):
            if position >= len(batches):
                batches = epoch_batches(maker.lengths, config.training.seed, epoch, config.training.batch_tokens,
                                        config.training.max_batch_sentences)
                epoch, position = epoch + 1, 0
            out = update(lm, optimizer, maker.make(batches[position]).to(device), config, step, device)
            position += 1
            losses.append(float(out.loss.detach()))
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
    finally:
        if bar is not None:
            bar.close()
    tail = losses[-50:]
    return sum(tail) / len(tail) if tail else float("nan")


def _split(text: Union[str, Path], dev: Optional[Union[str, Path]], config: PretrainConfig, settings: AdaptSettings,
           cache: Path, progress: bool):
    corpus = prepare_corpus(text, config, cache, progress)
    if dev is not None:
        return corpus, prepare_corpus(dev, config, cache, False)
    if corpus.n_sentences < 20:
        raise CorpusError(
            f"{text} holds {corpus.n_sentences} sentence(s) ({corpus.n_tokens} tokens); adaptation needs at least "
            f"{settings.min_train_tokens} tokens of the task's text, a tenth of which is held out to measure perplexity. "
            "Give more text."
        )
    return split_heldout(corpus, settings.heldout_sentences)


def adapt(
    bilm: BiLM,
    text: Union[str, Path],
    output_dir: Union[str, Path],
    settings: Optional[AdaptSettings] = None,
    model_dir: Optional[Union[str, Path]] = None,
    dev: Optional[Union[str, Path]] = None,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
    source: str = "",
) -> Dict[str, Any]:
    """Adapt ``bilm`` (whose output layer and vocabulary, if any, are in ``model_dir``) to ``text``.

    Writes the adapted model to ``output_dir`` and returns the record also written as ``adapt.json``:
    held-out perplexity before and after, the settings, the time taken.
    """
    settings = settings or AdaptSettings()
    _check(settings)
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise AdaptError(f"{output_dir} exists and is not empty; give a new OUTPUT_DIR.")
    device = torch.device(device)
    start = time.time()
    torch.manual_seed(settings.seed)
    config = _config(bilm, settings, settings.learning_rate, settings.steps, settings.warmup_steps)
    with tempfile.TemporaryDirectory(prefix="spacy-elmo-adapt-") as cache:
        train, heldout = _split(text, dev, config, settings, Path(cache), progress)
    if train.n_tokens < settings.min_train_tokens:
        raise CorpusError(
            f"{text} gives {train.n_tokens} training tokens after holding out {heldout.n_tokens} for perplexity; "
            f"adaptation needs at least {settings.min_train_tokens} (a few dozen paragraphs of the task's text). "
            "Give more text, or use the model as it is."
        )
    found = find_output_layer(model_dir, bilm.options.projection_dim)
    vocab = found[1] if found else _own_vocabulary(model_dir)
    if vocab is None:
        vocab = Vocabulary.from_counts(train.types, train.counts, settings.vocab_size)
    lm = build_lm(config, len(vocab), init_from=bilm)
    if found:
        lm.output = found[0]
    lm.to(device)
    origin = "new, from the text" if model_dir is None or not (Path(model_dir) / VOCAB_NAME).is_file() else "the model's own"
    log(f"text: {train.n_sentences} sentences, {train.n_tokens} tokens for training; held out: "
        f"{heldout.n_sentences} sentences, {heldout.n_tokens} tokens; vocabulary: {len(vocab)} words "
        f"({origin}), covering "
        f"{100 * vocab.coverage(train.types, train.counts):.1f}% of the training tokens")
    train_maker = BatchMaker(train, vocab, bilm.options.max_characters_per_token)
    heldout_maker = BatchMaker(heldout, vocab, bilm.options.max_characters_per_token)
    record: Dict[str, Any] = {"base": source, "text": str(text), "dev": str(dev) if dev else None,
                                 "settings": asdict(settings), "train_tokens": train.n_tokens,
                                 "heldout_tokens": heldout.n_tokens, "output_layer": "kept" if found else "new"}
    if not found:
        record["head_fit"] = _fit_output_layer(lm, train_maker, heldout_maker, bilm, settings, device, progress, log)
    # "before" is the model as adaptation starts (after the output-layer fit, if any); nothing is evaluated twice.
    before = record["head_fit"]["heldout"] if not found else evaluate(lm, heldout_maker, device=device)
    log(_ppl_line("before", before))
    after = before
    if settings.steps:
        lm.bilm.requires_grad_(True)
        lm.train()
        record["train_loss"] = _train(lm, [p for p in lm.parameters()], train_maker, config, settings.steps, device,
                                      progress, "adapting")
        after = evaluate(lm, heldout_maker, device=device)
    log(_ppl_line("after", after))
    record.update(before=before, after=after, seconds=round(time.time() - start, 1), device=str(device),
                  torch_threads=torch.get_num_threads())
    lm.bilm.eval().cpu().save(output_dir, half=settings.half)
    save_output_layer(lm.output.cpu(), vocab, output_dir, half=settings.half)
    write_text(output_dir / RECORD_NAME, json.dumps(record, indent=2) + "\n")
    return record


def _fit_output_layer(lm: BidirectionalLM, train_maker: BatchMaker, heldout_maker: BatchMaker, bilm: BiLM,
                      settings: AdaptSettings, device: torch.device, progress: bool, log) -> Dict[str, object]:
    """A new output layer trained with the biLM frozen (no dropout in it, no gradient through it)."""
    if not settings.head_steps:
        raise AdaptError("The model has no output layer, so head_steps must be at least 1 to fit one first.")
    config = _config(bilm, settings, settings.head_learning_rate, settings.head_steps, min(20, settings.head_steps // 10))
    config.training.autocast = "none"  # the frozen biLM runs the fp32 inference routes; the layer itself is cheap
    lm.bilm.requires_grad_(False)
    lm.train()
    lm.bilm.eval()
    loss = _train(lm, list(lm.output.parameters()), train_maker, config, settings.head_steps, device, progress,
                  "fitting the output layer (biLM frozen)")
    fitted = evaluate(lm, heldout_maker, device=device)
    log(f"output layer fitted with the biLM frozen ({settings.head_steps} steps)")
    return {"steps": settings.head_steps, "train_loss": loss, "heldout": fitted}


def _own_vocabulary(model_dir: Optional[Union[str, Path]]) -> Optional[Vocabulary]:
    """The vocabulary a native model was trained with (its ``vocab.txt``), when it ships one without an output layer."""
    if model_dir is None or not (Path(model_dir) / VOCAB_NAME).is_file():
        return None
    return Vocabulary.from_file(Path(model_dir) / VOCAB_NAME)


def _ppl_line(when: str, result: Dict[str, float]) -> str:
    return (f"held-out perplexity {when}: forward {result['forward_ppl']:.2f}, backward {result['backward_ppl']:.2f} "
            f"({result['tokens']} predictions)")


__all__ = ["AdaptError", "AdaptSettings", "RECORD_NAME", "adapt"]
