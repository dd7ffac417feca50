"""The one progress bar of the package (pretraining steps, tokenising a corpus, bulk embedding).

A leaf module: every layer asks here for a bar, so they all look and behave alike (tqdm, resized with the
terminal, redrawn at most every ``every`` seconds) and ``enabled=False`` (``--no-progress``, tests)
is one switch. tqdm is imported only when a bar is shown.
"""
from __future__ import annotations

from typing import Any, Optional


def progress_bar(enabled: bool = True, *, every: float = 0.1, **tqdm_args: Any) -> Optional[Any]:
    """A ``tqdm`` bar (``total``, ``initial``, ``unit``, ``desc`` as tqdm takes them), or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(dynamic_ncols=True, mininterval=every, **tqdm_args)
