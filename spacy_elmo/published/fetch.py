"""Make one cached model, under its lock: download (or take hand-placed files), verify, unpack, convert,
and write the manifest last. Called by :func:`spacy_elmo.published.resolve.ensure_model` only."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict

from ..atomic import TMP_SUFFIX, atomic_path
from ..layout import (
    PUBLISHED_DOWNLOAD_DIR, PUBLISHED_MANIFEST_NAME, PUBLISHED_NATIVE_DIR, PUBLISHED_PINS_NAME, PUBLISHED_UNPACKED_DIR,
)
from .archive import find_model_folder, unpack
from .cache import model_dir, offline, pins, remove_quietly, write_manifest, write_pins
from .convert import convert_to_native
from .download import check_free_space, check_hashes, fetch, file_hashes
from .errors import OfflineError
from .registry import Entry, Source


def build(entry: Entry, progress: bool = True, force: bool = False) -> Path:
    folder = model_dir(entry.name)
    downloads_dir = folder / PUBLISHED_DOWNLOAD_DIR
    native = folder / PUBLISHED_NATIVE_DIR
    # ``force`` needs nothing here: the cached copy (manifest and native/) stays usable until the new files have
    # arrived and passed their checks, so a failed download --force (no network, a changed file) keeps it.
    downloads_dir.mkdir(parents=True, exist_ok=True)
    if entry.known_size is not None:
        have = sum(p.stat().st_size for p in downloads_dir.iterdir() if p.is_file())
        check_free_space(downloads_dir, max(entry.known_size - have, 0), f"Downloading {entry.name}")
    recorded = pins(entry)
    done: Dict[str, Dict[str, object]] = {}
    new_pins: Dict[str, str] = {}
    for file_name, source in entry.downloads.items():
        target = downloads_dir / file_name
        expected, fix = _expected(entry, source, recorded)
        if target.is_file():  # hand-placed, or fetched before a conversion failed: verified like a download
            sha256 = check_hashes(target, expected, f"{target} (for {source.url})", f"{fix} Delete {target} and download again.")
        elif offline():
            raise OfflineError(f"{entry.name}: {target} is missing and SPACY_ELMO_OFFLINE is set.")
        else:
            if progress:
                print(f"Downloading {entry.name}: {source.url}", file=sys.stderr)
            sha256 = fetch(source.url, target, expected, source.size, progress=progress, mismatch_fix=fix)
        if source.url not in recorded and not source.hashes:
            new_pins[source.url] = sha256
        done[file_name] = {"url": source.url, "sha256": sha256, "size": target.stat().st_size,
                           "verified": "+".join(sorted(expected)) or "recorded now"}
    if entry.archive is not None:
        unpacked = folder / PUBLISHED_UNPACKED_DIR
        remove_quietly([unpacked])
        unpack(downloads_dir / next(iter(entry.downloads)), unpacked)
        source_dir = find_model_folder(unpacked, entry.format, entry.subfolder)
    else:
        source_dir = downloads_dir
    # from here until the new manifest is written, the copy is not complete
    remove_quietly([folder / PUBLISHED_MANIFEST_NAME, native, folder / (PUBLISHED_NATIVE_DIR + TMP_SUFFIX)])
    source_bytes = sum(p.stat().st_size for p in source_dir.rglob("*") if p.is_file())
    check_free_space(folder, source_bytes, f"Converting {entry.name}")  # the native copy is about as large
    if progress:
        print(f"Converting {entry.name} to the native format...", file=sys.stderr)
    with atomic_path(native) as building:  # converted into native.tmp, renamed to native when whole
        convert_to_native(entry, source_dir, building)
    if new_pins:  # only now: a first download that is not a model (an error page, a cut archive) is never pinned
        write_pins(entry, new_pins)
    native_hashes = {p.name: file_hashes(p)["sha256"] for p in sorted(native.iterdir()) if p.is_file()}
    write_manifest(entry, done, native_hashes)
    remove_quietly([downloads_dir, folder / PUBLISHED_UNPACKED_DIR])  # the native copy is used; pins.json keeps the hashes
    return native


def _expected(entry: Entry, source: Source, recorded: Dict[str, str]):
    """The hashes a file must have, and what to do when it does not."""
    if source.hashes:
        return source.hashes, (
            f"That is not the publisher's hash for {entry.name} ({entry.origin}): the file was changed, cut or "
            "tampered with on the way; if it persists, do not use this source."
        )
    if source.url in recorded:
        return {"sha256": recorded[source.url]}, (
            f"It is not the file first downloaded for {entry.name} (its sha256 was recorded then, in "
            f"{model_dir(entry.name) / PUBLISHED_PINS_NAME}): the server now sends other bytes. If the publisher "
            "replaced the file on purpose, delete that pins.json and download again; otherwise do not trust this source."
        )
    return {}, ""
