"""The pretraining loop: checkpoints that resume exactly, dev perplexity (:mod:`.evaluation`), DDP (:mod:`.distributed`).

A run directory holds everything needed to continue or use the run:

- ``config.cfg``: the full config (a resumed run reads this one);
- ``vocab.txt``: the output vocabulary;
- ``model/``: the biLM of the latest checkpoint in the native format (what ``export`` reads), with its
  output layer and vocabulary (``output_layer.safetensors``, ``vocab.txt``: what ``adapt`` continues from);
- ``checkpoints/last.pt`` (+ ``rng-rank*.pt``): model, softmax, optimiser, schedule, data
  position and RNG states, so ``--resume`` continues with exactly the same updates;
- ``log.jsonl``: one line per checkpoint (step, tokens, losses, dev perplexities, time).
"""
from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy
import torch

from ..bilm import BiLM
from ..bilm.fast.batched_lstm import BatchedSettings
from ..layout import CHECKPOINT_DIR, CHECKPOINT_NAME, RUN_CACHE_DIR, RUN_CONFIG_NAME, RUN_LOG_NAME, RUN_MODEL_DIR, VOCAB_NAME
from ..progress import progress_bar
from .autocast import AUTOCAST_DTYPES, autocast_context, autocast_dtype  # noqa: F401 - imported from here too
from .batching import BatchMaker, epoch_batches, shard
from .checkpoint_file import load_checkpoint_file, save_checkpoint_file
from .config import PretrainConfig
from .corpus import CorpusError, TokenizedCorpus, Tokenizer, tokenize_corpus
from .distributed import init_distributed
from .errors import TrainingError
from .evaluation import evaluate
from .lm import BidirectionalLM
from .output_io import save_output_layer
from .vocab import Vocabulary


# -- data -------------------------------------------------------------------------------------
def prepare_corpus(path: Union[str, Path], config: PretrainConfig, cache_dir: Path, progress: bool) -> TokenizedCorpus:
    c = config.corpus
    tokenizer = Tokenizer(c.lang, pretokenized=c.pretokenized, split_sentences=c.split_sentences)
    return tokenize_corpus(path, tokenizer, c.max_line_chars, c.max_sentence_tokens, cache_dir=cache_dir, progress=progress)


def split_heldout(corpus: TokenizedCorpus, n: int) -> Tuple[TokenizedCorpus, TokenizedCorpus]:
    """Last ``n`` sentences as a dev set, when no dev file is given."""
    n = min(n, corpus.n_sentences // 10)
    if n <= 0:
        raise CorpusError(
            f"The corpus has only {corpus.n_sentences} sentences, too few to hold out a dev set. "
            "Give more text or a separate --dev file."
        )
    cut = corpus.n_sentences - n
    end = int(corpus.offsets[cut])
    train = TokenizedCorpus(corpus.types, corpus.counts, corpus.tokens[:end], corpus.offsets[: cut + 1], corpus.stats)
    dev = TokenizedCorpus(corpus.types, corpus.counts, corpus.tokens[end:], corpus.offsets[cut:] - end, corpus.stats)
    # Vocabulary counts come from the training part only.
    counts = numpy.bincount(train.tokens, minlength=len(corpus.types)).astype(numpy.int64)
    train.counts = counts
    return train, dev


# -- model and optimiser ---------------------------------------------------------------------------
def build_lm(config: PretrainConfig, vocab_size: int, init_from: Optional[BiLM] = None) -> BidirectionalLM:
    t = config.training
    if init_from is not None:
        init_from.options.require_bytes("Training from an initial biLM")
    bilm = BiLM(config.model, dropout=t.dropout)
    if init_from is not None:
        bilm.load_state_dict(init_from.state_dict())
    bilm.lstm_settings = lstm_settings(config)
    return BidirectionalLM(bilm, vocab_size, t.adaptive_cutoffs, t.output_dropout, t.adaptive_div_value)


def lstm_settings(config: PretrainConfig) -> BatchedSettings:
    """The [training] lstm_* settings as the biLSTM stack takes them."""
    t = config.training
    try:
        return BatchedSettings(impl=t.lstm_impl, compile_cell=t.lstm_compile, cuda_graphs=t.cuda_graphs)
    except ValueError as err:
        raise TrainingError(f"[training] {err}") from err


def update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch, config: PretrainConfig, step: int,
           device: torch.device):
    """One optimisation step on ``batch`` at the schedule's rate for ``step``; returns the :class:`LMLoss`.
    Shared by pretraining and ``adapt``; only parameters that require grad are clipped and moved."""
    t = config.training
    for group in optimizer.param_groups:
        group["lr"] = t.learning_rate * lr_factor(step, config)
    with autocast_context(config, device):
        out = model(batch)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    if t.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], t.grad_clip)
    optimizer.step()
    return out


def lr_factor(step: int, config: PretrainConfig) -> float:
    t = config.training
    if t.warmup_steps and step < t.warmup_steps:
        return (step + 1) / t.warmup_steps
    if t.lr_schedule == "constant":
        return 1.0
    span = max(1, t.max_steps - t.warmup_steps)
    progress = min(1.0, (step - t.warmup_steps) / span)
    return t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# -- the trainer -----------------------------------------------------------------------------------
class Trainer:
    def __init__(
        self,
        corpus_path: Union[str, Path],
        output_dir: Union[str, Path],
        config: Optional[PretrainConfig] = None,
        dev_path: Optional[Union[str, Path]] = None,
        resume: bool = False,
        init_from: Optional[BiLM] = None,
        device: Union[str, torch.device] = "cpu",
        seed: Optional[int] = None,
        progress: bool = True,
        log=print,
        resume_overrides: Optional[Dict[str, object]] = None,
    ):
        self.output_dir = Path(output_dir)
        self.device = torch.device(device)
        self._join_processes(progress, log)
        checkpoint = self.output_dir / CHECKPOINT_DIR / CHECKPOINT_NAME
        if resume:
            self.config = self._resumed_config(checkpoint, seed, resume_overrides)
        else:
            self.config = self._new_config(checkpoint, config, seed, init_from)
        self._set_up_compute()
        train, dev = self._read_corpus(corpus_path, dev_path)
        self.vocab = self._vocabulary(train, dev, resume)
        self.train_maker = BatchMaker(train, self.vocab, self.config.model.max_characters_per_token)
        self.dev_maker = BatchMaker(dev, self.vocab, self.config.model.max_characters_per_token)
        self._build_model(init_from)
        if resume:
            self._load_checkpoint(checkpoint)
        else:
            self._start_run()
        self.model: torch.nn.Module = self.lm  # what the loop calls: the LM, or DDP around it
        if self.dist.enabled:
            self.model = torch.nn.parallel.DistributedDataParallel(self.lm, find_unused_parameters=True)
        self._stop_requested = False

    # -- the steps of __init__ -----------------------------------------------------------------
    def _join_processes(self, progress: bool, log) -> None:
        """DDP (when launched by torchrun) and who reports: only rank 0 shows progress and logs."""
        self.dist = init_distributed(self.device)
        self.progress = progress and self.dist.is_main
        self.log = log if self.dist.is_main else (lambda *a, **k: None)

    def _resumed_config(self, checkpoint: Path, seed: Optional[int], overrides: Optional[Dict[str, object]]) -> PretrainConfig:
        """A resumed run keeps its own config; only [training] limits may change (to train longer)."""
        if not checkpoint.is_file():
            raise TrainingError(f"--resume: no checkpoint at {checkpoint}. Start a new run without --resume.")
        config = PretrainConfig.from_file(self.output_dir / RUN_CONFIG_NAME)
        for key, value in (overrides or {}).items():
            section, _, name = key.partition(".")
            if section != "training" or not hasattr(config.training, name):
                raise TrainingError(f"--resume can only change [training] settings (e.g. --training.max_steps); got --{key}.")
            setattr(config.training, name, value)
        if overrides and self.dist.is_main:
            config.to_file(self.output_dir / RUN_CONFIG_NAME)
        if seed is not None and seed != config.training.seed:
            raise TrainingError(f"--resume with --seed {seed}, but the run was started with seed {config.training.seed}.")
        return config

    def _new_config(self, checkpoint: Path, config: Optional[PretrainConfig], seed: Optional[int], init_from: Optional[BiLM]) -> PretrainConfig:
        """A new run's config (the default one if none is given), with ``seed`` and ``init_from``'s model shape;
        refused where ``output_dir`` already holds a run."""
        if checkpoint.is_file():
            raise TrainingError(
                f"{self.output_dir} already holds a run (checkpoint {checkpoint}). "
                "Pass --resume to continue it, or choose another OUTPUT_DIR."
            )
        config = config if config is not None else PretrainConfig()
        if seed is not None:
            config.training.seed = seed
        if init_from is not None:
            config = config.with_model(init_from.options)
        return config

    def _set_up_compute(self) -> None:
        """Check [training] autocast now (a bad value fails here, not at the first step; ``"auto"`` measures
        here, once per machine) and set torch's threads."""
        autocast_context(self.config, self.device)
        if self.config.training.torch_threads:
            torch.set_num_threads(self.config.training.torch_threads)

    def _read_corpus(self, corpus_path: Union[str, Path], dev_path: Optional[Union[str, Path]]) -> Tuple[TokenizedCorpus, TokenizedCorpus]:
        """The training and dev text: rank 0 tokenises (and caches) first; the other ranks then read the cache."""
        config = self.config
        cache = self.output_dir / RUN_CACHE_DIR
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            corpus = prepare_corpus(corpus_path, config, cache, self.progress)
            self.dist.barrier()
        else:
            self.dist.barrier()
            corpus = prepare_corpus(corpus_path, config, cache, False)
        if dev_path is not None:
            train, dev = corpus, prepare_corpus(dev_path, config, cache, False)
        else:
            train, dev = split_heldout(corpus, config.corpus.heldout_sentences)
        self.log(f"corpus: {corpus.stats.summary()}")
        return train, dev

    def _vocabulary(self, train: TokenizedCorpus, dev: TokenizedCorpus, resume: bool) -> Vocabulary:
        """The run's output vocabulary: read back when resuming, else counted from the training text."""
        if resume:
            vocab = Vocabulary.from_file(self.output_dir / VOCAB_NAME)
        else:
            vocab = Vocabulary.from_counts(train.types, train.counts, self.config.corpus.vocab_size, self.config.corpus.min_count)
        self.log(
            f"vocabulary: {len(vocab)} words, covering {100 * vocab.coverage(train.types, train.counts):.2f}% "
            f"of {train.n_tokens} training tokens; dev: {dev.n_sentences} sentences"
        )
        return vocab

    def _build_model(self, init_from: Optional[BiLM]) -> None:
        """The LM (seeded, so every rank starts from the same weights), its optimiser and a fresh position."""
        t = self.config.training
        torch.manual_seed(t.seed)
        self.lm = build_lm(self.config, len(self.vocab), init_from).to(self.device)
        self.optimizer = torch.optim.Adam(self.lm.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.tokens_seen = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run

    def _start_run(self) -> None:
        """A new run: per-rank dropout streams; rank 0 writes the config and vocabulary beside the checkpoints."""
        torch.manual_seed(self.config.training.seed + 1000 * self.dist.rank)
        if self.dist.is_main:
            self.config.to_file(self.output_dir / RUN_CONFIG_NAME)
            self.vocab.to_file(self.output_dir / VOCAB_NAME)

    # -- checkpoints ---------------------------------------------------------------------------
    def _rng_file(self, rank: int) -> Path:
        return self.output_dir / CHECKPOINT_DIR / f"rng-rank{rank}.pt"

    def save_checkpoint(self, metrics: Dict[str, float]) -> None:
        """Atomically write the checkpoint, the native model and a log line (rank 0), RNG (each rank)."""
        ckpt_dir = self.output_dir / CHECKPOINT_DIR
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.dist.is_main:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.dist.barrier()
        save_checkpoint_file(rng, self._rng_file(self.dist.rank))
        if self.dist.is_main:
            state = {
                "lm": self.lm.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "tokens_seen": self.tokens_seen,
                "elapsed": self.elapsed,
                "world_size": self.dist.world_size,
                "metrics": metrics,
            }
            save_checkpoint_file(state, ckpt_dir / CHECKPOINT_NAME)
            self.lm.bilm.save(self.output_dir / RUN_MODEL_DIR)
            save_output_layer(self.lm.output, self.vocab, self.output_dir / RUN_MODEL_DIR)
            with open(self.output_dir / RUN_LOG_NAME, "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
        self.dist.barrier()

    def _load_checkpoint(self, path: Path) -> None:
        state = load_checkpoint_file(path, map_location=self.device)
        if state["world_size"] != self.dist.world_size:
            raise TrainingError(
                f"The checkpoint was written by {state['world_size']} process(es); resume it with the same number "
                f"(now {self.dist.world_size}), since the data order depends on it."
            )
        self.lm.load_state_dict(state["lm"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch, self.tokens_seen = state["batch_in_epoch"], state["tokens_seen"]
        self.elapsed = state.get("elapsed", 0.0)
        rng_file = self._rng_file(self.dist.rank)
        if rng_file.is_file():
            rng = load_checkpoint_file(rng_file)
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.log(f"resumed at step {self.step} (epoch {self.epoch}, {self.tokens_seen} tokens seen)")

    # -- the loop ------------------------------------------------------------------------------
    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True

    def request_stop(self) -> None:
        """Checkpoint after the current step and return from :meth:`train` (what Ctrl-C does)."""
        self._stop_requested = True

    def _epoch_batches(self) -> List[numpy.ndarray]:
        t = self.config.training
        batches = epoch_batches(self.train_maker.lengths, t.seed, self.epoch, t.batch_tokens, t.max_batch_sentences)
        return shard(batches, self.dist.rank, self.dist.world_size)

    def metrics(self, train_loss: float) -> Dict[str, float]:
        out: Dict[str, float] = {
            "step": self.step,
            "epoch": self.epoch,
            "tokens_seen": self.tokens_seen,
            "train_loss": train_loss,
            "elapsed_minutes": round(self.elapsed / 60, 2),
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        if self.dist.is_main:
            dev = evaluate(self.lm, self.dev_maker, self.config.corpus.dev_max_sentences, device=self.device)
            out.update({f"dev_{k}": v for k, v in dev.items()})
        return out

    def train(self, on_step=None) -> Dict[str, float]:
        """Train until max_steps / max_epochs / max_minutes or a stop request; returns the last metrics.

        ``on_step(trainer)`` is called after every update (progress hooks, tests).
        """
        t = self.config.training
        handlers = {}
        if self.dist.is_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    handlers[sig] = signal.signal(sig, self._request_stop)
                except ValueError:  # not the main thread (e.g. inside some test runners)
                    pass
        bar = progress_bar(self.progress, every=5.0, total=t.max_steps, initial=self.step, unit="step")
        self.model.train()
        session_start = time.time()
        elapsed_at_start = self.elapsed
        last_checkpoint = time.time()
        smoothed: Optional[float] = None
        window_tokens, window_start = 0, time.time()
        batches = self._epoch_batches()
        if not batches:
            raise TrainingError("The training corpus is too small for one batch per process; give more text.")
        metrics: Dict[str, float] = {}
        try:
            while True:
                done = self.step >= t.max_steps or (t.max_epochs and self.epoch >= t.max_epochs)
                overtime = t.max_minutes and self.elapsed >= 60 * t.max_minutes
                if done or overtime:
                    break
                if self.batch_in_epoch >= len(batches):
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    batches = self._epoch_batches()
                    continue
                batch = self.train_maker.make(batches[self.batch_in_epoch]).to(self.device)
                out = update(self.model, self.optimizer, batch, self.config, self.step, self.device)
                self.step += 1
                self.batch_in_epoch += 1
                n_tok = self.dist.sum_int(out.n_tokens)
                self.tokens_seen += n_tok
                window_tokens += n_tok
                loss = out.loss.detach().item()
                if not math.isfinite(loss):
                    raise TrainingError(
                        f"The loss became {loss} at step {self.step}; the last good checkpoint is kept. "
                        "Lower training.learning_rate or raise grad clipping."
                    )
                smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
                self.elapsed = elapsed_at_start + time.time() - session_start
                if bar is not None:
                    bar.update(1)
                    if self.step % 5 == 0:
                        now = time.time()
                        bar.set_postfix(loss=f"{smoothed:.3f}", ppl=f"{math.exp(min(smoothed, 50)):.1f}",
                                        tok_s=f"{window_tokens / max(now - window_start, 1e-6):.0f}", epoch=self.epoch)
                        window_tokens, window_start = 0, now
                if on_step is not None:
                    on_step(self)
                by_steps = bool(t.checkpoint_every_steps) and self.step % t.checkpoint_every_steps == 0
                by_time = bool(t.checkpoint_every_minutes) and time.time() - last_checkpoint >= 60 * t.checkpoint_every_minutes
                by_time, stop = self.dist.broadcast_flags([by_time, self._stop_requested])
                if by_steps or by_time or stop:
                    metrics = self.metrics(smoothed)
                    self.save_checkpoint(metrics)
                    last_checkpoint = time.time()
                    self._report(metrics, bar)
                if stop:
                    self.log("stopped on request; resume with --resume")
                    return metrics
            if not metrics or metrics.get("step") != self.step:
                metrics = self.metrics(smoothed if smoothed is not None else float("nan"))
                self.save_checkpoint(metrics)
                self._report(metrics, bar)
            return metrics
        finally:
            if bar is not None:
                bar.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _report(self, metrics: Dict[str, float], bar) -> None:
        if not self.dist.is_main:
            return
        line = (
            f"step {metrics['step']}: train loss {metrics['train_loss']:.3f}, dev ppl forward "
            f"{metrics['dev_forward_ppl']:.2f} / backward {metrics['dev_backward_ppl']:.2f} "
            f"({metrics['dev_tokens']} tokens), {metrics['tokens_seen']} tokens seen, {metrics['elapsed_minutes']} min"
        )
        if bar is not None:
            bar.write(line)
        else:
            self.log(line)


def load_run(run_dir: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Tuple[BidirectionalLM, Vocabulary, PretrainConfig]:
    """The LM (biLM + output layer) and vocabulary of a run's latest checkpoint, for evaluation."""
    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT_DIR / CHECKPOINT_NAME
    if not ckpt.is_file():
        raise TrainingError(f"{run_dir} is not a pretraining run directory (no {ckpt}).")
    config = PretrainConfig.from_file(run_dir / RUN_CONFIG_NAME)
    vocab = Vocabulary.from_file(run_dir / VOCAB_NAME)
    lm = build_lm(config, len(vocab))
    state = load_checkpoint_file(ckpt, map_location=device)
    lm.load_state_dict(state["lm"])
    return lm.to(device).eval(), vocab, config
