"""Raw text in, token ids out: reading files safely, tokenising, caching the result.

Reading is strict about what it accepts and honest about what it drops: every
skipped line is counted by reason, and a corpus that yields no text is an error
before training starts (never a crash after hours with nothing saved).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy

from ..atomic import atomic_path
from ..errors import ElmoError
from ..progress import progress_bar

TEXT_SUFFIXES = (".txt", ".gz", ".text", ".raw", ".tok")
CACHE_VERSION = 2


class CorpusError(ElmoError, ValueError):
    """The training text is missing, empty, binary or otherwise unusable."""


@dataclass
class CorpusStats:
    """What the reader kept and what it skipped, by reason."""

    files: int = 0
    lines: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)
    sentences: int = 0
    tokens: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (
            f"{self.files} file(s), {self.lines} lines kept, {self.sentences} sentences, "
            f"{self.tokens} tokens; skipped lines: {skipped}"
        )


def corpus_files(path: Union[str, Path]) -> List[Path]:
    """A file, or every text/.gz file under a directory (sorted, so runs are reproducible)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TEXT_SUFFIXES
        )
        if not files:
            raise CorpusError(
                f"The corpus directory {path} holds no text files ({', '.join(TEXT_SUFFIXES)}). "
                "Give a text file, a .gz, or a directory of them."
            )
        return files
    raise CorpusError(f"Corpus not found: {path}. Give a UTF-8 text file, a .gz of one, or a directory of them.")


def _open_binary(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _looks_binary(head: bytes) -> bool:
    """NUL bytes never occur in text; many control bytes mean an image, archive, model file..."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control > 0.05 * len(head)


def read_lines(
    path: Union[str, Path], max_line_chars: int = 100_000, stats: Optional[CorpusStats] = None
) -> Iterator[str]:
    """Yield the non-empty lines of a corpus, stripped.

    Skips (and counts) lines that are not valid UTF-8, contain NUL/control bytes, or
    are longer than ``max_line_chars``. A file that is binary from its first bytes, or
    a broken .gz, is a :class:`CorpusError` naming the file.
    """
    stats = stats if stats is not None else CorpusStats()
    max_line_bytes = 4 * max_line_chars + 4
    for file in corpus_files(path):
        stats.files += 1
        try:
            with _open_binary(file) as handle:
                head = handle.peek(8192)[:8192] if hasattr(handle, "peek") else b""
                if _looks_binary(head):
                    raise CorpusError(
                        f"{file} looks like a binary file (NUL or control bytes in its first 8 KB), not UTF-8 text. "
                        "Remove it from the corpus or convert it to plain text."
                    )
                while True:
                    raw = handle.readline(max_line_bytes)
                    if not raw:
                        break
                    if len(raw) >= max_line_bytes and not raw.endswith(b"\n"):
                        # Drain the rest of the over-long line without holding it in memory.
                        while True:
                            rest = handle.readline(1 << 20)
                            if not rest or rest.endswith(b"\n"):
                                break
                        stats.skip(f"longer than {max_line_chars} characters")
                        continue
                    if b"\x00" in raw:
                        stats.skip("with NUL bytes")
                        continue
                    try:
                        line = raw.decode("utf-8").strip()
                    except UnicodeDecodeError:
                        stats.skip("not valid UTF-8")
                        continue
                    if not line:
                        continue
                    if len(line) > max_line_chars:
                        stats.skip(f"longer than {max_line_chars} characters")
                        continue
                    stats.lines += 1
                    yield line
        except (OSError, EOFError, zlib.error) as err:
            if isinstance(err, CorpusError):
                raise
            raise CorpusError(f"Cannot read {file}: {err}. Is it a valid text or .gz file?") from err


def spacy_tokenizer(lang: str):
    """The tokenizer ``spacy.blank(lang)`` would have, built without loading any pipeline plugins.

    For the usual rule-based languages it is constructed straight from the language's
    defaults (identical rules, so identical tokens); others go through ``spacy.blank``.
    """
    import spacy
    from spacy import util

    try:
        lang_cls = util.get_lang_class(lang)
    except Exception as err:  # spaCy raises its own error type for unknown codes
        raise CorpusError(f"spaCy has no language {lang!r} ({err}). Give an ISO code such as 'en', or use --pretokenized.") from err
    if lang_cls.default_config["nlp"]["tokenizer"].get("@tokenizers") != "spacy.Tokenizer.v1":
        return spacy.blank(lang).tokenizer
    from spacy.tokenizer import Tokenizer as SpacyTokenizer
    from spacy.vocab import create_vocab

    d = lang_cls.Defaults
    return SpacyTokenizer(
        create_vocab(lang, d),
        rules=d.tokenizer_exceptions,
        prefix_search=util.compile_prefix_regex(d.prefixes).search if d.prefixes else None,
        suffix_search=util.compile_suffix_regex(d.suffixes).search if d.suffixes else None,
        infix_finditer=util.compile_infix_regex(d.infixes).finditer if d.infixes else None,
        token_match=d.token_match,
        url_match=d.url_match,
    )


class Tokenizer:
    """Lines to sentences of tokens: spaCy's tokenizer + sentencizer for ``lang``, or whitespace.

    Using spaCy's own tokenizer means the LM is trained on exactly the tokens the
    pipeline component will later feed it.
    """

    def __init__(self, lang: str = "en", pretokenized: bool = False, split_sentences: bool = True):
        self.lang, self.pretokenized, self.split_sentences = lang, pretokenized, split_sentences
        self._tokenizer = None
        self._sentencizer = None
        if not pretokenized:
            self._tokenizer = spacy_tokenizer(lang)
            if split_sentences:
                from spacy.pipeline import Sentencizer

                self._sentencizer = Sentencizer()

    def describe(self) -> Dict[str, object]:
        return {"lang": self.lang, "pretokenized": self.pretokenized, "split_sentences": self.split_sentences}

    def sentences(self, lines: Iterable[str], batch_size: int = 2000) -> Iterator[List[str]]:
        if self._tokenizer is None:
            for line in lines:
                tokens = line.split()
                if tokens:
                    yield tokens
            return
        docs = self._tokenizer.pipe(lines, batch_size=batch_size)
        if self._sentencizer is not None:
            docs = self._sentencizer.pipe(docs, batch_size=batch_size)
        for doc in docs:
            spans = doc.sents if self.split_sentences else [doc[:]]
            for span in spans:
                tokens = [t.text for t in span if not t.is_space]
                if tokens:
                    yield tokens


@dataclass
class TokenizedCorpus:
    """Sentences as one flat array of type ids plus offsets; ``types`` maps ids to strings."""

    types: List[str]
    counts: numpy.ndarray  # [n_types] int64
    tokens: numpy.ndarray  # [n_tokens] int32 type ids
    offsets: numpy.ndarray  # [n_sentences + 1] int64
    stats: CorpusStats

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def sentence(self, i: int) -> List[str]:
        return [self.types[t] for t in self.tokens[self.offsets[i] : self.offsets[i + 1]]]

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".tmp.npz") as tmp:  # numpy.savez would add .npz to another name
            numpy.savez(
                tmp,
                counts=self.counts,
                tokens=self.tokens,
                offsets=self.offsets,
                types=numpy.array(json.dumps(self.types)),
                stats=numpy.array(json.dumps(asdict(self.stats))),
            )

    @classmethod
    def load(cls, path: Path) -> "TokenizedCorpus":
        with numpy.load(path) as data:
            return cls(
                types=json.loads(str(data["types"])),
                counts=data["counts"],
                tokens=data["tokens"],
                offsets=data["offsets"],
                stats=CorpusStats(**json.loads(str(data["stats"]))),
            )


def _cache_key(path: Path, tokenizer: Tokenizer, max_line_chars: int, max_sentence_tokens: int) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([CACHE_VERSION, tokenizer.describe(), max_line_chars, max_sentence_tokens]).encode())
    for file in corpus_files(path):
        st = file.stat()
        h.update(f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def tokenize_corpus(
    path: Union[str, Path],
    tokenizer: Tokenizer,
    max_line_chars: int = 100_000,
    max_sentence_tokens: int = 100,
    cache_dir: Optional[Path] = None,
    progress: bool = False,
) -> TokenizedCorpus:
    """Read and tokenise a corpus once; later runs load the cached arrays.

    Sentences longer than ``max_sentence_tokens`` are cut into pieces of at most that
    many tokens (the LSTM is unrolled over whole sentences, so this bounds batch shapes).
    """
    path = Path(path)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{path.name}-{_cache_key(path, tokenizer, max_line_chars, max_sentence_tokens)}.npz"
        if cache_file.is_file():
            return TokenizedCorpus.load(cache_file)
    stats = CorpusStats()
    type_ids: Dict[str, int] = {}
    types: List[str] = []
    counts: Counter = Counter()
    flat: List[numpy.ndarray] = []
    lengths: List[int] = []
    lines: Iterable[str] = read_lines(path, max_line_chars, stats)
    bar = progress_bar(progress, every=2.0, desc=f"tokenising {path.name}", unit=" lines")
    for tokens in tokenizer.sentences(lines):
        ids = []
        for tok in tokens:
            tid = type_ids.get(tok)
            if tid is None:
                tid = type_ids[tok] = len(types)
                types.append(tok)
            ids.append(tid)
        for start in range(0, len(ids), max_sentence_tokens):
            piece = ids[start : start + max_sentence_tokens]
            flat.append(numpy.asarray(piece, dtype=numpy.int32))
            lengths.append(len(piece))
        counts.update(ids)
        if bar is not None:
            bar.update(0)
            bar.n = stats.lines
    if bar is not None:
        bar.close()
    stats.sentences = len(lengths)
    stats.tokens = int(sum(lengths))
    if stats.tokens == 0:
        raise CorpusError(
            f"The corpus {path} yielded no tokens ({stats.summary()}). "
            "Give UTF-8 text with one sentence or paragraph a line."
        )
    count_array = numpy.zeros(len(types), dtype=numpy.int64)
    for tid, n in counts.items():
        count_array[tid] = n
    corpus = TokenizedCorpus(
        types=types,
        counts=count_array,
        tokens=numpy.concatenate(flat) if flat else numpy.zeros(0, dtype=numpy.int32),
        offsets=numpy.concatenate([[0], numpy.cumsum(lengths)]).astype(numpy.int64),
        stats=stats,
    )
    if cache_file is not None:
        corpus.save(cache_file)
    return corpus
