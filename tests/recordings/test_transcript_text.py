"""Transcripts as words and tokens (tasks/transcript_text.py)."""

from __future__ import annotations

import pytest

from tasks.errors import ConfigError
from tasks.transcript_text import split_words, whisper_casing, word_tokens


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import PreTrainedTokenizerFast

    from tiny_models import tokenizer_json

    return PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()))


def test_words_drop_edge_punctuation_and_keep_offsets():
    text = 'He said, "don\'t go" -- OK.'
    words = split_words(text)
    assert [w.label for w in words] == ["He", "said", "don't", "go", "OK"]
    assert all(text[w.start : w.end] == w.label for w in words)


def test_whisper_casing():
    assert whisper_casing("HE HOPED THERE WOULD BE STEW") == "He hoped there would be stew"
    assert whisper_casing("  turn  the NASA lights off ") == "Turn the NASA lights off"
    assert whisper_casing('"quoted start') == '"Quoted start'


def test_each_word_gets_the_tokens_of_its_letters(tokenizer):
    ids, words, groups = word_tokens(tokenizer, 'He said, "don\'t go" -- OK. Café 1234')
    decoded = ["".join(tokenizer.decode([ids[i]]) for i in g).strip() for g in groups]
    assert decoded == ["He", "said", "don't", "go", "OK", "Café", "1234"]
    assert ids == tokenizer.encode(' He said, "don\'t go" -- OK. Café 1234', add_special_tokens=False)
    flat = [i for g in groups for i in g]
    assert flat == sorted(flat) and len(set(flat)) == len(flat)
    punctuation = set(range(len(ids))) - set(flat)
    assert {tokenizer.decode([ids[i]]).strip() for i in punctuation} <= {",", '"', "--", "."}


def test_a_text_without_words_is_refused(tokenizer):
    with pytest.raises(ConfigError, match="no words"):
        word_tokens(tokenizer, " -- ... ")
