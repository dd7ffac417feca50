"""The cache of published models, and the one question the rest of the package asks: "where are the native
files for this name?" (:func:`ensure_model`), fetching, verifying and converting them the first time.

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

On every use the native files are checked against the sha256 in the manifest (once per process and file).
``SPACY_ELMO_OFFLINE=1`` never touches the network: a model that is not cached is an :class:`OfflineError`.
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
from ..user_cache import CACHE_ENV, cache_subdir
from .errors import ModelUnavailableError, NetworkError, OfflineError, VerificationError
from .registry import Entry, close_names, load_registry

OFFLINE_ENV = "SPACY_ELMO_OFFLINE"
CACHE_SUBDIR = "models"
MANIFEST_NAME = "manifest.json"
PINS_NAME = "pins.json"
NATIVE_DIR = "native"
DOWNLOAD_DIR = "download"
UNPACKED_DIR = "unpacked"
MANIFEST_VERSION = 1

_verified: Dict[Tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 checked in this process


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def models_root() -> Path:
    return cache_subdir(CACHE_SUBDIR)


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
    manifest = read_json(model_dir(entry.name) / MANIFEST_NAME)
    if manifest is None or manifest.get("version") != MANIFEST_VERSION:
        return None
    downloads = manifest.get("downloads")
    if not isinstance(downloads, dict) or {f: d.get("url") for f, d in downloads.items() if isinstance(d, dict)} != {
        f: s.url for f, s in entry.downloads.items()
    }:
        return None
    native = model_dir(entry.name) / NATIVE_DIR
    if not isinstance(manifest.get("native"), dict) or not all((native / f).is_file() for f in manifest["native"]):
        return None
    return manifest


def is_cached(entry: Entry) -> bool:
    return cached_manifest(entry) is not None


def pins(entry: Entry) -> Dict[str, str]:
    """URL -> sha256 recorded on first download, for this entry's files that no publisher pins."""
    data = read_json(model_dir(entry.name) / PINS_NAME) or {}
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

    native = model_dir(entry.name) / NATIVE_DIR
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


# -- the one question --------------------------------------------------------------------------------
def ensure_model(name: str, progress: bool = True, force: bool = False, entries: Optional[Dict[str, Entry]] = None) -> Path:
    """The native model folder for the published model ``name``: from the cache (verified), or downloaded,
    verified, converted and cached first. ``force`` fetches it again (the recorded pins still apply)."""
    entries = entries if entries is not None else load_registry()
    entry = entries.get(name)
    if entry is None:
        close = close_names(name, entries)
        raise UnknownModelError(
            f"No published ELMo model is called {name!r}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + "; `python -m spacy_elmo models` lists them."
        )
    if not force:
        manifest = cached_manifest(entry)
        if manifest is not None:
            return verify_native(entry, manifest)
    if offline() and not _all_downloaded(entry):
        raise OfflineError(_unavailable_message(entry, f"{OFFLINE_ENV} is set (offline), and it is not in the cache"))
    from .fetch import build

    with model_lock(entry.name, progress):
        manifest = None if force else cached_manifest(entry)  # another process may have made it meanwhile
        if manifest is not None:
            return verify_native(entry, manifest)
        try:
            return build(entry, progress=progress, force=force)
        except NetworkError as err:
            raise NetworkError(_unavailable_message(entry, f"the network failed: {err}")) from err


class UnknownModelError(ModelUnavailableError, KeyError):
    """No registry entry has this name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _all_downloaded(entry: Entry) -> bool:
    """Every file is in NAME/download/ (hand-placed, or a download that finished before a conversion failed)."""
    folder = model_dir(entry.name) / DOWNLOAD_DIR
    return all((folder / file_name).is_file() for file_name in entry.downloads)


def _unavailable_message(entry: Entry, why: str) -> str:
    folder = model_dir(entry.name)
    files = ", ".join(f"{url} -> {folder / DOWNLOAD_DIR / file_name}" for file_name, url in
                      ((f, s.url) for f, s in entry.downloads.items()))
    return (
        f"The published ELMo model {entry.name} cannot be used: {why}. Either download it where there is a network "
        f"(python -m spacy_elmo download {entry.name}, e.g. on a cluster's login node) and copy the folder {folder} "
        f"into this machine's cache ({models_root()}; {CACHE_ENV} chooses it), or fetch the files by hand ({files}) "
        f"and run `python -m spacy_elmo download {entry.name}` to verify and convert them without the network."
    )


class model_lock:
    """The per-model file lock (``filelock``, which torch depends on), saying so when it has to wait."""

    def __init__(self, name: str, progress: bool = True) -> None:
        from filelock import FileLock

        path = lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name, self.path, self.lock, self.progress = name, path, FileLock(str(path)), progress

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
    from .. import __version__

    manifest = {
        "version": MANIFEST_VERSION,
        "name": entry.name,
        "lang": entry.lang,
        "format": entry.format,
        "registry": entry.origin,
        "downloads": downloads,
        "native": native,
        "spacy_elmo": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text(model_dir(entry.name) / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")


def write_pins(entry: Entry, recorded: Dict[str, str]) -> None:
    path = model_dir(entry.name) / PINS_NAME
    data = read_json(path) or {}
    data.update(recorded)
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_quietly(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
