"""Paths to ../shared and tiny model options, importable from any test module."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
REFERENCE = DATA / "elmo-reference"

needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"ELMo reference data not found at {REFERENCE}; put ../shared beside the checkout "
    "(CI has it) or set SPACY_ELMO_SHARED",
)


def tiny_options(**overrides):
    from spacy_elmo.bilm import BiLMOptions

    settings = dict(
        char_embedding_dim=4,
        filters=((1, 4), (2, 8), (3, 8)),
        n_highway=1,
        lstm_dim=24,
        projection_dim=8,
        n_layers=2,
        cell_clip=3.0,
        proj_clip=3.0,
        use_skip_connections=True,
    )
    settings.update(overrides)
    return BiLMOptions(**settings)


# A tiny exclusive textcat whose tok2vec is an ElmoListener (width 8), for pipeline-level tests.
TINY_TEXTCAT_LISTENER_CFG = """
[model]
@architectures = "spacy.TextCatReduce.v1"
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = true
use_reduce_mean = true

[model.tok2vec]
@architectures = "spacy-elmo.ElmoListener.v1"
width = 8
"""
