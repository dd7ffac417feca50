"""``pretrain-eval``: a finished run's perplexity on held-out text, as a dict of figures (and a JSON file).

The text is read and tokenised as the run's training text was (its own config and vocabulary), and
the full softmax over that vocabulary is used, so figures of different runs on one text compare.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..atomic import write_text
from ..layout import RUN_CACHE_DIR
from .batching import BatchMaker
from .evaluation import evaluate
from .trainer import load_run, prepare_corpus

PathLike = Union[str, Path]


def evaluate_run(run_dir: PathLike, text: PathLike, max_sentences: int = 0, output: Optional[PathLike] = None) -> Dict[str, Any]:
    """Forward and backward perplexity of the run's latest checkpoint on ``text`` (the first
    ``max_sentences`` sentences; 0 = all), with the OOV rate and the time taken; also written to ``output``."""
    run_dir = Path(run_dir)
    start = time.time()
    lm, vocab, config = load_run(run_dir)
    corpus = prepare_corpus(text, config, run_dir / RUN_CACHE_DIR, progress=False)
    result: Dict[str, Any] = evaluate(lm, BatchMaker(corpus, vocab, config.model.max_characters_per_token), max_sentences)
    result.update({"text": str(text), "run_dir": str(run_dir), "vocab_size": len(vocab),
                   "oov_rate": 1 - vocab.coverage(corpus.types, corpus.counts), "seconds": round(time.time() - start, 1)})
    if output is not None:
        write_text(output, json.dumps(result, indent=2) + "\n")
    return result
