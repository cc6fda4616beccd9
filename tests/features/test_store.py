"""The activation store: stored frames equal a plain hook's capture, resume, typed errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from intervene import hooks
from intervene.features import ActivationStore, CorpusClip, extract, synthetic_corpus
from tasks.errors import ConfigError, DatasetError

SITE = "encoder.1.block_output"


@pytest.fixture(scope="module")
def corpus():
    return synthetic_corpus(3, sentences=["go left"], words=["yes", "stop"], voices=["en-us", "en-us+f3"],
                            rates=[175], pitches=[50], n_noise=1, n_silence=1, seed=0)


def test_corpus_kinds_and_ids(corpus):
    assert [c.kind for c in corpus] == ["speech"] * 3 + ["noise", "silence"]
    assert len({c.id for c in corpus}) == 5
    again = synthetic_corpus(3, sentences=["go left"], words=["yes", "stop"], voices=["en-us", "en-us+f3"],
                             rates=[175], pitches=[50], n_noise=1, n_silence=1, seed=0)
    assert [c.id for c in again] == [c.id for c in corpus]
    np.testing.assert_array_equal(again[3].load(), corpus[3].load())
    assert corpus[4].load().max() == 0.0 and corpus[3].load().std() > 0.0


def test_frames_equal_plain_hook_capture(tiny_whisper, corpus, tmp_path):
    store = extract(tiny_whisper, SITE, corpus, tmp_path / "s", clips_per_shard=2)
    assert len(store.index["shards"]) == 3 and store.d == 16
    x, clip, frame = store.arrays()
    for i, c in enumerate(corpus):
        audio = tiny_whisper.prepare(c.load())
        with hooks.capture(tiny_whisper, [SITE]) as acts:
            tiny_whisper.logits(tiny_whisper.inputs(audio))
        n = int(np.ceil(audio.shape[0] / 320))
        ref = acts[tiny_whisper.site(SITE)][0, :n]
        got = x[clip == i]
        assert got.shape == ref.shape and store.clips[i]["frames"] == n < 1500
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
        assert frame[clip == i].tolist() == list(range(n))
    assert store.n_frames == x.shape[0] and store.frames_per_s > 0
    train, test = store.split(0.4, seed=1)
    assert sorted(train + test) == list(range(5)) and len(test) == 2


def test_resume_skips_finished_shards(tiny_whisper, corpus, tmp_path):
    loads = []

    def counted(c, fail=False):
        def load():
            loads.append(c.id)
            if fail:
                raise KeyboardInterrupt
            return c.load()

        return CorpusClip(c.id, c.kind, load, text=c.text)

    broken = [counted(c, fail=(i == 3)) for i, c in enumerate(corpus)]
    with pytest.raises(KeyboardInterrupt):
        extract(tiny_whisper, SITE, broken, tmp_path, clips_per_shard=2)
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index["shards"]) == 1 and not index["complete"]
    with pytest.raises(DatasetError, match="incomplete"):
        ActivationStore(tmp_path)
    first = (tmp_path / "shard-00000.safetensors").stat().st_mtime_ns
    loads.clear()
    store = extract(tiny_whisper, SITE, [counted(c) for c in corpus], tmp_path, clips_per_shard=2)
    assert loads == [c.id for c in corpus[2:]]  # shard 0 (clips 0, 1) was not run again
    assert (tmp_path / "shard-00000.safetensors").stat().st_mtime_ns == first
    fresh = extract(tiny_whisper, SITE, corpus, tmp_path / "fresh", clips_per_shard=2)
    torch.testing.assert_close(store.arrays()[0], fresh.arrays()[0], rtol=0, atol=0)
    assert [c["id"] for c in store.clips] == [c.id for c in corpus]


def test_typed_errors(tiny_whisper, corpus, tmp_path):
    with pytest.raises(ConfigError, match="encoder site"):
        extract(tiny_whisper, "decoder.0.block_output", corpus[:1], tmp_path / "a")
    with pytest.raises(ConfigError, match="dtype"):
        extract(tiny_whisper, SITE, corpus[:1], tmp_path / "a", dtype="int8")
    with pytest.raises(ConfigError, match="empty"):
        extract(tiny_whisper, SITE, [], tmp_path / "a")
    store = extract(tiny_whisper, SITE, corpus[:2], tmp_path / "b")
    with pytest.raises(ConfigError, match="corpus"):
        extract(tiny_whisper, SITE, corpus[2:4], tmp_path / "b")
    with pytest.raises(DatasetError, match="no index.json"):
        ActivationStore(tmp_path / "a")
    shard = tmp_path / "b" / store.index["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(DatasetError, match="corrupt"):
        ActivationStore(tmp_path / "b").arrays()


def test_store_from_a_folder_of_recordings(tiny_whisper, tmp_path):
    import tasks
    from intervene.features import dataset_corpus

    for word in ("left", "stop"):
        tasks.write_wav(tmp_path / "rec" / f"{word}.wav", tasks.speak(word).audio)
        (tmp_path / "rec" / f"{word}.txt").write_text(word)
    corpus = dataset_corpus(f"folder:{tmp_path / 'rec'}")
    assert sorted(c.text for c in corpus) == ["left", "stop"] and all(c.id.startswith("folder:") for c in corpus)
    store = extract(tiny_whisper, SITE, corpus, tmp_path / "s")
    assert [c["text"] for c in store.clips] == [c.text for c in corpus]
    assert store.n_frames == sum(int(np.ceil(c.load().shape[0] / 320)) for c in corpus)
