"""Bounded LRU cache of token vectors (char CNN + highways + projection) for inference.

Layer 0 of ELMo depends only on a token's characters (and, for a model with a word embedding, its
word id), and most tokens of real text are repeats, so each distinct token is computed once. Keys are
the token's row of ids in the biLM's vocabulary (``characters``), so the
cache serves ``embed_sentences``, ``bilm(ids)`` and ``token_embedding`` alike. Vectors live in
one preallocated slab (grown by doubling up to ``max_mb``) so a batch is gathered with a single
index, not thousands of small tensors. Any change of the weights (in-place update, load,
device or dtype move) empties it, so it never serves stale vectors.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, List, Tuple

import numpy
import torch


def parameters_fingerprint(params: Iterable[torch.Tensor]) -> Tuple:
    """Changes whenever a parameter is replaced or changed in place: what a cache derived from
    the weights must compare before reuse. Inference tensors (made under torch.inference_mode)
    have no version counter; they cannot change in place outside it, so storage identifies them."""
    return tuple((p.data_ptr(), -1 if p.is_inference() else p._version, p.dtype, p.device) for p in params)


class TokenCache:
    """``lookup(char_ids [N, C], compute)`` -> ``[N, dim]``; ``compute`` runs on the misses only."""

    def __init__(self, max_mb: float = 128.0):
        self.max_mb = max_mb
        self.hits = 0
        self.misses = 0
        self._slots: "OrderedDict[bytes, int]" = OrderedDict()
        self._slab = torch.empty(0)
        self._fingerprint: Tuple = ()

    def __len__(self) -> int:
        return len(self._slots)

    def clear(self) -> None:
        """Forget every vector and free the slab."""
        self._slots.clear()
        self._slab = torch.empty(0)
        self.hits = self.misses = 0

    def capacity(self, dim: int, dtype: torch.dtype) -> int:
        """How many vectors of ``dim`` values fit in ``max_mb``."""
        per_vector = dim * torch.empty(0, dtype=dtype).element_size()
        return int(self.max_mb * 2 ** 20 // per_vector)

    def lookup(
        self,
        char_ids: torch.Tensor,
        compute: Callable[[torch.Tensor], torch.Tensor],
        params: Iterable[torch.Tensor],
        dim: int,
        dtype: torch.dtype,
        variant: object = None,
    ) -> torch.Tensor:
        """``variant``: anything else ``compute``'s result depends on (e.g. its precision): a change empties the cache."""
        fingerprint = parameters_fingerprint(params) + (variant,)
        if fingerprint != self._fingerprint:
            self.clear()
            self._fingerprint = fingerprint
        keys = _row_keys(char_ids)
        capacity = self.capacity(dim, dtype)
        if capacity < 1:
            return self._compute_unique(char_ids, keys, compute)
        distinct: "OrderedDict[bytes, int]" = OrderedDict()
        for row, key in enumerate(keys):
            distinct.setdefault(key, row)
        if len(distinct) > capacity:  # this batch alone overflows the cache: no caching for it
            return self._compute_unique(char_ids, keys, compute)
        missing = OrderedDict((key, row) for key, row in distinct.items() if key not in self._slots)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        for key in distinct:  # refresh recency of what this batch uses, so it is not evicted below
            if key in self._slots:
                self._slots.move_to_end(key)
        if missing:
            rows = torch.tensor(list(missing.values()), device=char_ids.device)
            vectors = compute(char_ids[rows])
            slots = self._free_slots(len(missing), capacity, dim, vectors)
            self._slab[torch.tensor(slots, device=self._slab.device)] = vectors.to(self._slab.dtype)
            for key, slot in zip(missing, slots):
                self._slots[key] = slot
        index = torch.tensor([self._slots[key] for key in keys], device=self._slab.device)
        return self._slab[index]

    def _free_slots(self, count: int, capacity: int, dim: int, like: torch.Tensor) -> List[int]:
        """Slots for ``count`` new vectors: unused ones first (growing the slab), then evict the oldest."""
        used = len(self._slots)
        if self._slab.shape[0] < min(capacity, used + count) or self._slab.shape[1:] != (dim,):
            size = min(capacity, max(1024, 2 * (used + count)))
            grown = like.new_empty(size, dim)
            if used and self._slab.shape[1:] == (dim,):
                grown[: self._slab.shape[0]] = self._slab
            self._slab = grown
        fresh = list(range(used, min(used + count, capacity)))
        while len(fresh) < count:
            _, slot = self._slots.popitem(last=False)
            fresh.append(slot)
        return fresh

    @staticmethod
    def _compute_unique(char_ids: torch.Tensor, keys: List[bytes], compute) -> torch.Tensor:
        """No room to cache: still compute each distinct token of the batch once."""
        first: "OrderedDict[bytes, int]" = OrderedDict()
        for row, key in enumerate(keys):
            first.setdefault(key, row)
        position = {key: i for i, key in enumerate(first)}
        vectors = compute(char_ids[torch.tensor(list(first.values()), device=char_ids.device)])
        return vectors[torch.tensor([position[key] for key in keys], device=vectors.device)]


def _row_keys(char_ids: torch.Tensor) -> List[bytes]:
    """One hashable key per row of ``[N, C]`` ids. int32: a dictionary vocabulary's ids (an
    ELMoForManyLangs word id, a CJK character's) go past int16."""
    rows = numpy.ascontiguousarray(char_ids.to(torch.int32).cpu().numpy())
    return rows.view(numpy.dtype((numpy.void, rows.shape[1] * 4))).ravel().tolist()
