"""The cache of published models: where each model's files are, its manifest, its pins, its lock.

Layout, below ``spacy_elmo.user_cache.cache_subdir("models")``::

    NAME.lock               the lock two processes take before touching NAME/ (outside it, so rm -rf NAME works)
    NAME/manifest.json      written last: where the model came from, and the sha256 of every file; its
                            presence means NAME/native is whole
    NAME/native/            the converted model (options.json with "lang", weights.safetensors)
    NAME/pins.json          the sha256 of each file no publisher pins, as first downloaded: checked on every
                            later download (kept by ``download --force``)
    NAME/download/          the downloads while they arrive (FILE.part) and until converted; hand-downloaded
                            files go here too
    NAME/unpacked/          an archive's contents while it is converted

:func:`spacy_elmo.published.resolve.ensure_model` answers from here. On every use the native files are
checked against the sha256 in the manifest (once per process and file). ``SPACY_ELMO_OFFLINE=1`` never
touches the network (:func:`offline`).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

from ..atomic import write_text
from ..layout import (
    PUBLISHED_CACHE_DIR, PUBLISHED_DOWNLOAD_DIR, PUBLISHED_MANIFEST_NAME, PUBLISHED_NATIVE_DIR, PUBLISHED_PINS_NAME,
    PUBLISHED_UNPACKED_DIR,
)
from ..user_cache import cache_subdir
from .errors import VerificationError
from .registry import Entry

OFFLINE_ENV = "SPACY_ELMO_OFFLINE"
MANIFEST_VERSION = 1

_verified: Dict[Tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 checked in this process


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def models_root() -> Path:
    return cache_subdir(PUBLISHED_CACHE_DIR)


def model_dir(name: str) -> Path:
    return models_root() / name


def lock_path(name: str) -> Path:
    return models_root() / f"{name}.lock"


def read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cached_manifest(entry: Entry) -> Optional[dict]:
    """The manifest of a complete cached copy of ``entry`` from the same URLs, or None (not cached, or cached
    from other URLs: a registry that now names other files gets them)."""
    manifest = read_json(model_dir(entry.name) / PUBLISHED_MANIFEST_NAME)
    if manifest is None or manifest.get("version") != MANIFEST_VERSION:
        return None
    downloads = manifest.get("downloads")
    if not isinstance(downloads, dict) or {f: d.get("url") for f, d in downloads.items() if isinstance(d, dict)} != {
        f: s.url for f, s in entry.downloads.items()
    }:
        return None
    native = model_dir(entry.name) / PUBLISHED_NATIVE_DIR
    if not isinstance(manifest.get("native"), dict) or not all((native / f).is_file() for f in manifest["native"]):
        return None
    return manifest


def is_cached(entry: Entry) -> bool:
    return cached_manifest(entry) is not None


def cached_size(entry: Entry) -> Optional[int]:
    """Bytes downloaded for a cached model (what its listing shows where the registry states no size)."""
    manifest = cached_manifest(entry)
    if manifest is None:
        return None
    sizes = [d.get("size") for d in manifest["downloads"].values()]
    return sum(sizes) if all(isinstance(s, int) for s in sizes) else None


def pins(entry: Entry) -> Dict[str, str]:
    """URL -> sha256 recorded on first download, for this entry's files that no publisher pins."""
    data = read_json(model_dir(entry.name) / PUBLISHED_PINS_NAME) or {}
    return {url: value for url, value in data.items() if isinstance(value, str) and url in entry.urls}


def pin_state(entry: Entry) -> str:
    """How the entry's files are pinned, in words for the listing."""
    publisher = entry.publisher_pin
    if publisher is not None:
        return f"publisher {publisher}"
    recorded = pins(entry)
    unpinned = [s.url for s in entry.downloads.values() if not s.hashes]
    if unpinned and all(url in recorded for url in unpinned):
        return "sha256 recorded on first download"
    return "none yet (sha256 recorded on first download)"


def verify_native(entry: Entry, manifest: dict) -> Path:
    """The native folder, after checking each file against the manifest's sha256 (each once per process)."""
    from .download import file_hashes

    native = model_dir(entry.name) / PUBLISHED_NATIVE_DIR
    for file_name, recorded in manifest["native"].items():
        path = native / file_name
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if _verified.get(key) == recorded:
            continue
        found = file_hashes(path)["sha256"]
        if found != recorded:
            raise VerificationError(
                f"The cached model {entry.name} was changed after it was verified: {path} has sha256 {found}, "
                f"but {recorded} was recorded when it was made. Download it again: "
                f"python -m spacy_elmo download {entry.name} --force"
            )
        _verified[key] = found
    return native


class model_lock:
    """The per-model file lock (``filelock``, which torch depends on), saying so when it has to wait."""

    def __init__(self, name: str) -> None:
        from filelock import FileLock

        path = lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name, self.path, self.lock = name, path, FileLock(str(path))

    def __enter__(self) -> "model_lock":
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=1)
        except Timeout:
            print(f"Waiting for another process that is fetching {self.name} (lock {self.path})...", file=sys.stderr)
            self.lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def write_manifest(entry: Entry, downloads: Dict[str, Dict[str, object]], native: Dict[str, str]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("spacy-elmo")
    except PackageNotFoundError:  # a checkout that is not installed
        installed = "unknown"
    manifest = {
        "version": MANIFEST_VERSION,
        "name": entry.name,
        "lang": entry.lang,
        "format": entry.format,
        "registry": entry.origin,
        "downloads": downloads,
        "native": native,
        "spacy_elmo": installed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text(model_dir(entry.name) / PUBLISHED_MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")


def write_pins(entry: Entry, recorded: Dict[str, str]) -> None:
    path = model_dir(entry.name) / PUBLISHED_PINS_NAME
    data = read_json(path) or {}
    data.update(recorded)
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_quietly(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
