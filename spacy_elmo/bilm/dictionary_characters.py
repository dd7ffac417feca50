"""The character vocabulary of ELMoForManyLangs models: a per-model dictionary, plus a word id.

What their models read, and so what must be reproduced exactly (``frontend.create_one_batch`` and
``elmo.read_list`` of HIT-SCIR/ELMoForManyLangs):

- a token longer than ``max_characters_per_token - 2`` code points is cut to that many, for its
  characters *and* for the word lookup;
- each code point is looked up in the model's character dictionary (``<oov>`` if absent); the
  token is framed by the dictionary's ``<eow>`` entry before it and its ``<bow>`` entry after it
  (the original swaps the two), then ``<pad>`` up to ``max_characters_per_token``;
- the sentence-start and sentence-end tokens are the strings ``<bos>`` / ``<eos>``: framed the same
  way around their own single dictionary entry, and looked up in the word dictionary as words (so a
  token that *is* the text ``<bos>`` gets the same ids, as in the original);
- the word id is the (cut) token's entry in the word dictionary, ``<oov>`` if absent.

Every id is shifted by +1 (0 marks padding token slots), like the byte vocabulary, and a token's
row is its ``max_characters_per_token`` character ids followed by its word id (when the model
has a word embedding).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy

from ..errors import WeightFileError
from .characters import CharacterVocabulary, check_token
from .options import BiLMOptions

CHAR_SPECIALS = ("<bos>", "<eos>", "<oov>", "<pad>", "<bow>", "<eow>")
WORD_SPECIALS = ("<oov>", "<pad>")
_CACHE_LIMIT = 1 << 16


class DictionaryVocabulary(CharacterVocabulary):
    """``characters[i]`` / ``words[i]``: the key of id ``i`` (ids dense from 0, as the embeddings' rows).

    ``sources`` name where the two dictionaries came from (a file each, or one file), for errors.
    """

    kind = "elmoformanylangs"

    def __init__(self, characters: Sequence[str], words: Optional[Sequence[str]], max_chars: int,
                 sources: Union[str, Tuple[str, str]] = "the dictionary"):
        self.characters = list(characters)
        self.words = list(words) if words is not None else None
        self.max_chars = max_chars
        char_source, word_source = (f"{sources}: characters", f"{sources}: words") if isinstance(sources, str) else sources
        self._chars = _index(self.characters, char_source, CHAR_SPECIALS)
        self._words = _index(self.words, word_source, WORD_SPECIALS) if self.words is not None else None
        self.n_char_rows = len(self.characters) + 1
        self.n_word_rows = len(self.words) + 1 if self.words is not None else 0
        self.pad_id = self._chars["<pad>"] + 1
        # The original frames a word with the <eow> entry first and the <bow> entry last.
        self._first, self._last, self._oov = self._chars["<eow>"], self._chars["<bow>"], self._chars["<oov>"]
        self._cache: Dict[str, numpy.ndarray] = {}

    def token_ids(self, token: str) -> numpy.ndarray:
        check_token(token)
        ids = self._cache.get(token)
        if ids is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            ids = self._cache[token] = self._compute(token)
        return ids

    def _compute(self, token: str) -> numpy.ndarray:
        limit = self.max_chars - 2
        cut = token[:limit] if len(token) > limit else token
        ids = numpy.full(self.width, self.pad_id - 1, dtype=numpy.int64)
        ids[0] = self._first
        if cut in ("<bos>", "<eos>"):
            ids[1], ids[2] = self._chars[cut], self._last
        else:
            chars = self._chars
            ids[1 : len(cut) + 1] = [chars.get(c, self._oov) for c in cut]
            ids[len(cut) + 1] = self._last
        if self._words is not None:
            ids[self.max_chars] = self._words.get(cut, self._words["<oov>"])
        ids += 1
        ids.flags.writeable = False
        return ids

    def boundary_ids(self) -> numpy.ndarray:
        return numpy.stack([self.token_ids("<bos>"), self.token_ids("<eos>")])

    def to_dict(self) -> Dict[str, Any]:
        return {"characters": self.characters, "words": self.words}

    @classmethod
    def from_dict(cls, data: Any, max_chars: int, source: str) -> "DictionaryVocabulary":
        """The inverse of :meth:`to_dict`, every entry checked (``source``: the file, for errors)."""
        if not isinstance(data, dict) or not isinstance(data.get("characters"), list):
            raise WeightFileError(f"{source}: expected a JSON object with a 'characters' list (and 'words': a list or null).")
        words = data.get("words")
        if words is not None and not isinstance(words, list):
            raise WeightFileError(f"{source}: 'words' is a {type(words).__name__}; expected a list of strings or null.")
        for name, keys in (("characters", data["characters"]), ("words", words or [])):
            bad = next((i for i, k in enumerate(keys) if not isinstance(k, str)), None)
            if bad is not None:
                raise WeightFileError(f"{source}: {name}[{bad}] is {keys[bad]!r}; every entry must be a string.")
        return cls(data["characters"], words, max_chars, source)

    def __repr__(self) -> str:
        words = f", {len(self.words)} words" if self.words is not None else ""
        return f"DictionaryVocabulary({len(self.characters)} characters{words}, max_chars={self.max_chars})"


def _index(keys: Optional[List[str]], source: str, specials: Sequence[str]) -> Dict[str, int]:
    """key -> id; a key twice, or a special entry missing, is an error naming ``source``."""
    index: Dict[str, int] = {}
    for i, key in enumerate(keys or []):
        if key in index:
            raise WeightFileError(f"{source}: {key!r} has two ids ({index[key]} and {i}); the dictionary is corrupt.")
        index[key] = i
    missing = [s for s in specials if s not in index]
    if missing:
        raise WeightFileError(
            f"{source}: no entry for {', '.join(missing)}; an ELMoForManyLangs dictionary has {', '.join(specials)}. "
            "The dictionary is incomplete or not from such a model."
        )
    return index


def vocabulary_from_dict(options: BiLMOptions, data: Any, source: str) -> Optional[CharacterVocabulary]:
    """The vocabulary the ``options`` name, rebuilt from :meth:`CharacterVocabulary.to_dict`'s ``data``
    (None for the byte vocabulary: the options say all). ``source`` names where ``data`` came from."""
    if options.vocabulary == "bytes":
        return None
    if data is None:
        raise WeightFileError(f"{source}: the options name a {options.vocabulary} character vocabulary, but its dictionaries are missing.")
    return DictionaryVocabulary.from_dict(data, options.max_characters_per_token, source)
