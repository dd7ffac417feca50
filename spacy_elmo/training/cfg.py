"""Read and write thinc/confection ``.cfg`` files without thinc (so pretraining needs no spaCy stack).

The format is the one ``spacy train`` uses: ``[section]`` and ``[section.sub]`` headers
(parsed by the standard library's ``configparser``, as thinc does), values in JSON (plus
Python's ``True``/``False``/``None``; anything else is a plain string), and ``${section.key}``
references. A value that is exactly one reference takes the referenced value with its type;
a reference inside a longer value is spliced in as text; ``$$`` is a literal ``$``.

Not supported (a :class:`CfgError` says so): references to whole sections (``${paths}``)
and ``[section.*]`` positional-argument sections. ``@registry`` keys are kept as plain keys:
nothing here resolves registered functions. ``tests/training/test_cfg.py`` checks that this
module and thinc's ``Config`` agree on every config in ``configs/``.
"""
from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from ..atomic import write_text

# The same patterns as confection's VARIABLE_RE and configparser's ExtendedInterpolation.
_VARIABLE = re.compile(r"\$\{[\w\.:]+\}")
_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_PYTHON_LITERALS = {"True": True, "False": False, "None": None}
_MAX_DEPTH = configparser.MAX_INTERPOLATION_DEPTH


class CfgError(ValueError):
    """The text is not a config this reader understands; the message names the place and the problem."""


# -- reading ---------------------------------------------------------------------------
def load(path: Union[str, Path], overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Parse a ``.cfg`` file into nested dicts, interpolated, with ``{"section.key": value}`` overrides."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CfgError(f"{path} is not UTF-8 text ({err}).") from None
    return loads(text, overrides)


def loads(text: str, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Parse ``.cfg`` text. Overrides replace (or add) a key's value before references are resolved."""
    raw = _read_sections(text)
    for key, value in (overrides or {}).items():
        section, _, name = key.rpartition(".")
        if section not in raw:
            raise CfgError(f"Override {key!r}: the config has no section [{section or key}] to put it in.")
        raw[section][name] = _dump_value(value)
    result: Dict[str, Any] = {}
    for section in raw:  # the nested dicts first, in file order (as thinc builds them)
        _node(result, section)
    for section in raw:
        node = _node(result, section)
        for key in raw[section]:
            node[key] = _interpret(_interpolate(raw, section, key))
    return result


def _node(root: Dict[str, Any], section: str) -> Dict[str, Any]:
    for part in section.split("."):
        root = root.setdefault(part, {})
    return root


class _CaseKeepingParser(configparser.ConfigParser):
    """Keys keep their case, as in thinc (ConfigParser lower-cases them by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _read_sections(text: str) -> Dict[str, Dict[str, str]]:
    """Section name -> {key: raw value}, checked for the structure thinc requires."""
    parser = _CaseKeepingParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as err:
        raise CfgError(f"Cannot parse the config: {err}") from None
    if parser.defaults():
        raise CfgError(f"A [{parser.default_section}] section is not supported; put its keys in the sections that use them.")
    raw = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
    for name in raw:
        parts = name.split(".")
        if "*" in parts:
            raise CfgError(f"[{name}]: positional-argument sections ('*') are not supported by spacy-elmo's config reader.")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in raw:
                raise CfgError(f"[{name}]: its parent section [{parent}] is not defined; add a [{parent}] header above it.")
        if len(parts) > 1 and parts[-1] in raw[".".join(parts[:-1])]:
            raise CfgError(f"[{name}] conflicts with the key {parts[-1]!r} in [{'.'.join(parts[:-1])}].")
    return raw


def _interpolate(raw: Dict[str, Dict[str, str]], section: str, key: str) -> str:
    pieces: List[str] = []
    _resolve(raw, section, key, raw[section][key], pieces, 1)
    if len(pieces) == 1:
        return pieces[0]  # the whole value, or exactly one reference: keeps its JSON type
    return "".join(_as_text(piece) for piece in pieces)


def _resolve(raw, section: str, key: str, rest: str, out: List[str], depth: int) -> None:
    """Split ``rest`` into literal text and referenced raw values (recursively), as confection does."""
    where = f"[{section}] {key}"
    if depth > _MAX_DEPTH:
        raise CfgError(f"{where}: references nest more than {_MAX_DEPTH} deep (is there a cycle?).")
    while rest:
        p = rest.find("$")
        if p < 0:
            out.append(rest)
            return
        if p > 0:
            out.append(rest[:p])
            rest = rest[p:]
        if rest[1:2] == "$":
            out.append("$")
            rest = rest[2:]
            continue
        match = _REFERENCE.match(rest) if rest[1:2] == "{" else None
        if match is None:
            raise CfgError(f"{where}: bad '$' in {rest!r}; write ${{section.key}} for a reference or $$ for a '$'.")
        name = match.group(1)
        rest = rest[match.end():]
        scope, dot, option = name.replace(":", ".").rpartition(".")
        if not dot:  # ${key}: a key of the same section; ${own_key} or ${section} names a section
            scope = section
        value = None if (not dot and option == key) else raw.get(scope, {}).get(option)
        if value is None:
            if (f"{scope}.{option}" if dot else option) in raw:
                raise CfgError(f"{where}: ${{{name}}} refers to a whole section, which spacy-elmo's config reader does not support; refer to one of its keys.")
            raise CfgError(f"{where}: ${{{name}}} refers to a key that does not exist.")
        if "$" in value:
            _resolve(raw, scope, option, value, out, depth + 1)
        else:
            out.append(value)


def _as_text(piece: str) -> str:
    """A raw value spliced into a longer string: JSON strings lose their quotes (confection's rule)."""
    try:
        parsed = json.loads(piece)
    except json.JSONDecodeError:
        return piece
    if isinstance(parsed, str):
        return parsed
    return json.dumps(parsed).replace('"', '\\"')


def _interpret(value: str) -> Any:
    try:
        result = json.loads(value)
    except json.JSONDecodeError:
        result = _PYTHON_LITERALS.get(value, value)
    if isinstance(result, str) and _VARIABLE.search(value):
        return value  # a literal "${...}" (written $${...}) stays as written
    return result


# -- writing ---------------------------------------------------------------------------
def dump(data: Mapping[str, Any], path: Union[str, Path]) -> None:
    """Write nested dicts as a ``.cfg`` file, byte for byte as thinc's ``Config.to_disk`` would."""
    write_text(path, dumps(data))


def dumps(data: Mapping[str, Any]) -> str:
    """Nested dicts as ``.cfg`` text: a section per dict (breadth first, as thinc orders them)."""
    sections: Dict[str, Dict[str, str]] = {}
    queue: List[tuple] = [((), data)]
    for path, node in queue:
        name = ".".join(path)
        if path:
            sections.setdefault(name, {})
        for key, value in node.items():
            if isinstance(value, Mapping):
                queue.append((path + (key,), value))
            elif not path:
                raise CfgError(f"Top-level key {key!r} is not in a section; every value must be under a [section].")
            else:
                sections[name][key] = _dump_value(value)
    lines: List[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines).strip()


def _dump_value(value: Any) -> str:
    if isinstance(value, str) and _VARIABLE.search(value):
        return value  # a reference stays a reference
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as err:
        raise CfgError(f"Cannot write {value!r} to a config: {err}. Values must be JSON (numbers, strings, lists, ...).") from None
    return re.sub(r"\$(?!\{)", "$$", text)
