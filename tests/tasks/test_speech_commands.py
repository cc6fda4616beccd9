"""tasks.speech_commands: the Speech Commands layout, read from recordings or synthesized."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from tasks.errors import ConfigError, DatasetError, UnknownNameError
from tasks.speech_commands import SpeechCommands, SpeechCommandsExample, estimate_word_span
from tasks.speech_commands_synth import synthesize_speech_commands
from tasks.tts import speaker_id
from tasks.utterance import Utterance

SR = 16000
WORDS = ("yes", "no", "up")
VOICES = ["en-us", "en+f2"]
SETTINGS = dict(
    words=WORDS, voices=VOICES, rates=(150, 190), pitches=(50,), validation_fraction=0.25, testing_fraction=0.25
)
FILE_RE = re.compile(r"^[^_]+_nohash_\d+\.wav$")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """3 words x 2 voices x 2 rates: 4 speakers (1 validation, 1 testing, 2 train), 12 clips."""
    return synthesize_speech_commands(tmp_path_factory.mktemp("synthetic"), **SETTINGS)


def _write_int16(path, audio):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.round(audio * 32767).astype(np.int16), SR, subtype="PCM_16")


@pytest.fixture
def recorded(tmp_path, rng):
    """A hand-made folder in the real layout: int16 16 kHz clips with a 'word' at 0.30-0.60 s."""
    root = tmp_path / "speech_commands_v0.02"
    t = np.arange(int(0.3 * SR)) / SR
    clips = ["yes/0a7c2a8d_nohash_0.wav", "yes/0a7c2a8d_nohash_1.wav", "no/0a7c2a8d_nohash_0.wav"]
    for rel in clips + ["no/ffd2ba2f_nohash_0.wav"]:
        clip = rng.normal(0.0, 3e-4, SR)  # room noise, ~55 dB below the word
        clip[int(0.3 * SR) : int(0.6 * SR)] += 0.4 * np.sin(2 * np.pi * 220 * t) * np.hanning(t.size) ** 0.1
        _write_int16(root / rel, clip)
    _write_int16(root / "_background_noise_" / "running_tap.wav", rng.normal(0.0, 0.05, 3 * SR))
    (root / "validation_list.txt").write_text("no/ffd2ba2f_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("")
    (root / "LICENSE").write_text("CC-BY-4.0\n")
    return root


# --- the synthetic set on disk ------------------------------------------------------------


def test_synthetic_set_is_written_in_the_official_layout(synthetic):
    root = synthetic.root
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["_background_noise_", "no", "up", "yes"]
    speakers = sorted(speaker_id(v, r, 50) for v in VOICES for r in (150, 190))
    for word in WORDS:
        names = sorted(p.name for p in (root / word).iterdir())
        assert names == sorted(f"{s}_nohash_0.wav" for s in speakers)
        assert all(FILE_RE.match(n) for n in names)
    validation = (root / "validation_list.txt").read_text().split()
    testing = (root / "testing_list.txt").read_text().split()
    assert len(validation) == len(testing) == len(WORDS)  # one speaker each, all its words
    assert all((root / rel).is_file() for rel in validation + testing)
    assert len({rel.split("/")[1] for rel in validation}) == 1
    assert not {r.split("/")[1] for r in validation} & {r.split("/")[1] for r in testing}
    record = json.loads((root / "synthesis.json").read_text())
    assert record["complete"] is True and len(record["files"]) == 12
    assert record["speakers"][speakers[0]].items() >= {"rate": 150, "pitch": 50}.items()


def test_clips_are_one_second_of_16k_mono(synthetic):
    for example in synthetic:
        info = sf.info(str(example.path))
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, SR)
    audio = synthetic[0].audio
    assert audio.dtype == np.float32 and audio.shape == (SR,)


def test_examples_carry_word_speaker_settings_split_and_a_tight_span(synthetic):
    assert len(synthetic) == 12 and synthetic.synthetic
    lists = {s: set((synthetic.root / f"{s}_list.txt").read_text().split()) for s in ("validation", "testing")}
    for example in synthetic:
        assert isinstance(example, SpeechCommandsExample)
        assert example.path.parent.name == example.word == example.text
        assert example.speaker == speaker_id(example.voice, example.rate, example.pitch)
        assert example.voice in VOICES and example.rate in (150, 190) and example.pitch == 50
        expected = next((s for s, listed in lists.items() if example.relative_path in listed), "train")
        assert example.split == expected
        assert example.dataset is synthetic and example.sample_rate == SR
        (span,) = example.words
        assert span.word == example.word and 0.0 <= span.start_s < span.end_s <= 1.0
        audio = example.audio
        inside = audio[int(span.start_s * SR) : int(np.ceil(span.end_s * SR))]
        assert (inside**2).sum() / (audio**2).sum() > 0.999
        assert span.duration_s < 0.7  # the word, not the whole clip
        # the recorded span agrees with an energy estimate of the same clip
        estimate = estimate_word_span(audio, example.word)
        assert abs(estimate.start_s - span.start_s) < 0.03 and abs(estimate.end_s - span.end_s) < 0.06


def test_word_onsets_are_seeded_and_vary_between_clips(synthetic):
    starts = [e.words[0].start_s for e in synthetic]
    assert len({round(s, 3) for s in starts}) > 6


def test_a_clip_depends_only_on_seed_and_path(synthetic, tmp_path):
    small = synthesize_speech_commands(
        tmp_path / "small", words=("up",), voices=["en+f2"], rates=(190,), pitches=(50,),
        validation_fraction=0, testing_fraction=0,
    )  # fmt: skip
    (example,) = small
    twin = synthetic.find("up", example.speaker)
    # samples, not bytes: libsndfile stamps the time into float WAVs' PEAK chunk
    assert np.array_equal(example.audio, twin.audio)
    assert example.words == twin.words


def test_to_utterance_holds_the_clip(synthetic):
    example = synthetic[3]
    utt = example.to_utterance()
    assert isinstance(utt, Utterance)
    assert np.array_equal(utt.audio, example.audio)
    assert (utt.text, utt.speaker, utt.voice) == (example.word, example.speaker, example.voice)
    assert utt.words == example.words
    assert example.word_span().word == example.word


# --- filters, lookup, indexing ------------------------------------------------------------


def test_filters_by_word_and_split(synthetic):
    root = synthetic.root
    yes = SpeechCommands(root, words=["yes"])
    assert len(yes) == 4 and {e.word for e in yes} == {"yes"}
    assert len(SpeechCommands(root, words="yes")) == 4
    validation = SpeechCommands(root, split="validation")
    assert len(validation) == 3 and {e.split for e in validation} == {"validation"}
    assert len(validation.speakers()) == 1
    both = SpeechCommands(root, words=["no", "up"], split="train")
    assert len(both) == 4 and {e.word for e in both} == {"no", "up"}
    assert both.words_available() == ["no", "up", "yes"]
    assert synthetic.speakers() == sorted(speaker_id(v, r, 50) for v in VOICES for r in (150, 190))


def test_unknown_word_and_bad_split_raise_typed_errors_with_close_names(synthetic):
    with pytest.raises(UnknownNameError, match=r"unknown word 'yse'; did you mean 'yes'") as info:
        SpeechCommands(synthetic.root, words=["yes", "yse"])
    assert isinstance(info.value, KeyError)
    with pytest.raises(ConfigError, match=r"split \('test'\) must be one of .*did you mean 'testing'"):
        SpeechCommands(synthetic.root, split="test")


def test_find_returns_the_same_speaker_saying_another_word(synthetic):
    only_yes = SpeechCommands(synthetic.root, words=["yes"])
    example = only_yes[0]
    other = only_yes.find("no", example.speaker)  # found beyond the filtered view
    assert other is not None and other.word == "no" and other.speaker == example.speaker
    assert other.path.name == example.path.name
    assert only_yes.find("no", "nobody") is None
    assert only_yes.find("no", example.speaker, n=1) is None


def test_indexing_is_a_sequence(synthetic):
    items = list(synthetic)
    assert synthetic[-1] is items[-1] and synthetic[np.int64(2)] is items[2]
    assert synthetic[1:3] == items[1:3]
    with pytest.raises(IndexError):
        synthetic[len(synthetic)]


def test_background_noise_is_seeded_white_pink_and_brown(synthetic):
    noise = dict(synthetic.background_noise())
    assert sorted(noise) == ["brown_noise", "pink_noise", "white_noise"]

    def low_to_high_db(audio):
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / SR)
        return 10 * np.log10(power[(freqs > 50) & (freqs < 200)].mean() / power[(freqs > 4000) & (freqs < 7000)].mean())

    for name, audio in noise.items():
        assert audio.dtype == np.float32 and audio.shape == (5 * SR,)
        assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.1, rel=1e-3)
    assert abs(low_to_high_db(noise["white_noise"])) < 1.5  # flat
    assert 10 < low_to_high_db(noise["pink_noise"]) < 20  # 1/f: ~14 dB over this range
    assert low_to_high_db(noise["brown_noise"]) > 2 * low_to_high_db(noise["pink_noise"]) - 3


# --- re-running ---------------------------------------------------------------------------


def test_rerun_on_a_complete_set_does_no_work(synthetic):
    clip = synthetic[0].path
    sidecar = synthetic.root / "synthesis.json"
    before = (clip.stat().st_mtime_ns, sidecar.stat().st_mtime_ns)
    again = synthesize_speech_commands(synthetic.root, **SETTINGS)
    assert (clip.stat().st_mtime_ns, sidecar.stat().st_mtime_ns) == before
    assert len(again) == len(synthetic)


def test_rerun_with_other_settings_or_into_a_foreign_folder_raises(synthetic, recorded):
    with pytest.raises(DatasetError, match=r"other settings \(rates: \[150, 190\] there, \[150\] asked\)"):
        synthesize_speech_commands(synthetic.root, **{**SETTINGS, "rates": (150,)})
    with pytest.raises(DatasetError, match="is not empty and has no synthesis.json"):
        synthesize_speech_commands(recorded, words=("yes",), voices=["en-us"])


def test_an_interrupted_set_is_refused_by_the_reader_and_finished_by_a_rerun(synthetic, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synthetic.root, root)
    record = json.loads((root / "synthesis.json").read_text())
    (root / "synthesis.json").write_text(json.dumps({**record, "complete": False}))
    lost = root / "up" / synthetic.find("up", synthetic.speakers()[0]).path.name
    original = sf.read(str(lost), dtype="float32")[0]
    lost.unlink()
    with pytest.raises(DatasetError, match="incomplete"):
        SpeechCommands(root)
    finished = synthesize_speech_commands(root, **SETTINGS)
    assert len(finished) == 12 and np.array_equal(sf.read(str(lost), dtype="float32")[0], original)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"words": ()}, ConfigError, r"words \(\[\]\) is empty"),
        ({"words": ("turn on",)}, ConfigError, r"word \('turn on'\) must be one word"),
        ({"words": ("_background",)}, ConfigError, "not starting with '_'"),
        ({"words": ("yes", "yes")}, ConfigError, "words lists 'yes' twice"),
        ({"voices": ["en-usa"]}, UnknownNameError, "did you mean 'en-us'"),
        ({"rates": (20,)}, ConfigError, r"rate \(20\) must be between 80 and 450"),
        ({"duration_s": 0.0}, ConfigError, r"duration_s \(0.0\) must be between 0.1 and 30"),
        ({"seed": -1}, ConfigError, r"seed \(-1\) must be a non-negative integer"),
        ({"validation_fraction": 1.5}, ConfigError, r"validation_fraction \(1.5\) must be a fraction"),
        ({"validation_fraction": 0.5, "testing_fraction": 0.5}, ConfigError, "leave no training speaker among 2"),
        ({"duration_s": 0.2, "rates": (80,)}, ConfigError, r"'yes' by voice 'en-us' at rate 80 lasts"),
    ],
)
def test_bad_synthesis_arguments_raise_typed_errors(tmp_path, kwargs, error, message):
    args = {"words": ("yes",), "voices": ["en-us", "en+f2"], "rates": (150,), "pitches": (50,),
            "validation_fraction": 0, "testing_fraction": 0, **kwargs}  # fmt: skip
    with pytest.raises(error, match=message):
        synthesize_speech_commands(tmp_path / "out", **args)


# --- a recorded set in the real layout ----------------------------------------------------


def test_recorded_layout_is_read_with_estimated_spans(recorded):
    data = SpeechCommands(recorded)
    assert not data.synthetic and len(data) == 4
    assert data.words_available() == ["no", "yes"]
    assert data.speakers() == ["0a7c2a8d", "ffd2ba2f"]
    assert [e.split for e in data if e.speaker == "ffd2ba2f"] == ["validation"]
    assert {e.split for e in data if e.speaker == "0a7c2a8d"} == {"train"}
    for example in data:
        assert (example.voice, example.rate, example.pitch) == (None, None, None)
        assert example.audio.dtype == np.float32 and example.audio.shape == (SR,)
        (span,) = example.words
        assert span.word == example.word
        assert span.start_s == pytest.approx(0.30, abs=0.006) and span.end_s == pytest.approx(0.60, abs=0.006)
    assert data.find("yes", "0a7c2a8d").n == 0 and data.find("yes", "0a7c2a8d", n=1).n == 1
    ((name, noise),) = data.background_noise()
    assert name == "running_tap" and noise.shape == (3 * SR,) and noise.dtype == np.float32


def test_estimated_span_of_silence_is_the_whole_clip():
    span = estimate_word_span(np.zeros(SR, dtype=np.float32), "yes")
    assert (span.start_s, span.end_s) == (0.0, 1.0)


def _no_lists(root):
    (root / "validation_list.txt").unlink()


def _bad_name(root):
    _write_int16(root / "yes" / "hello.wav", np.zeros(SR))


def _empty_folders(root):
    shutil.rmtree(root / "yes"), shutil.rmtree(root / "no")
    (root / "yes").mkdir()


def _in_two_lists(root):
    (root / "testing_list.txt").write_text("no/ffd2ba2f_nohash_0.wav\n")


def _broken_record(root):
    (root / "synthesis.json").write_text("{not json")


def _foreign_record(root):
    (root / "synthesis.json").write_text('{"format": "something else"}')


def _no_noise(root):
    shutil.rmtree(root / "_background_noise_")


@pytest.mark.parametrize(
    "breakage, message",
    [
        (_no_lists, "has no validation_list.txt"),
        (_bad_name, r"hello.wav' is not named '<speaker>_nohash_<n>.wav'"),
        (_empty_folders, r"has folders \('yes'\) but no .wav files"),
        (_in_two_lists, "in both validation_list.txt and testing_list.txt"),
        (_broken_record, "cannot read synthesis record"),
        (_foreign_record, "is not a SpeechLens synthesis record"),
    ],
)
def test_broken_layouts_raise_dataset_error_saying_what_is_wrong(recorded, breakage, message):
    breakage(recorded)
    with pytest.raises(DatasetError, match=message) as info:
        SpeechCommands(recorded)
    assert isinstance(info.value, ValueError)


def test_missing_root_file_root_and_empty_root_raise_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        SpeechCommands(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        SpeechCommands(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="has no word folders"):
        SpeechCommands(tmp_path / "empty")


def test_missing_background_noise_raises_dataset_error(recorded):
    _no_noise(recorded)
    data = SpeechCommands(recorded)  # the clips still read
    with pytest.raises(DatasetError, match="has no _background_noise_/ folder"):
        data.background_noise()
