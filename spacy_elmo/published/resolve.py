"""The one question the rest of the package asks: "where are the native files for this name?" Answered
from the cache (verified), or by fetching, verifying and converting the model first (:mod:`.fetch`)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from ..layout import PUBLISHED_DOWNLOAD_DIR
from ..user_cache import CACHE_ENV
from .cache import OFFLINE_ENV, cached_manifest, model_dir, model_lock, models_root, offline, verify_native
from .errors import NetworkError, OfflineError, UnknownModelError
from .fetch import build
from .registry import Entry, close_names, load_registry


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
            try:
                return verify_native(entry, manifest)
            except FileNotFoundError:  # another process is making it again (download --force): wait for its lock
                pass
    if offline() and not _all_downloaded(entry):
        if force and cached_manifest(entry) is not None:
            raise OfflineError(
                f"{entry.name} is cached, but fetching it again (--force) needs the network and {OFFLINE_ENV} is set "
                f"(offline). The cached copy is kept; use it as it is, or unset {OFFLINE_ENV} to fetch it again."
            )
        raise OfflineError(_unavailable_message(entry, f"{OFFLINE_ENV} is set (offline), and it is not in the cache"))
    with model_lock(entry.name):
        manifest = None if force else cached_manifest(entry)  # another process may have made it meanwhile
        if manifest is not None:
            return verify_native(entry, manifest)
        try:
            return build(entry, progress=progress, force=force)
        except NetworkError as err:
            raise NetworkError(_unavailable_message(entry, f"the network failed: {str(err).rstrip('.')}")) from err


def _all_downloaded(entry: Entry) -> bool:
    """Every file is in NAME/download/ (hand-placed, or a download that finished before a conversion failed)."""
    folder = model_dir(entry.name) / PUBLISHED_DOWNLOAD_DIR
    return all((folder / file_name).is_file() for file_name in entry.downloads)


def _unavailable_message(entry: Entry, why: str) -> str:
    folder = model_dir(entry.name)
    files = ", ".join(f"{url} -> {folder / PUBLISHED_DOWNLOAD_DIR / file_name}" for file_name, url in
                      ((f, s.url) for f, s in entry.downloads.items()))
    return (
        f"The published ELMo model {entry.name} cannot be used: {why}. Either download it where there is a network "
        f"(python -m spacy_elmo download {entry.name}, e.g. on a cluster's login node) and copy the folder {folder} "
        f"into this machine's cache ({models_root()}; {CACHE_ENV} chooses it), or fetch the files by hand ({files}) "
        f"and run `python -m spacy_elmo download {entry.name}` to verify and convert them without the network."
    )
