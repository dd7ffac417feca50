import numpy
import pytest

from spacy_elmo.bilm.characters import (
    BOS_CHAR, BOW_CHAR, EOS_CHAR, EOW_CHAR, PAD_CHAR, add_sentence_boundaries, boundary_char_ids,
    sentences_to_char_ids, token_to_char_ids,
)
from spacy_elmo.errors import CharacterError


def test_ascii_token_is_bytes_between_word_markers_shifted_by_one():
    ids = token_to_char_ids("cat")
    assert ids.shape == (50,)
    assert ids[:5].tolist() == [BOW_CHAR + 1, ord("c") + 1, ord("a") + 1, ord("t") + 1, EOW_CHAR + 1]
    assert (ids[5:] == PAD_CHAR + 1).all()


def test_empty_token_is_rejected_with_a_clear_error():
    with pytest.raises(CharacterError, match="empty token"):
        token_to_char_ids("")
    with pytest.raises(CharacterError, match="empty token"):
        sentences_to_char_ids([["fine", ""]])


def test_sixty_character_token_keeps_first_48_bytes():
    token = "abcdefghij" * 6
    ids = token_to_char_ids(token)
    assert ids[0] == BOW_CHAR + 1
    assert bytes((ids[1:49] - 1).tolist()) == token.encode()[:48]
    assert ids[49] == EOW_CHAR + 1


def test_non_ascii_uses_utf8_bytes():
    ids = token_to_char_ids("Zürich")
    encoded = "Zürich".encode("utf-8")
    assert len(encoded) == 7
    assert (ids[1:8] - 1).tolist() == list(encoded)
    assert ids[8] == EOW_CHAR + 1


def test_emoji_is_four_bytes():
    ids = token_to_char_ids("👍")
    assert (ids[1:5] - 1).tolist() == list("👍".encode("utf-8"))
    assert ids[5] == EOW_CHAR + 1


def test_lone_surrogate_is_kept_not_dropped():
    ids = token_to_char_ids("\ud800")
    assert ids[4] == EOW_CHAR + 1  # three bytes kept: never an empty word


def test_batch_pads_with_zeros_and_boundaries_follow_each_row():
    batch = sentences_to_char_ids([["a", "b", "c"], ["d"]])
    assert batch.shape == (2, 3, 50)
    assert (batch[1, 1:] == 0).all()
    wrapped = add_sentence_boundaries(batch)
    bos, eos = boundary_char_ids(50)
    assert wrapped.shape == (2, 5, 50)
    assert (wrapped[:, 0].numpy() == bos).all()
    numpy.testing.assert_array_equal(wrapped[0, 4].numpy(), eos)
    numpy.testing.assert_array_equal(wrapped[1, 2].numpy(), eos)
    assert (wrapped[1, 3:] == 0).all()
    assert bos[:3].tolist() == [BOW_CHAR + 1, BOS_CHAR + 1, EOW_CHAR + 1]
    assert eos[1] == EOS_CHAR + 1


def test_string_instead_of_token_list_is_rejected():
    with pytest.raises(CharacterError, match="list of token lists"):
        sentences_to_char_ids(["not", "tokenised"])
