"""Typed reads of one field of an untrusted JSON file (options.json, an ELMoForManyLangs config).

Model files come from the internet: every field is checked for its type, its range and (numbers)
finiteness before anything is built from it, so ``"NaN"``, ``true`` for a size, ``1e9`` cells or a
list of the wrong shape is an :class:`~spacy_elmo.errors.OptionsError` that names the field, not a
silently different model or an attempt to allocate terabytes. ``where`` is the field's path
(``lstm.cell_clip``); the caller adds the file's name.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import OptionsError

#: Bounds far above every published model (the largest: 4096 cells, 2048 filters, 50 characters).
MAX_DIM = 1 << 16
MAX_LAYERS = 64
MAX_FILTER_KINDS = 64
MAX_CHARS_PER_TOKEN = 1024
MAX_VOCABULARY = 10_000_000
MAX_CLIP = 1e6

_MISSING: Any = object()
#: A model's configuration is a few hundred bytes; anything this large is another file (the weights?).
MAX_JSON_BYTES = 1 << 20


def json_object_file(path: Path, what: str, hint: str) -> Dict[str, Any]:
    """The JSON object in ``path`` (``what`` names the file, ``hint`` the likely fix), read only if it is small."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise OptionsError(f"{what} {path} is {size:,} bytes, far more than a model configuration. {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OptionsError(f"{what} {path} is not valid JSON ({err}). {hint}") from err
    if not isinstance(data, dict):
        raise OptionsError(f"{what} {path} holds a {type(data).__name__}, not a JSON object. {hint}")
    return data


def _fail(where: str, value: Any, problem: str) -> OptionsError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return OptionsError(f"{where} is {shown}: {problem}. Fix that field (or use the file that came with the weights).")


def section(data: Dict[str, Any], key: str, where: str) -> Dict[str, Any]:
    """``data[key]``, which must be a JSON object."""
    name = f"{where}.{key}" if where else key
    if key not in data:
        raise OptionsError(f"{name} is missing: the file needs a {key!r} section.")
    value = data[key]
    if not isinstance(value, dict):
        raise _fail(name, value, f"expected a JSON object, got {type(value).__name__}")
    return value


def _absent(name: str, default: Any, expected: str) -> Any:
    """The value of a missing field: its ``default``, or an error that says what to give."""
    if default is _MISSING:
        raise OptionsError(f"{name} is missing: give {expected}.")
    return default


def integer(data: Dict[str, Any], key: str, where: str, low: int, high: int, default: Any = _MISSING) -> int:
    """An int in ``[low, high]``; booleans and floats are refused (``true`` is not a size)."""
    name = f"{where}.{key}"
    if key not in data:
        return int(_absent(name, default, f"an integer from {low} to {high}"))
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, value, f"expected an integer from {low} to {high}, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(name, value, f"expected an integer from {low} to {high}")
    return value


def number(data: Dict[str, Any], key: str, where: str, low: float, high: float, default: Any = _MISSING,
           none_as: Optional[float] = None) -> float:
    """A finite number in ``[low, high]``; ``null`` reads as ``none_as`` where that is allowed."""
    name = f"{where}.{key}"
    if key not in data:
        return float(_absent(name, default, f"a number from {low:g} to {high:g}"))
    value = data[key]
    if value is None and none_as is not None:
        return none_as
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, value, f"expected a number from {low:g} to {high:g}, got {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise _fail(name, value, f"expected a finite number from {low:g} to {high:g}")
    return float(value)


def boolean(data: Dict[str, Any], key: str, where: str, default: Any = _MISSING) -> bool:
    """``true`` or ``false``; 0 and 1 are refused (a flag written as a number is a sign of a wrong file)."""
    name = f"{where}.{key}"
    if key not in data:
        return bool(_absent(name, default, "true or false"))
    value = data[key]
    if not isinstance(value, bool):
        raise _fail(name, value, f"expected true or false, got {type(value).__name__}")
    return value


def choice(data: Dict[str, Any], key: str, where: str, choices: Sequence[str], default: Any = _MISSING, fold_case: bool = False) -> str:
    name = f"{where}.{key}"
    if key not in data:
        return str(_absent(name, default, f"one of {', '.join(choices)}"))
    value = data[key]
    if not isinstance(value, str) or (value.lower() if fold_case else value) not in choices:
        raise _fail(name, value, f"expected one of {', '.join(repr(c) for c in choices)}")
    return value.lower() if fold_case else value


def filters(data: Dict[str, Any], key: str, where: str, max_width: int) -> Tuple[Tuple[int, int], ...]:
    """``[[width, n_filters], ...]``: a non-empty list of pairs of positive integers."""
    name = f"{where}.{key}"
    if key not in data:
        _absent(name, _MISSING, "a list of [width, n_filters] pairs")
    value = data[key]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FILTER_KINDS:
        raise _fail(name, value, f"expected a list of 1 to {MAX_FILTER_KINDS} [width, n_filters] pairs")
    out: List[Tuple[int, int]] = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(f"{name}[{i}]", pair, "expected a [width, n_filters] pair")
        entry = {"width": pair[0], "n_filters": pair[1]}
        out.append((integer(entry, "width", f"{name}[{i}]", 1, max_width), integer(entry, "n_filters", f"{name}[{i}]", 1, MAX_DIM)))
    return tuple(out)
