"""TextGrid word tiers (tasks/textgrid.py)."""

from __future__ import annotations

import pytest

from tasks.aligned_words import AlignedWord
from tasks.errors import ConfigError, DatasetError, UnknownNameError
from tasks.textgrid import read_textgrid, write_textgrid


def _mfa_grid(path):
    """A TextGrid as the Montreal Forced Aligner writes it: words and phones, silences as empty."""
    from praatio import textgrid

    grid = textgrid.Textgrid()
    words = [(0.0, 0.12, ""), (0.12, 0.40, "turn"), (0.40, 0.50, "the"), (0.50, 0.55, "sil"), (0.55, 0.90, "lights")]
    phones = [(0.12, 0.2, "T"), (0.2, 0.4, "ER1")]
    grid.addTier(textgrid.IntervalTier("words", [w for w in words if w[2]], 0, 1.0))
    grid.addTier(textgrid.IntervalTier("phones", phones, 0, 1.0))
    grid.save(str(path), format="short_textgrid", includeBlankSpaces=True)
    return path


def test_round_trip_keeps_words_and_times(tmp_path):
    words = [AlignedWord("hello", 0.1, 0.42, 0.9), ("world", 0.42, 0.8)]
    path = write_textgrid(tmp_path / "a.TextGrid", words, duration_s=1.0)
    assert read_textgrid(path) == (("hello", 0.1, 0.42), ("world", 0.42, 0.8))


def test_reads_the_words_tier_of_an_mfa_file_without_silences(tmp_path):
    spans = read_textgrid(_mfa_grid(tmp_path / "mfa.TextGrid"))
    assert [w.word for w in spans] == ["turn", "the", "lights"]
    assert spans[2] == ("lights", 0.55, 0.9)
    assert [w.word for w in read_textgrid(tmp_path / "mfa.TextGrid", tier="phones")] == ["T", "ER1"]


def test_bad_files_and_tiers_get_typed_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_textgrid(tmp_path / "missing.TextGrid")
    (tmp_path / "bad.TextGrid").write_text("not a textgrid")
    with pytest.raises(DatasetError, match="bad.TextGrid"):
        read_textgrid(tmp_path / "bad.TextGrid")
    with pytest.raises(UnknownNameError, match="words, phones|phones, words"):
        read_textgrid(_mfa_grid(tmp_path / "m.TextGrid"), tier="syllables")
    with pytest.raises(ConfigError, match="overlap"):
        write_textgrid(tmp_path / "o.TextGrid", [("a", 0.0, 0.5), ("b", 0.4, 0.9)])
    with pytest.raises(ConfigError, match="nothing to write"):
        write_textgrid(tmp_path / "e.TextGrid", [])
