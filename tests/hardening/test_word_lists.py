"""Class 2 of issue 12: task word lists and answers are strings, never silently re-read.

Before: ``KeywordTask("yes")`` became the words ('y', 'e', 's') and ``KeywordTask(["yes",
None])`` got a word 'none'; a pair without an answer was scored as the word 'none'. Rule
(documented on :class:`tasks.KeywordTask`): ``words`` is a list of strings; a single string
and non-string items are ConfigErrors.
"""

from __future__ import annotations

import numpy as np
import pytest

import tasks
from corruptions.pair import MinimalPair
from tasks.errors import ConfigError


@pytest.mark.parametrize("cls", [tasks.KeywordTask, tasks.CarrierTask])
@pytest.mark.parametrize("words, match", [
    ("yes", "single string"),
    (b"yes", "single string"),
    (["yes", None], r"words\[1\]"),
    (["yes", 3], r"words\[1\]"),
    (["yes", ""], "non-empty"),
    (["yes", "Yes"], "distinct"),
    (["yes"], "at least two"),
    (None, "list of words"),
    (5, "list of words"),
    ({"yes": 1, "no": 2}, "list of words"),
])
def test_bad_word_lists_are_typed_errors(cls, words, match):
    with pytest.raises(ConfigError, match=match):
        cls(words)


def test_good_word_lists_are_kept_as_words():
    assert tasks.KeywordTask(("Yes ", "no")).words == ("yes", "no")
    assert tasks.CarrierTask(["yes", "no"]).words == ("yes", "no")


@pytest.mark.parametrize("template", [None, 5, "say {word} and {word}", "{word} first"])
def test_carrier_template_is_checked(template):
    with pytest.raises(ConfigError, match="template"):
        tasks.CarrierTask(["yes", "no"], template=template)


def test_carrier_template_keeps_other_braces():
    task = tasks.CarrierTask(["yes", "no"], template="say {x} {word} now")
    assert task.sentence("yes") == "say {x} yes now"


def test_a_pair_without_an_answer_is_not_scored_as_none():
    audio = np.zeros(1600, np.float32)
    pair = MinimalPair(audio, audio.copy(), clean_answer=None)
    with pytest.raises(ConfigError, match="clean_answer"):
        tasks.KeywordTask(["yes", "no"]).answers(pair)
