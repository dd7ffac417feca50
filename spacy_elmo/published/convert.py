"""Turn a verified download into the native format once, so every later load is a safetensors read (fast,
and nothing is ever unpickled again), with the registry's language recorded in its ``options.json``
(``"lang"``, which the spaCy component compares with ``nlp.lang``)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from ..bilm.options import LANG_KEY
from ..errors import ElmoError
from .archive import original_pair
from .registry import Entry

PROBE = [["The", "bank", "raised", "rates", "."], ["Ünïcödé", "x"]]  # the reloaded copy must give the same vectors


def convert_to_native(entry: Entry, source: Path, out: Path) -> Path:
    """Read the model in ``source`` (its original format), write it as a native model into ``out``, and check
    that the written copy gives the same vectors."""
    from ..bilm.loading import load_bilm

    bilm = _read(entry, source)
    bilm.options = dataclasses.replace(bilm.options, extra={**bilm.options.extra, LANG_KEY: entry.lang})
    if out.exists():
        shutil.rmtree(out)
    bilm.save(out)
    before, after = bilm.embed_sentences(PROBE), load_bilm(out).embed_sentences(PROBE)
    difference = max(float(abs(a - b).max()) for a, b in zip(before, after))
    if difference > 1e-6:
        raise ElmoError(f"{entry.name}: the converted copy gives other vectors (max difference {difference:.1e}); not cached.")
    return out


def _read(entry: Entry, source: Path):
    if entry.format == "elmoformanylangs":
        from ..bilm.io_elmoformanylangs import load_elmoformanylangs

        return load_elmoformanylangs(source)
    from ..bilm.loading import load_bilm

    pair = original_pair(source)
    if pair is None:
        raise ElmoError(f"{source} holds no original options .json + one .hdf5 for {entry.name}; check the registry entry.")
    return load_bilm(*pair)
