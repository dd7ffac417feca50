"""Where spacy-elmo keeps what it fetches or measures for this user: one folder, chosen once.

``SPACY_ELMO_CACHE`` if set, else the platform's user cache folder (``$XDG_CACHE_HOME/spacy-elmo`` or
``~/.cache/spacy-elmo`` on Linux, ``~/Library/Caches/spacy-elmo`` on macOS, ``%LOCALAPPDATA%\\spacy-elmo\\Cache``
on Windows). A leaf module: the published-model cache and the measured precision verdicts both live below it,
each in a subfolder of its own (:func:`cache_subdir`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "SPACY_ELMO_CACHE"
APP_NAME = "spacy-elmo"


def cache_root() -> Path:
    """The cache folder (not created here: reading a cache must not write to the disk)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP_NAME / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_NAME
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_NAME


def cache_subdir(name: str) -> Path:
    """One kind of cached thing (``"models"``, ``"precision"``): a subfolder of :func:`cache_root`."""
    return cache_root() / name
