"""Transcripts as words and tokens: the text side of word alignment and transcript tasks.

A transcript is split into words at whitespace; a word's label is its text without the
punctuation around it (``'"Hello,'`` -> ``Hello``), and a chunk of punctuation alone
(``--``) is no word. :func:`word_tokens` encodes the whole transcript once and assigns each
token to the word whose letters it overlaps (character offsets from a fast tokenizer), so a
word's tokens are exactly those the model reads in context; punctuation tokens belong to no
word.

:func:`whisper_casing` writes an all-capitals transcript (LibriSpeech) the way Whisper
writes text: lower case with a capital first letter, so teacher-forced probabilities are
not spent on casing.
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple

from tasks.errors import ConfigError

__all__ = ["TextWord", "split_words", "whisper_casing", "word_tokens", "EDGE_PUNCTUATION"]

EDGE_PUNCTUATION = string.punctuation + "\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026\u2013\u2014\u00bf\u00a1"
"""Characters stripped from either end of a word to get its label."""


class TextWord(NamedTuple):
    """A word of a transcript: its label and where the label's characters are."""

    label: str
    start: int  # index of the label's first character in the text
    end: int  # index after its last character


def split_words(text: str) -> list[TextWord]:
    """The words of ``text``: whitespace-separated chunks without edge punctuation.

    Examples
    --------
    >>> [w.label for w in split_words('He said, "don\\'t go" -- OK.')]
    ['He', 'said', "don't", 'go', 'OK']
    """
    if not isinstance(text, str):
        raise ConfigError(f"transcript ({text!r}) must be a string")
    out = []
    for match in re.finditer(r"\S+", text):
        chunk = match.group()
        core = chunk.strip(EDGE_PUNCTUATION)
        if not core:
            continue
        start = match.start() + chunk.index(core)
        out.append(TextWord(core, start, start + len(core)))
    return out


def whisper_casing(text: str) -> str:
    """``text`` as Whisper writes: whitespace collapsed, an all-capitals text lower-cased, and
    the first letter capitalised.

    Examples
    --------
    >>> whisper_casing("HE HOPED THERE WOULD BE STEW")
    'He hoped there would be stew'
    >>> whisper_casing("  turn the  NASA lights off ")
    'Turn the NASA lights off'
    """
    text = " ".join(str(text).split())
    letters = [c for c in text if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        text = text.lower()
    first = next((i for i, c in enumerate(text) if c.isalpha()), None)
    if first is not None and text[first].islower():
        text = text[:first] + text[first].upper() + text[first + 1 :]
    return text


def word_tokens(tokenizer, text: str, leading_space: bool = True) -> tuple[list[int], list[TextWord], list[list[int]]]:
    """Encode ``text`` once; each word's token indices.

    Parameters
    ----------
    tokenizer : transformers fast tokenizer
        Must return offsets (``return_offsets_mapping``).
    text : str
        The transcript (already cased as wanted).
    leading_space : bool
        Encode ``" " + text`` (Whisper writes a space before the first word).

    Returns
    -------
    ids : list of int
        The transcript's tokens (no special tokens).
    words : list of TextWord
        The words (offsets into ``text``).
    groups : list of list of int
        For each word, the indices into ``ids`` of the tokens overlapping its label.

    Raises
    ------
    ConfigError
        The text has no words, or a word gets no token.
    """
    words = split_words(text)
    if not words:
        raise ConfigError(f"transcript ({text!r}) has no words; give the words said in the audio")
    shift = 1 if leading_space else 0
    full = (" " if leading_space else "") + text
    enc = tokenizer(full, return_offsets_mapping=True, add_special_tokens=False)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    groups: list[list[int]] = [[] for _ in words]
    w = 0
    for i, (a, b) in enumerate(offsets):
        a, b = a - shift, b - shift
        while w < len(words) and words[w].end <= a:
            w += 1
        if w < len(words) and a < words[w].end and b > words[w].start:
            groups[w].append(i)
    empty = [words[i].label for i, g in enumerate(groups) if not g]
    if empty:
        raise ConfigError(f"the tokenizer gives no tokens for the words {empty} of transcript {text!r}")
    return ids, words, groups
