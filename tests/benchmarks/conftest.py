"""The benchmark scripts' runs in these tests share the session's whisper-tiny.en.

Each script loads its model with :func:`intervene.load_model`; here that returns the session
fixture's model for ``whisper-tiny.en`` on the CPU (a load costs as much as ~25 forward passes,
and the scripts' tests start ten runs). Other names and devices load as usual; tests that count
or refuse loads patch ``intervene.load_model`` over this. Module-scoped, so the module-scoped
``quick_run`` fixtures get it too, and it ends with each module.
"""

from __future__ import annotations

import pytest

import intervene


@pytest.fixture(scope="module", autouse=True)
def _share_tiny_en(request):
    real = intervene.load_model
    loading = []  # the tiny_en fixture itself loads through intervene.load_model

    def load_model(name, *args, device=None, **kwargs):
        if name == "whisper-tiny.en" and not args and not kwargs and device in (None, "cpu") and not loading:
            loading.append(True)
            try:
                return request.getfixturevalue("tiny_en")
            finally:
                loading.clear()
        return real(name, *args, device=device, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(intervene, "load_model", load_model)
        yield


# ------------------------------------------------------------------ small datasets for --data
@pytest.fixture(scope="session")
def sc_root(tmp_path_factory):
    """A synthetic Speech Commands folder: yes / no / up by two speakers (6 clips), for ``--data speech_commands:``."""
    import tasks

    root = tmp_path_factory.mktemp("sc")
    tasks.synthesize_speech_commands(root, words=("yes", "no", "up"), voices=["en-us", "en+f2"], rates=(175,),
                                     pitches=(50,), validation_fraction=0, testing_fraction=0)  # fmt: skip
    return root


@pytest.fixture(scope="session")
def sc4(tmp_path_factory):
    """A synthetic Speech Commands folder: yes / no by four speakers (two female), 8 clips."""
    import tasks

    root = tmp_path_factory.mktemp("sc4")
    tasks.synthesize_speech_commands(root, words=("yes", "no"), voices=["en-us", "en+f2", "en-gb-x-rp", "en-us+f3"],
                                     rates=(175,), pitches=(50,), validation_fraction=0, testing_fraction=0)  # fmt: skip
    return root


SENTENCES = ("turn the lights off", "open the red door", "please call stella tomorrow")


@pytest.fixture(scope="session")
def sentence_manifest(tmp_path_factory):
    """A manifest of 6 synthesised "recordings" (3 sentences x 2 voices) with their word spans,
    for ``--data manifest:`` (no aligner needed)."""
    import json

    import soundfile as sf

    import tasks

    root = tmp_path_factory.mktemp("sentences")
    rows = []
    for speaker, voice in (("alice", "en-us"), ("bob", "en+f2")):
        for i, text in enumerate(SENTENCES):
            utt = tasks.speak(text, voice=voice, rate=170)
            utt = utt.padded(utt.duration_s + 0.4, onset_s=0.2)
            path = root / f"{speaker}_{i}.wav"
            sf.write(str(path), utt.audio, 16000)
            rows.append({"path": path.name, "text": text, "speaker": speaker,
                         "words": [[w.word, w.start_s, w.end_s] for w in utt.words]})  # fmt: skip
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return manifest
