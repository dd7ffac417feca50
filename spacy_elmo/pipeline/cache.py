"""A bounded LRU cache of biLM layer outputs, keyed by a segment's token texts.

WHY: with a frozen biLM the layers of a training doc never change, yet ``spacy train``
feeds the same docs every epoch; the biLM is by far the most expensive part of the
pipeline. Keys are the exact token strings (a tuple), so two docs with the same tokens
share an entry and a changed token is a miss. Only valid for a frozen, stateless biLM:
the component disables it otherwise.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Hashable, Optional, Tuple

import numpy


class LayerCache:
    """LRU mapping ``tuple of token texts -> [n_layers + 1, n_tokens, dim]`` (CPU float32)."""

    def __init__(self, max_mb: float):
        if max_mb < 0:
            raise ValueError(f"cache_size_mb must be >= 0 (0 turns the cache off), got {max_mb}.")
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._entries: "OrderedDict[Hashable, numpy.ndarray]" = OrderedDict()
        self.n_bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Tuple[str, ...]) -> Optional[numpy.ndarray]:
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Tuple[str, ...], value: numpy.ndarray) -> None:
        size = int(value.nbytes) + 64 * len(key)
        if not self.enabled or size > self.max_bytes:
            return
        if isinstance(value, numpy.ndarray):
            value.flags.writeable = False  # shared with the docs' ElmoData: never mutate a cached entry
        old = self._entries.pop(key, None)
        if old is not None:
            self.n_bytes -= int(old.nbytes) + 64 * len(key)
        self._entries[key] = value
        self.n_bytes += size
        while self.n_bytes > self.max_bytes and self._entries:
            old_key, old_value = self._entries.popitem(last=False)
            self.n_bytes -= int(old_value.nbytes) + 64 * len(old_key)

    def clear(self) -> None:
        self._entries.clear()
        self.n_bytes = 0
