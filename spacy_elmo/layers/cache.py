"""A bounded cache of biLM layer outputs, keyed by a segment's token texts.

WHY: with a frozen biLM the layers of a training doc never change, yet ``spacy train``
feeds the same docs every epoch; the biLM is by far the most expensive part of the
pipeline. Keys are the exact token strings (a tuple), so two docs with the same tokens
share an entry and a changed token is a miss. Only valid for a frozen, stateless biLM:
the component disables it otherwise.

Once full, the cache keeps what it has and admits nothing new. Training reads the corpus
in cycles, and under cyclic access an LRU cache smaller than the corpus evicts every entry
just before its next use (no hits at all); keeping the first ``max_mb`` gives a hit rate of
``max_mb / corpus size`` instead.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy

KEY_OVERHEAD = 64  # rough bytes per token string held in a key

#: The "elmo" component's default ``cache_size_mb``: the one place to change it (the component's
#: settings, its factory's default_config and the docs' settings table read it from here).
#: WHY off by default: at inference text rarely repeats exactly, and there the cache buys nothing and
#: costs memory (benchmarks/layer_cache.py, BENCHMARKS.md "The layer cache at inference": on 3,000
#: fresh CoNLL sentences 2-4% fewer words/s and +144 MB peak RSS, growing to its bound; only a second
#: pass over the same sentences gains, 48x). Training is where text repeats (every epoch, every dev
#: evaluation), so the training configs in configs/ set ``cache_size_mb`` for their corpus.
DEFAULT_CACHE_SIZE_MB = 0.0


class LayerCache:
    """Mapping ``tuple of token texts -> [n_output_layers, n_tokens, dim]`` within ``max_mb`` megabytes."""

    def __init__(self, max_mb: float):
        if max_mb < 0:
            raise ValueError(f"cache_size_mb must be >= 0 (0 turns the cache off), got {max_mb}.")
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._entries: Dict[Tuple[str, ...], Any] = {}
        self.n_bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def full(self) -> bool:
        return self.n_bytes >= self.max_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Tuple[str, ...]) -> Optional[Any]:
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: Tuple[str, ...], value: Any) -> bool:
        """Store ``value`` if it fits in what is left; returns whether it was stored."""
        size = int(value.nbytes) + KEY_OVERHEAD * len(key)
        if not self.enabled or key in self._entries or self.n_bytes + size > self.max_bytes:
            return False
        if isinstance(value, numpy.ndarray):
            value.flags.writeable = False  # shared with the docs' ElmoData: never mutate a cached entry
        self._entries[key] = value
        self.n_bytes += size
        return True

    def clear(self) -> None:
        self._entries.clear()
        self.n_bytes = 0
