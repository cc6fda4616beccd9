"""benchmarks/common/data.py (the --data helpers) and units.py (stored units on an executor)."""

from __future__ import annotations

import pytest

from benchmarks.common.data import check_data, data_clips, data_record, pick_word, speaker_pairs, word_pairs
from benchmarks.common.units import run_stored
from intervene.executors import LocalExecutor
from intervene.workstore import WorkStore
from tasks.errors import ConfigError, UnknownNameError


def test_specs_are_checked_and_made_absolute(sc_root, tmp_path, monkeypatch):
    monkeypatch.chdir(sc_root.parent)
    assert check_data("data", f"speech_commands:{sc_root.name}") == (f"speech_commands:{sc_root.resolve()}",)
    assert check_data("data", None) == () and check_data("data", []) == ()
    with pytest.raises(ConfigError, match="does not exist"):
        check_data("data", f"folder:{tmp_path / 'nothing'}")
    with pytest.raises(UnknownNameError):
        check_data("data", f"libri:{sc_root}")
    with pytest.raises(ConfigError, match="twice"):
        check_data("data", [f"folder:{sc_root}", f"folder:{sc_root}/"])


def test_clips_pairs_and_record(sc_root, sentence_manifest):
    clips = data_clips([f"manifest:{sentence_manifest}"], max_clips=4, need_text=True)
    assert len(clips) == 4 and all(c.words for c in clips)
    target = pick_word(clips[0])
    assert target.word == "lights"  # the longest content word of "turn the lights off"
    built = word_pairs(clips, {"kind": "noise", "snr_db": 0.0, "span": "word"}, n=2, seed=0)
    made = [p for _, p, _ in built if p is not None]
    assert len(made) == 2
    for pair in made:
        w = next(s for s in pair.words if s.word == pair.metadata["word"])
        changed = abs(pair.corrupt - pair.clean) > 0
        idx = changed.nonzero()[0] / 16000
        assert idx.min() >= w.start_s - 0.02 and idx.max() <= w.end_s + 0.02
    pairs = speaker_pairs(f"speech_commands:{sc_root}", ("yes", "no"), n=5)
    assert len(pairs) == 2 and len({p.metadata["speaker"] for p in pairs}) == 2
    assert all((p.clean_answer, p.corrupt_answer) == ("yes", "no") for p in pairs)
    record = data_record([f"manifest:{sentence_manifest}"], clips)
    assert record["per_spec"][f"manifest:{sentence_manifest}"] == {"clips": 4, "speakers": 2}
    assert data_record([]) == {"kind": "synthetic"}


def _square(model, shared, x):
    return {"y": shared * x * x}


def test_run_stored_computes_once_and_keeps_order(tmp_path):
    store = WorkStore(tmp_path / "work", {"format": "t"})
    items = [(f"k{i}", (i,)) for i in range(5)]
    assert list(run_stored(LocalExecutor(), None, _square, items, store, shared=2)) == [{"y": 2 * i * i} for i in range(5)]
    assert store.computed == 5

    def boom(model, shared, x):
        raise AssertionError("stored units must not run again")

    again = WorkStore(tmp_path / "work", {"format": "t"})
    assert list(run_stored(LocalExecutor(), None, boom, items, again, shared=2))[3] == {"y": 18}
    assert again.reused == 5 and again.computed == 0
