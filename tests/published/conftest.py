"""Fixtures for the published-model tests: a local file server, a private cache and registry per test,
and archives made from the tiny reference models. Nothing here reaches the internet."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REFERENCE
from tests.published.server import FileServer

ALLENNLP = REFERENCE / "allennlp"
EFML = REFERENCE / "elmoformanylangs" / "tiny.model"


@pytest.fixture
def server():
    with FileServer() as running:
        yield running


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, no user registry, online, and fast retries."""
    from spacy_elmo.published import cache, download

    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPACY_ELMO_REGISTRY", raising=False)
    monkeypatch.delenv("SPACY_ELMO_OFFLINE", raising=False)
    monkeypatch.setattr(download, "RETRIES", 3)
    monkeypatch.setattr(download, "BACKOFF_S", 0.0)
    cache._verified.clear()
    return tmp_path / "cache"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """``registry({NAME: entry})`` writes the entries to a file and points SPACY_ELMO_REGISTRY at it."""
    path = tmp_path / "my-registry.json"

    def write(entries: dict) -> Path:
        path.write_text(json.dumps(entries), encoding="utf-8")
        monkeypatch.setenv("SPACY_ELMO_REGISTRY", str(path))
        return path

    return write


def reference_files() -> dict:
    return {"options.json": (ALLENNLP / "options.json").read_bytes(),
            "weights.hdf5": (ALLENNLP / "lm_weights.hdf5").read_bytes()}


def make_zip(members: dict) -> bytes:
    """A zip of ``name -> bytes``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def serve_reference(server: FileServer, registry, name: str = "tiny-en", **source_fields) -> dict:
    """Serve the tiny AllenNLP model's two files and register them as ``name``; the entry."""
    files = reference_files()
    for file_name, data in files.items():
        server.files[f"/{name}/{file_name}"] = data
    entry = {"lang": "en", "format": "allennlp", "files": {
        file_name: {"url": server.url(f"/{name}/{file_name}"), **source_fields.get(file_name, {})} for file_name in files}}
    registry({name: entry})
    return entry
