import numpy
import pytest
import torch

from spacy_elmo.bilm.characters import add_sentence_boundaries, sentences_to_char_ids
from spacy_elmo.training.batching import BatchMaker, epoch_batches, shard
from spacy_elmo.training.corpus import Tokenizer, tokenize_corpus
from spacy_elmo.training.vocab import Vocabulary

from .corpus_helpers import write_corpus


def test_vocabulary_is_markers_then_most_frequent(tmp_path):
    types = ["b", "a", "c", "d", "<S>"]
    counts = numpy.array([5, 9, 5, 1, 3])
    vocab = Vocabulary.from_counts(types, counts, size=5)
    assert vocab.words == ["<S>", "</S>", "<UNK>", "a", "b"]  # ties keep corpus order
    assert vocab.ids_for_types(types).tolist() == [4, 3, Vocabulary.unk, Vocabulary.unk, Vocabulary.bos]
    assert vocab.coverage(types, counts) == pytest.approx((5 + 9 + 3) / 23)
    assert Vocabulary.from_counts(types, counts, size=100, min_count=5).words[3:] == ["a", "b", "c"]
    vocab.to_file(tmp_path / "vocab.txt")
    assert Vocabulary.from_file(tmp_path / "vocab.txt").words == vocab.words


def test_epoch_batches_cover_every_sentence_once_within_budget():
    rng = numpy.random.default_rng(1)
    lengths = rng.integers(1, 40, size=500)
    batches = epoch_batches(lengths, seed=3, epoch=0, batch_tokens=300)
    seen = numpy.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(500))
    for b in batches:
        assert len(b) == 1 or len(b) * (lengths[b].max() + 2) <= 300
    again = epoch_batches(lengths, seed=3, epoch=0, batch_tokens=300)
    assert all(numpy.array_equal(x, y) for x, y in zip(batches, again))
    other = epoch_batches(lengths, seed=3, epoch=1, batch_tokens=300)
    assert not all(len(x) == len(y) and numpy.array_equal(x, y) for x, y in zip(batches, other))


def test_shards_are_disjoint_and_equal_sized():
    batches = [numpy.array([i]) for i in range(11)]
    a, b = shard(batches, 0, 2), shard(batches, 1, 2)
    assert len(a) == len(b) == 5
    assert not set(numpy.concatenate(a).tolist()) & set(numpy.concatenate(b).tolist())


def test_batch_holds_the_sentences_with_markers_and_targets(tmp_path):
    corpus = tokenize_corpus(write_corpus(tmp_path / "c.txt", 20), Tokenizer(pretokenized=True))
    vocab = Vocabulary.from_counts(corpus.types, corpus.counts, size=15)
    maker = BatchMaker(corpus, vocab)
    ids = numpy.array([3, 0, 7])
    batch = maker.make(ids)
    sentences = [corpus.sentence(i) for i in ids]
    expected_chars = add_sentence_boundaries(sentences_to_char_ids(sentences))
    got = torch.where(batch.slots[..., None] >= 0, batch.chars[batch.slots.clamp(min=0)], torch.zeros_like(expected_chars))
    assert torch.equal(got, expected_chars)
    assert batch.lengths.tolist() == [len(s) + 2 for s in sentences]
    assert batch.chars.shape[0] == len({t for s in sentences for t in s}) + 2  # each distinct token once
    for row, s in enumerate(sentences):
        words = ["<S>"] + [w if w in vocab.index else "<UNK>" for w in s] + ["</S>"]
        assert batch.targets[row, : len(words)].tolist() == [vocab.index[w] for w in words]
