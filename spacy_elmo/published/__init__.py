"""Published ELMo models by name: a registry (names, URLs, hashes, formats), the download (resumed, locked,
verified, safely unpacked), the cache and the offline switch. Knows nothing of spaCy.

The rest of the package asks one thing, :func:`ensure_model` ("where are the native files for this name?
fetch them if needed"); :func:`spacy_elmo.weights.resolve_weights` asks it for every name that is not a path
or a packaged model, so every caller that names weights gets these names too.
"""
from __future__ import annotations

from .cache import OFFLINE_ENV, is_cached, model_dir, models_root, offline, pin_state
from .resolve import ensure_model
from .errors import (
    ArchiveError, DiskSpaceError, DownloadError, ModelUnavailableError, NetworkError, OfflineError, RegistryError,
    UnknownModelError, VerificationError,
)
from .registry import REGISTRY_ENV, Entry, Source, builtin_registry, load_registry

__all__ = [
    "ensure_model", "is_published_name", "load_registry", "builtin_registry", "Entry", "Source", "is_cached", "pin_state",
    "model_dir", "models_root", "offline", "OFFLINE_ENV", "REGISTRY_ENV", "ArchiveError", "DiskSpaceError",
    "DownloadError", "ModelUnavailableError", "NetworkError", "OfflineError", "RegistryError", "UnknownModelError",
    "VerificationError",
]


def is_published_name(name: str) -> bool:
    """Whether ``name`` is in the registry (the built-in one, or ``SPACY_ELMO_REGISTRY``'s)."""
    return name in load_registry()
