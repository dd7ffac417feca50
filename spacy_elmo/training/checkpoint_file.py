"""Checkpoint files read as data only: tensors and plain values, never pickled code.

A checkpoint (``checkpoints/last.pt``, ``rng-rank*.pt``) is a dict of tensors, numbers, strings,
lists, tuples and dicts (model, output layer and optimiser state, step counters, RNG states).
``torch.load(..., weights_only=True)`` reads exactly those types and refuses anything else, so a
run directory from someone else cannot execute code when ``pretrain-eval``, ``--resume`` or
any other command opens it. Resuming your own run needs nothing more: the trainer writes only
these types.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Union

import torch

from ..atomic import atomic_path
from ..errors import ElmoError


class UnsafeCheckpointError(ElmoError, ValueError):
    """A checkpoint holds more than tensors and plain values; it was not loaded."""


def save_checkpoint_file(obj: Any, path: Union[str, Path]) -> None:
    """Write ``obj`` (tensors and plain values only) atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint_file(path: Union[str, Path], map_location: Union[str, torch.device, None] = None) -> Any:
    """Read a checkpoint as tensors and plain values; :class:`UnsafeCheckpointError` for anything else."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"Refused to load {path}: it holds objects other than tensors and plain values, which could run code "
            f"when unpickled ({_first_line(err)}). spacy-elmo's own checkpoints never do; if you wrote this file "
            "yourself and trust it, re-save it with only tensors, numbers, strings, lists and dicts."
        ) from err
    except (RuntimeError, EOFError) as err:
        raise UnsafeCheckpointError(f"Cannot read {path} as a checkpoint ({_first_line(err)}); it is corrupt or truncated.") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
