"""A small synthetic English-like corpus with learnable structure, and tiny run settings."""
from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = ["The cat", "A dog", "My neighbour", "The old teacher", "Our team", "The young doctor", "Anna", "Mr. Smith"]
VERBS = ["sees", "likes", "finds", "follows", "calls", "helps", "watches", "visits"]
OBJECTS = ["the ball", "a small house", "the river", "her friend", "the red car", "a new book", "the market", "London"]
ENDINGS = [".", " today.", " again.", " every morning.", " in the park.", ", doesn't it?"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}"


def write_corpus(path: Path, n_lines: int = 300, seed: int = 0) -> Path:
    """``n_lines`` lines of one to three sentences each."""
    rng = random.Random(seed)
    lines = [" ".join(sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(n_lines)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(**training):
    """The tiny test config (configs/pretrain/tiny.cfg) with [training] overrides."""
    from spacy_elmo.training.config import PretrainConfig

    from tests.helpers import ROOT

    config = PretrainConfig.from_file(ROOT / "configs" / "pretrain" / "tiny.cfg")
    for key, value in training.items():
        setattr(config.training, key, value)
    return config
