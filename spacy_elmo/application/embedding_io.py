"""Bulk embedding on disk: read inputs, write outputs in chunks, resume after an interruption.

An ``embed`` run never writes its final file until every document is done. Work goes
into ``OUTPUT.partial/``: a ``manifest.json`` that pins the input and the settings, then
one part file per chunk of documents, each written to a temporary name and renamed, so a
part on disk is always complete. A killed run leaves only whole parts; running the same
command again skips them. When all parts exist they are merged into ``OUTPUT`` (again
through a temporary file and a rename) and the partial folder is removed.

Output layouts (the token axis is always the second-to-last one):

- ``.hdf5`` / ``.h5``: one dataset per document named ``"0"``, ``"1"``, ... as the original
  ``dump_bilm_embeddings`` does (``[n_output_layers, n_tokens, dim]`` for ``--layers all``,
  ``[n_tokens, dim]`` for one vector per token), plus a ``tokens`` group whose dataset
  ``i`` holds document ``i``'s tokens as a JSON list.
- ``.npz``: ``vectors`` (all documents' tokens concatenated along the token axis),
  ``doc_lengths`` (tokens per document), ``tokens`` (a JSON list of token lists).
- ``.npy``: ``vectors`` only (document boundaries need ``.npz`` or ``.hdf5``).
- ``.spacy``: a DocBin whose docs carry ``doc._.elmo_data`` (so ``token._.elmo`` works after
  ``import spacy_elmo.pipeline``): all layers with the component's mix for ``mix``, the top
  layer for ``top``, all layers with equal weights for ``average``, the chosen layers
  concatenated (mix ``None``) for ``all`` and layer numbers.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy

from ..atomic import atomic_path, write_bytes
from ..errors import ElmoError
from ..layout import PARTIAL_MANIFEST_NAME, PARTIAL_SUFFIX

MANIFEST_VERSION = 1
OUTPUT_FORMATS = {".hdf5": "hdf5", ".h5": "hdf5", ".npz": "npz", ".npy": "npy", ".spacy": "docbin"}
INPUT_FORMATS = {".spacy": "docbin"}  # anything else is read as text, one document per line


class EmbedInputError(ElmoError, ValueError):
    """The input file cannot be read as documents."""


class ResumeError(ElmoError):
    """A partial run exists but was started with a different input or different settings."""


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ElmoError(
            f"Unknown output type {path.suffix or '(no suffix)'!r} for {path}: use .npz, .npy, .hdf5 (or .h5) or .spacy."
        )
    return fmt


def partial_dir(output: Path) -> Path:
    return output.with_name(output.name + PARTIAL_SUFFIX)


# -- input ----------------------------------------------------------------------------------------
@dataclass
class EmbedSource:
    """An input file: plain text (one document per line) or a spaCy DocBin."""

    path: Path
    kind: str
    n_docs: int
    sha256: str

    @classmethod
    def open(cls, path: Path) -> "EmbedSource":
        """Check the whole file once (count, UTF-8, hash) before any work starts."""
        path = Path(path)
        if not path.is_file():
            raise EmbedInputError(f"Input file not found: {path}")
        kind = INPUT_FORMATS.get(path.suffix.lower(), "text")
        digest = hashlib.sha256()
        n_docs = 0
        if kind == "text":
            with path.open("rb") as f:
                for number, raw in enumerate(f, start=1):
                    digest.update(raw)
                    _decode_line(raw, path, number)
                    n_docs += 1
        else:
            data = path.read_bytes()
            digest.update(data)
            n_docs = len(_read_docbin_bytes(data, path))
        return cls(path, kind, n_docs, digest.hexdigest())

    def items(self, start: int = 0) -> Iterator[Any]:
        """Documents from index ``start`` on: ``str`` for text, ``bytes`` (``Doc.to_bytes``) for DocBins."""
        if self.kind == "text":
            with self.path.open("rb") as f:
                for number, raw in enumerate(f, start=1):
                    if number > start:
                        yield _decode_line(raw, self.path, number)
        else:
            from spacy.vocab import Vocab

            from ..pipeline.data import hooks_set_again

            docbin = _read_docbin_bytes(self.path.read_bytes(), self.path)
            with hooks_set_again():  # the docs go to the pipeline, which sets the hooks again
                docs = list(docbin.get_docs(Vocab()))
            for i, doc in enumerate(docs):
                if i >= start:
                    yield doc.to_bytes()


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    """One line without its line break. Only ``\\n`` separates documents: a ``\\r``, form feed or
    U+2028 inside a line stays part of that document."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise EmbedInputError(
            f"{path}, line {number}: not valid UTF-8 (byte {raw[err.start]:#04x} at byte offset {err.start}). "
            "Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`."
        ) from err


def _read_docbin_bytes(data: bytes, path: Path):
    from spacy.tokens import DocBin

    try:
        return DocBin(store_user_data=True).from_bytes(data)
    except Exception as err:  # DocBin raises ValueError, KeyError or msgpack errors on bad data
        raise EmbedInputError(
            f"{path} is not a readable spaCy DocBin ({type(err).__name__}: {err}). Files ending in .spacy are "
            "read as DocBins; give plain text (one document per line) another suffix such as .txt."
        ) from err


# -- the partial run ----------------------------------------------------------------------------------
class PartialRun:
    """``OUTPUT.partial/``: the manifest and the finished chunks of an embedding run."""

    def __init__(self, output: Path, manifest: Dict[str, Any]):
        self.output = Path(output)
        self.folder = partial_dir(self.output)
        self.manifest = manifest
        self.fmt = output_format(self.output)
        self.chunk_size = int(manifest["chunk_size"])
        self.n_docs = int(manifest["input"]["n_docs"])

    @classmethod
    def start_or_resume(cls, output: Path, manifest: Dict[str, Any], restart: bool = False) -> "PartialRun":
        """Reuse a matching partial run; refuse one that belongs to another input or other settings."""
        folder = partial_dir(Path(output))
        manifest = dict(manifest, version=MANIFEST_VERSION)
        if folder.exists() and restart:
            shutil.rmtree(folder)
        if folder.exists():
            try:
                old = json.loads((folder / PARTIAL_MANIFEST_NAME).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old is not None and old != manifest:
                changed = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
                raise ResumeError(
                    f"{folder} holds an interrupted run with a different {', '.join(changed)}. "
                    "Run the original command again to finish it, or add --restart to discard it."
                )
            if old is None:  # killed before the manifest was written: nothing else can be there
                shutil.rmtree(folder)
        if not folder.exists():
            folder.mkdir(parents=True)
            write_bytes(folder / PARTIAL_MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
        for stale in folder.glob("*.tmp"):
            stale.unlink()
        return cls(output, manifest)

    @property
    def n_chunks(self) -> int:
        return (self.n_docs + self.chunk_size - 1) // self.chunk_size

    def part_path(self, k: int) -> Path:
        return self.folder / f"part-{k:06d}.{'spacy' if self.fmt == 'docbin' else 'npz'}"

    def done_chunks(self) -> List[int]:
        return [k for k in range(self.n_chunks) if self.part_path(k).is_file()]

    def chunk_range(self, k: int) -> Tuple[int, int]:
        return k * self.chunk_size, min(self.n_docs, (k + 1) * self.chunk_size)

    def write_part(self, k: int, docs: Sequence[Any], arrays: Sequence[numpy.ndarray]) -> None:
        """Write chunk ``k`` atomically (temporary name, then rename)."""
        write_part(self.part_path(k), self.fmt, docs, arrays)

    def merge(self, layers: str) -> None:
        """All parts -> ``OUTPUT`` through a temporary file; then drop the partial folder."""
        missing = [k for k in range(self.n_chunks) if not self.part_path(k).is_file()]
        if missing:
            raise ElmoError(f"Cannot merge {self.folder}: chunk {missing[0]} is missing.")
        parts = [self.part_path(k) for k in range(self.n_chunks)]
        with atomic_path(self.output) as tmp:
            _MERGERS[self.fmt](parts, tmp, {"layers": layers, "model": json.dumps(self.manifest.get("model"))})
        shutil.rmtree(self.folder)


# -- part files ------------------------------------------------------------------------------------------
def write_part(path: Path, fmt: str, docs: Sequence[Any], arrays: Sequence[numpy.ndarray]) -> None:
    # A temporary name of its own: on a cluster a chunk whose worker was presumed dead may be
    # written twice at once; each writer renames only its own complete file.
    with atomic_path(path, unique=True) as tmp:
        if fmt == "docbin":
            from spacy.tokens import DocBin

            docbin = DocBin(store_user_data=True)
            for doc in docs:  # each carries doc._.elmo_data (an ElmoData), set by the embedder
                docbin.add(doc)
            tmp.write_bytes(docbin.to_bytes())
        else:
            tokens = [[t.text for t in doc] for doc in docs]
            lengths = numpy.array([len(t) for t in tokens], dtype=numpy.int64)
            vectors = _concatenate(arrays)
            with tmp.open("wb") as f:
                numpy.savez(f, vectors=vectors, doc_lengths=lengths, tokens=numpy.array(_tokens_json(tokens)))


def _concatenate(arrays: Sequence[numpy.ndarray]) -> numpy.ndarray:
    return numpy.concatenate([numpy.asarray(a, dtype=numpy.float32) for a in arrays], axis=-2)


def _tokens_json(tokens: List[List[str]]) -> str:
    # ASCII JSON keeps every Python string, lone surrogates included, and round-trips exactly.
    return json.dumps(tokens, ensure_ascii=True)


def _read_npz_part(path: Path) -> Tuple[numpy.ndarray, numpy.ndarray, List[List[str]]]:
    with numpy.load(path) as data:
        return data["vectors"], data["doc_lengths"], json.loads(str(data["tokens"]))


def _split(vectors: numpy.ndarray, lengths: numpy.ndarray) -> List[numpy.ndarray]:
    bounds = numpy.cumsum(lengths)[:-1]
    return numpy.split(vectors, bounds, axis=-2)


def _merge_hdf5(parts: List[Path], out: Path, attrs: Dict[str, str]) -> None:
    import h5py

    index = 0
    with h5py.File(out, "w") as h5:
        tokens_group = h5.create_group("tokens")
        for part in parts:
            vectors, lengths, tokens = _read_npz_part(part)
            for array, doc_tokens in zip(_split(vectors, lengths), tokens):
                h5.create_dataset(str(index), data=array)
                tokens_group.create_dataset(str(index), data=json.dumps(doc_tokens, ensure_ascii=True))
                index += 1
        h5.attrs.update(attrs)
        h5.attrs["n_docs"] = index


def _merge_npy_like(parts: List[Path], out: Path, attrs: Dict[str, str], npz: bool) -> None:
    """Stream the parts' vectors into one array without holding them all in memory."""
    shapes = []
    all_lengths: List[numpy.ndarray] = []
    all_tokens: List[List[str]] = []
    for part in parts:
        with numpy.load(part) as data:
            shapes.append(data["vectors"].shape)
            all_lengths.append(data["doc_lengths"])
            if npz:
                all_tokens.extend(json.loads(str(data["tokens"])))
    shape = list(shapes[0])
    shape[-2] = sum(s[-2] for s in shapes)
    header = {"descr": numpy.lib.format.dtype_to_descr(numpy.dtype(numpy.float32)), "fortran_order": False, "shape": tuple(shape)}

    def stream(f) -> None:
        numpy.lib.format.write_array_header_2_0(f, header)
        # Token axis second-to-last: for [L, n, D] arrays write layer by layer.
        lead = shape[:-2]
        for idx in numpy.ndindex(*lead) if lead else [()]:
            for part in parts:
                with numpy.load(part) as data:
                    f.write(numpy.ascontiguousarray(data["vectors"][idx], dtype=numpy.float32).tobytes())

    if not npz:
        with out.open("wb") as raw:
            stream(raw)
        return
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("vectors.npy", "w", force_zip64=True) as member:
            stream(member)
        with zf.open("doc_lengths.npy", "w") as member:
            numpy.lib.format.write_array(member, numpy.concatenate(all_lengths).astype(numpy.int64))
        with zf.open("tokens.npy", "w") as member:
            numpy.lib.format.write_array(member, numpy.array(_tokens_json(all_tokens)))
        with zf.open("layers.npy", "w") as member:
            numpy.lib.format.write_array(member, numpy.array(attrs["layers"]))


def _merge_docbin(parts: List[Path], out: Path, attrs: Dict[str, str]) -> None:
    from spacy.tokens import DocBin

    merged = DocBin(store_user_data=True)
    for part in parts:
        merged.merge(DocBin(store_user_data=True).from_disk(part))
    out.write_bytes(merged.to_bytes())


_MERGERS = {
    "hdf5": _merge_hdf5,
    "npz": lambda parts, out, attrs: _merge_npy_like(parts, out, attrs, npz=True),
    "npy": lambda parts, out, attrs: _merge_npy_like(parts, out, attrs, npz=False),
    "docbin": _merge_docbin,
}


# -- reading results back ----------------------------------------------------------------------------------
def read_embeddings(path: Path, vocab=None) -> List[Tuple[List[str], numpy.ndarray]]:
    """``(tokens, vectors)`` per document from an ``embed`` output (``.npy`` has no tokens: ``[]``)."""
    path = Path(path)
    fmt = output_format(path)
    if fmt == "npy":
        return [([], numpy.load(path))]
    if fmt == "npz":
        vectors, lengths, tokens = _read_npz_part(path)
        return list(zip(tokens, _split(vectors, lengths)))
    if fmt == "hdf5":
        import h5py

        with h5py.File(path, "r") as h5:
            n = int(h5.attrs.get("n_docs", sum(1 for k in h5 if k.isdigit())))
            return [(json.loads(h5["tokens"][str(i)][()]), h5[str(i)][...]) for i in range(n)]
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    from ..pipeline import ElmoData  # noqa: F401  (registers the extensions and ElmoData's msgpack codec)
    from ..pipeline.data import hooks_set_again

    out = []
    with hooks_set_again():  # only doc._.elmo_data is read, which needs no hooks
        for doc in DocBin(store_user_data=True).from_disk(path).get_docs(vocab or Vocab()):
            data = doc._.elmo_data
            out.append(([t.text for t in doc], data.layers if data.mix is None else data.vectors))
    return out


