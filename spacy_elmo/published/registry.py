"""The registry of published ELMo models: what each name means (language, format, where the files are, which
hashes the publisher states).

The built-in entries are the package's ``registry.json``; ``SPACY_ELMO_REGISTRY`` names a JSON file in the
same schema whose entries are added to them, or replace the built-in entry of the same name (a company mirror,
a private model). Every entry is validated before it is used, and an error names the file and the entry, so a
typo in a private registry never turns into a download of the wrong thing.

Schema (one object per name)::

    {"NAME": {"lang": "de", "format": "allennlp" | "elmoformanylangs",
              "files": {"options.json": {"url": "https://...", "sha256": "..."},
                        "weights.hdf5": {"url": "https://...", "sha256": "..."}},
              # or, instead of "files":
              "archive": {"url": "https://.../142.zip", "sha256": "..."},
              "subfolder": "where/in/the/archive",            # optional: found by its files otherwise
              "language": "German", "description": "...", "source": "https://...", "license": "...",
              "size": 123456789}}                             # optional: total bytes to download

A file or archive may give ``sha256``, or ``md5`` + ``sha1`` (as some publishers state them), and ``size``.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..layout import DOWNLOAD_PART_SUFFIX
from .errors import RegistryError

REGISTRY_ENV = "SPACY_ELMO_REGISTRY"
BUILTIN_NAME = "registry.json"
FORMATS = ("allennlp", "elmoformanylangs")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
HASH_LENGTHS = {"sha256": 64, "md5": 32, "sha1": 40}
ENTRY_KEYS = {"lang", "format", "files", "archive", "subfolder", "language", "description", "source", "license", "size"}
SOURCE_KEYS = {"url", "size", *HASH_LENGTHS}


@dataclass(frozen=True)
class Source:
    """One file to download: its URL, and what the publisher states about it (hashes, size)."""

    url: str
    sha256: Optional[str] = None
    md5: Optional[str] = None
    sha1: Optional[str] = None
    size: Optional[int] = None

    @property
    def plain_http(self) -> bool:
        return self.url.lower().startswith("http://")

    @property
    def hashes(self) -> Dict[str, str]:
        """The publisher's hashes, by algorithm name (``hashlib`` names)."""
        return {name: value for name, value in (("sha256", self.sha256), ("md5", self.md5), ("sha1", self.sha1)) if value}


@dataclass(frozen=True)
class Entry:
    """A published model: ``files`` (local file name -> source) or one ``archive``."""

    name: str
    lang: str
    format: str
    files: Dict[str, Source] = field(default_factory=dict)
    archive: Optional[Source] = None
    subfolder: Optional[str] = None
    language: Optional[str] = None
    description: Optional[str] = None
    source: Optional[str] = None
    license: Optional[str] = None
    size: Optional[int] = None
    origin: str = "built-in"  # the registry file it came from

    @property
    def downloads(self) -> Dict[str, Source]:
        """Local file name -> source, for ``files`` and ``archive`` alike (an archive keeps its URL's file name)."""
        if self.archive is not None:
            return {archive_file_name(self.archive.url): self.archive}
        return dict(self.files)

    @property
    def urls(self) -> List[str]:
        return [source.url for source in self.downloads.values()]

    @property
    def plain_http(self) -> bool:
        return any(source.plain_http for source in self.downloads.values())

    @property
    def known_size(self) -> Optional[int]:
        """Total bytes to download, where the registry states them."""
        if self.size is not None:
            return self.size
        sizes = [source.size for source in self.downloads.values() if source.size is not None]
        return sum(sizes) if sizes and len(sizes) == len(self.downloads) else None

    @property
    def publisher_pin(self) -> Optional[str]:
        """How the publisher pins every file (``"sha256"``, ``"md5+sha1"``), or None where some file is unpinned."""
        kinds = set()
        for source in self.downloads.values():
            if source.sha256:
                kinds.add("sha256")
            elif source.md5 or source.sha1:
                kinds.add("+".join(name for name in ("md5", "sha1") if name in source.hashes))
            else:
                return None
        return "+".join(sorted(kinds)) if kinds else None


def archive_file_name(url: str) -> str:
    """The archive's local name: the last part of its URL's path (``142.zip``)."""
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or "archive.zip"


# -- reading and validating ---------------------------------------------------------------------------
def builtin_registry() -> Dict[str, Entry]:
    """The entries shipped inside the package."""
    text = resources.files(__package__).joinpath(BUILTIN_NAME).read_text(encoding="utf-8")
    return parse_registry(json.loads(text), origin=f"the built-in registry (spacy_elmo/published/{BUILTIN_NAME})")


def user_registry_path() -> Optional[Path]:
    chosen = os.environ.get(REGISTRY_ENV)
    return Path(chosen).expanduser() if chosen else None


def load_registry() -> Dict[str, Entry]:
    """The built-in entries, with those of ``SPACY_ELMO_REGISTRY`` added (or replacing the built-in ones)."""
    entries = builtin_registry()
    path = user_registry_path()
    if path is not None:
        entries.update(read_registry_file(path))
    return entries


def read_registry_file(path: Path) -> Dict[str, Entry]:
    origin = f"{path} ({REGISTRY_ENV})" if str(path) == os.environ.get(REGISTRY_ENV) else str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"The model registry {origin} does not exist; fix the path or unset {REGISTRY_ENV}.") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RegistryError(f"The model registry {origin} is not readable JSON ({err}); fix the file.") from err
    return parse_registry(data, origin=origin)


def parse_registry(data: Any, origin: str) -> Dict[str, Entry]:
    if not isinstance(data, dict):
        raise RegistryError(f"The model registry {origin} must be a JSON object of NAME: entry, not {type(data).__name__}.")
    return {name: parse_entry(name, value, origin) for name, value in data.items()}


def parse_entry(name: str, data: Any, origin: str) -> Entry:
    where = f"{origin}, entry {name!r}"

    def bad(problem: str) -> RegistryError:
        return RegistryError(f"{where}: {problem}")

    if not NAME_PATTERN.match(name) or len(name) > 100:
        raise bad("a name is lower-case letters, digits, '.', '-' and '_', starting with a letter or digit (it becomes a folder name).")
    if not isinstance(data, dict):
        raise bad(f"an entry is a JSON object, not {type(data).__name__}.")
    unknown = sorted(set(data) - ENTRY_KEYS)
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(sorted(ENTRY_KEYS))}.")
    lang = _text(data, "lang", bad, required=True)
    if not re.match(r"^[a-z]{2,3}$", lang or ""):
        raise bad(f"'lang' must be a spaCy language code such as 'en', 'de' or 'grc' ('xx' for several), not {lang!r}.")
    fmt = _text(data, "format", bad, required=True)
    if fmt not in FORMATS:
        raise bad(f"'format' must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    if ("files" in data) == ("archive" in data):
        raise bad("give exactly one of 'files' (file name -> {url, ...}) and 'archive' ({url, ...}).")
    files: Dict[str, Source] = {}
    archive = None
    if "files" in data:
        if fmt != "allennlp":
            raise bad(f"format {fmt!r} is published as one archive: give 'archive', not 'files'.")
        if not isinstance(data["files"], dict) or not data["files"]:
            raise bad("'files' must be a non-empty object: file name -> {url, sha256?}.")
        for file_name, value in data["files"].items():
            if not FILE_NAME_PATTERN.match(file_name) or file_name.endswith(DOWNLOAD_PART_SUFFIX):
                raise bad(f"file name {file_name!r} must be a plain file name (no folders, no leading dot, not .part).")
            files[file_name] = _source(value, f"'files'.{file_name}", bad)
        suffixes = sorted(Path(f).suffix for f in files)
        if suffixes.count(".json") != 1 or suffixes.count(".hdf5") != 1:
            raise bad("an allennlp model's 'files' are one options .json and one weights .hdf5 file.")
        if "subfolder" in data:
            raise bad("'subfolder' is for an 'archive'.")
    else:
        archive = _source(data["archive"], "'archive'", bad)
        local = archive_file_name(archive.url)
        if not local.lower().endswith(ARCHIVE_SUFFIXES) or not FILE_NAME_PATTERN.match(local):
            raise bad(f"the archive's URL must end with a plain file name ending with one of {', '.join(ARCHIVE_SUFFIXES)}: "
                      f"{archive.url}")
    subfolder = _text(data, "subfolder", bad)
    if subfolder is not None:
        parts = Path(subfolder).parts
        if Path(subfolder).is_absolute() or not parts or any(p in ("..", ".") for p in parts) or "\\" in subfolder:
            raise bad(f"'subfolder' must be a relative path inside the archive, without '..': {subfolder!r}.")
    size = data.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise bad(f"'size' must be a positive number of bytes, not {size!r}.")
    return Entry(
        name=name, lang=lang, format=fmt, files=files, archive=archive, subfolder=subfolder,  # type: ignore[arg-type]
        language=_text(data, "language", bad), description=_text(data, "description", bad),
        source=_text(data, "source", bad), license=_text(data, "license", bad), size=size, origin=origin,
    )


def _text(data: Mapping[str, Any], key: str, bad, required: bool = False) -> Optional[str]:
    value = data.get(key)
    if value is None:
        if required:
            raise bad(f"'{key}' is missing.")
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad(f"'{key}' must be a non-empty string, not {value!r}.")
    return value


def _source(data: Any, label: str, bad) -> Source:
    if not isinstance(data, dict):
        raise bad(f"{label} must be an object with 'url' (and optionally sha256, md5, sha1, size), not {data!r}.")
    unknown = sorted(set(data) - SOURCE_KEYS)
    if unknown:
        raise bad(f"{label}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(sorted(SOURCE_KEYS))}.")
    url = data.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+/\S+$", url):
        raise bad(f"{label}.url must be an http(s) URL of a file, not {url!r}.")
    hashes: Dict[str, Optional[str]] = {}
    for algorithm, length in HASH_LENGTHS.items():
        value = data.get(algorithm)
        if value is not None and (not isinstance(value, str) or not re.match(rf"^[0-9a-fA-F]{{{length}}}$", value)):
            raise bad(f"{label}.{algorithm} must be {length} hex digits, not {value!r}.")
        hashes[algorithm] = value.lower() if value else None
    size = data.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise bad(f"{label}.size must be a positive number of bytes, not {size!r}.")
    return Source(url=url, size=size, **hashes)


def find_entry(name: str, entries: Optional[Dict[str, Entry]] = None) -> Optional[Entry]:
    """The entry called ``name``, or None."""
    return (entries if entries is not None else load_registry()).get(name)


def close_names(name: str, entries: Mapping[str, Entry], n: int = 3) -> Tuple[str, ...]:
    """Registry names that look like ``name`` (for "did you mean")."""
    import difflib

    return tuple(difflib.get_close_matches(name, list(entries), n=n, cutoff=0.6))
