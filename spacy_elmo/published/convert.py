"""Turn a verified download into the native format once, so every later load is a safetensors read (fast,
and nothing is ever unpickled again), and record the registry's language in its ``options.json``."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..atomic import write_text
from ..errors import ElmoError
from ..layout import OPTIONS_NAME
from .archive import original_pair
from .registry import Entry

LANG_KEY = "lang"  # the top-level key of options.json the spaCy component compares with nlp.lang


def convert_to_native(entry: Entry, source: Path, out: Path) -> Path:
    """Read the model in ``source`` (its original format) and write it as a native model into the new folder ``out``."""
    from ..bilm.io_native import save_native

    bilm = _read(entry, source)
    if out.exists():
        shutil.rmtree(out)
    save_native(bilm, out)
    options_path = out / OPTIONS_NAME
    options = json.loads(options_path.read_text(encoding="utf-8"))
    options[LANG_KEY] = entry.lang
    write_text(options_path, json.dumps(options, indent=2) + "\n")
    return out


def _read(entry: Entry, source: Path):
    if entry.format == "elmoformanylangs":
        try:
            from ..bilm.io_elmoformanylangs import load_elmoformanylangs  # type: ignore[import-not-found,unused-ignore]
        except ImportError as err:
            raise ElmoError(
                f"{entry.name} is an ELMoForManyLangs model, and this version of spacy-elmo cannot read that format "
                f"yet ({err}). Upgrade spacy-elmo; the verified download stays in the cache ({source})."
            ) from err
        return load_elmoformanylangs(source)
    from ..bilm.loading import load_bilm

    pair = original_pair(source)
    if pair is None:
        raise ElmoError(f"{source} holds no original options .json + one .hdf5 for {entry.name}; the registry entry is wrong.")
    return load_bilm(*pair)
