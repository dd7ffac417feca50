import gzip

import numpy
import pytest

from spacy_elmo.training.corpus import CorpusError, CorpusStats, Tokenizer, read_lines, tokenize_corpus

from .corpus_helpers import write_corpus


def test_file_gz_and_directory_give_the_same_lines(tmp_path):
    text = write_corpus(tmp_path / "a.txt", 20).read_text(encoding="utf-8")
    with gzip.open(tmp_path / "b.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "part1.txt").write_text(text, encoding="utf-8")
    with gzip.open(folder / "part2.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    plain = list(read_lines(tmp_path / "a.txt"))
    assert len(plain) == 20
    assert list(read_lines(tmp_path / "b.gz")) == plain
    stats = CorpusStats()
    assert list(read_lines(folder, stats=stats)) == plain + plain
    assert stats.files == 2 and stats.lines == 40


def test_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="no tokens"):
        tokenize_corpus(tmp_path / "empty.txt", Tokenizer(pretokenized=True))


def test_blank_lines_only_is_a_clear_error(tmp_path):
    (tmp_path / "blank.txt").write_text("\n \n\t\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no tokens"):
        tokenize_corpus(tmp_path / "blank.txt", Tokenizer(pretokenized=True))


def test_missing_path_and_empty_directory_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        list(read_lines(tmp_path / "nope.txt"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(CorpusError, match="no text files"):
        list(read_lines(tmp_path / "d"))


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "model.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(CorpusError, match="binary"):
        list(read_lines(path))


def test_broken_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"this is not gzip data at all\n" * 10)
    with pytest.raises(CorpusError, match="broken.gz"):
        list(read_lines(path))


def test_bad_lines_are_counted_skips(tmp_path):
    path = tmp_path / "mixed.txt"
    good = "A good line .\n"
    path.write_bytes(
        good.encode() + b"caf\xe9 latin-1 bytes\n" + b"x" * (1 << 20) + b"\n" + good.encode() + b"nul\x00byte\n" + "Ünïcode ok .\n".encode()
    )
    stats = CorpusStats()
    lines = list(read_lines(path, max_line_chars=100_000, stats=stats))
    assert lines == ["A good line .", "A good line .", "Ünïcode ok ."]
    assert stats.skipped == {"not valid UTF-8": 1, "longer than 100000 characters": 1, "with NUL bytes": 1}
    corpus = tokenize_corpus(path, Tokenizer(pretokenized=True))
    assert corpus.n_tokens == 11 and sum(corpus.stats.skipped.values()) == 3


def test_pretokenized_splits_on_whitespace_only(tmp_path):
    path = tmp_path / "tok.txt"
    path.write_text("Don't split  this,please\n", encoding="utf-8")
    corpus = tokenize_corpus(path, Tokenizer(pretokenized=True))
    assert corpus.sentence(0) == ["Don't", "split", "this,please"]


def test_spacy_tokens_are_the_pipeline_tokens(tmp_path):
    spacy = pytest.importorskip("spacy")
    from spacy.lang.en import English

    text = "Mr. Smith doesn't live in the U.K. anymore, see https://example.com! He left (in 2019)."
    path = tmp_path / "t.txt"
    path.write_text(text + "\n", encoding="utf-8")
    corpus = tokenize_corpus(path, Tokenizer("en", split_sentences=False))
    try:
        expected = [t.text for t in English().tokenizer(text)]
    except ImportError as err:  # a broken spaCy plugin entry point elsewhere in the environment
        pytest.skip(f"spaCy's English() cannot be built here: {err}")
    assert corpus.sentence(0) == expected


def test_sentences_are_split_and_long_ones_cut(tmp_path):
    path = tmp_path / "s.txt"
    long_sentence = " ".join(["word"] * 25) + " ."
    path.write_text(f"First sentence here. Second one follows.\n{long_sentence}\n", encoding="utf-8")
    corpus = tokenize_corpus(path, Tokenizer("en"), max_sentence_tokens=10)
    lengths = numpy.diff(corpus.offsets).tolist()
    assert lengths == [4, 4, 10, 10, 6]
    assert corpus.sentence(0) == ["First", "sentence", "here", "."]


def test_cache_is_reused_and_invalidated(tmp_path):
    path = write_corpus(tmp_path / "c.txt", 30)
    tok = Tokenizer(pretokenized=True)
    first = tokenize_corpus(path, tok, cache_dir=tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    again = tokenize_corpus(path, tok, cache_dir=tmp_path / "cache")
    assert again.types == first.types and numpy.array_equal(again.tokens, first.tokens)
    path.write_text("changed text\n", encoding="utf-8")
    changed = tokenize_corpus(path, tok, cache_dir=tmp_path / "cache")
    assert changed.n_tokens == 2
