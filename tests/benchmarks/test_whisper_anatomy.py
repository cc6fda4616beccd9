"""benchmarks/whisper_anatomy.py: one --quick run on the real whisper-tiny.en, its report, invariants, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

import intervene
from benchmarks import whisper_anatomy as wa
from benchmarks.anatomy import claims
from tasks.errors import ConfigError

QUICK = ["--quick", "--no-progress", "--device", "cpu"]
MODEL = "whisper-tiny.en"
SECTIONS = ["window", "splice", "encoder_lens", "alignment", "logit_lens", "steering"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("whisper_anatomy")
    return out, wa.main(QUICK + ["--out", str(out)])


def _model(results):
    return results["models"][MODEL]


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_results_structure(quick_run):
    out, results = quick_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["benchmark"] == "whisper_anatomy" and on_disk["settings"] == results["settings"]
    assert on_disk["settings_digest"] == wa.WhisperAnatomySettings.from_dict(on_disk["settings"]).digest()
    assert len(on_disk["clips"]) == 1 and on_disk["clips"][0]["voice"] == "en-us"
    m = _model(on_disk)
    assert list(m["sections"]) == SECTIONS
    for name, s in m["sections"].items():
        assert s["claim"] and s["source"] and s["figure"], name
        assert s["agrees"] in (True, False, None), name
    assert m["shape"] == {"encoder_layers": 4, "decoder_layers": 4, "heads": 6}
    assert m["units_computed"] == m["units"] > 10
    html = (out / "index.html").read_text()
    for title in ("1. Attention window", "4. Alignment heads", "6. Non-speech steering", "Command:"):
        assert title in html
    for png in ("window_whisper-tiny.en.png", "window_heads_whisper-tiny.en.png", "encoder_lens_whisper-tiny.en.png",
                "alignment_heads_whisper-tiny.en.png", "logit_lens_whisper-tiny.en.png", "steering_whisper-tiny.en.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG", png


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_window_all_is_the_plain_transcript(quick_run):
    m = _model(quick_run[1])
    ((_, base),) = m["base"].items()
    window = m["sections"]["window"]
    assert list(window["per_k"]) == ["all", "75", "50"]
    assert window["per_k"]["all"]["texts"] == [base["text"]]  # a window as wide as the encoder restricts nothing
    assert window["per_k"]["all"]["wer"] == pytest.approx(base["wer"])
    assert base["wer"] < 0.3  # tiny.en hears the quick sentence
    heads = window["heads"]
    assert sorted(heads) == [f"0.{h}" for h in range(6)] and list(window["harmless_per_layer"]) == ["0"]
    assert window["harmless_per_layer"]["0"] == sum(r["harmless"] for r in heads.values())
    assert set(window["non_local_heads"]) == {n for n, r in heads.items() if not r["harmless"]}


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_encoder_lens_last_layer_is_the_plain_model(quick_run):
    m = _model(quick_run[1])
    (clip, base), = m["base"].items()
    lens = m["sections"]["encoder_lens"]
    assert lens["layers"] == [-1, 0, 1, 2, 3]
    assert lens["per_clip"][clip]["transcripts"][-1] == base["text"]
    assert lens["mean_wer"][-1] == pytest.approx(base["wer"])
    assert lens["mean_wer"][0] > lens["mean_wer"][-1]


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_splice_alignment_logit_lens_and_steering(quick_run):
    m = _model(quick_run[1])
    ((_, base),) = m["base"].items()
    splice = m["sections"]["splice"]
    assert splice["layer"] == 3 and splice["targets"] == 1 and splice["rows"][0]["status"] in claims_statuses()
    kept_before = sum(w["status"] == "kept" for w in base["words"])
    assert 0 <= splice["others_kept_share"] <= 1 and kept_before >= 1
    align = m["sections"]["alignment"]
    assert np.asarray(align["grid_ms"]).shape == (4, 6)
    assert align["published"] == sorted(["1.0", "2.0", "2.5", "3.0", "3.1", "3.2", "3.3", "3.4"])
    assert len(align["top"]) == 8 and set(align["overlap"]) <= set(align["published"])
    assert align["words"] >= 5
    (unit,) = m["sections"]["logit_lens"]["units"]
    assert unit["word"] == "yes" and len(unit["ranks"]) == len(unit["probs"]) == 5
    assert unit["answer"] == " Yes" and unit["ranks"][-1] == 0 and unit["first_top_layer"] in (-1, 0, 1, 2, 3)
    steering = m["sections"]["steering"]
    rows = {r["alpha"]: r for r in steering["rows"]}
    assert sorted(rows) == [-1.0, 0.0] and steering["site"] == "encoder.3.block_output"
    assert rows[0.0]["speech_wer"] == pytest.approx(base["wer"]) and rows[0.0]["wer_cost"] == 0.0
    assert sorted(rows[0.0]["nonspeech"]) == ["silence", "white_noise"]


def claims_statuses():
    return ("kept", "deleted", "substituted", None)


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_rerun_resumes_without_model_work(quick_run, monkeypatch):
    out, first = quick_run

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run must not load a model")

    monkeypatch.setattr(intervene, "load_model", refuse)
    again = wa.main(QUICK + ["--out", str(out)])
    assert _model(again)["units_computed"] == 0
    assert _model(again)["sections"] == _model(first)["sections"]


@pytest.mark.parametrize("argv,message", [
    (["--ks", "0"], "ks"),
    (["--alphas", "nan"], "alphas"),
    (["--nonspeech", "jazz"], "nonspeech clip 'jazz' is not one of"),
    (["--alphas", "0", "0"], "distinct"),
])  # fmt: skip
def test_bad_settings_are_refused(tmp_path, argv, message):
    with pytest.raises(ConfigError, match=message):
        wa.main(QUICK + ["--out", str(tmp_path)] + argv)


def test_claim_checks_on_made_up_numbers():
    assert claims.repeats("the quick sun, sun, sun, sun") == 3 and claims.repeats("a b a b a b") == 3 and claims.repeats("a b c d") == 0
    assert claims.is_empty(" ... ") and not claims.is_empty("you")

    def unit(text, wer):
        return {"c": {"text": text, "wer": wer, "words": []}}

    windows = {"all": unit("fine", 0.1), "100": unit("fine", 0.15), "75": unit("fine", 0.2),
               "50": unit("a b a b a b", 0.4), "20": unit("frag", 0.8), "10": unit("", 1.0)}  # fmt: skip
    s = claims.window_section(windows, {}, {"c": {"wer": 0.1}}, 10, 0.05, 6)
    assert s["agrees"] is True and len(s["parts"]) == 5
    windows["10"] = unit("I'm not a fan of the world", 0.9)
    s = claims.window_section(windows, {}, {"c": {"wer": 0.1}}, 10, 0.05, 6)
    assert s["agrees"] is False and s["parts"]["+-10 gives an empty transcript (every clip)"] is False
    rates = {"0.0": {"a": "you", "b": "you"}, "-1.0": {"a": "", "b": "you"}}
    speech = {"0.0": {"c": {"wer": 0.1}}, "-1.0": {"c": {"wer": 0.15}}}
    s = claims.steering_section(rates, speech, {"c": {"wer": 0.1}}, "encoder.3.block_output")
    assert s["agrees"] is True and s["best_alpha"] == -1.0
    assert [r["nonspeech_rate"] for r in s["rows"]] == [1.0, 0.5]


# ------------------------------------------------------------------ --data and --executor
TINY = ["--quick", "--no-progress", "--device", "cpu", "--ks", "50", "--head-clips", "0", "--splice-words", "1",
        "--keywords", "yes", "--alphas", "0", "-1", "--nonspeech", "silence", "--max-clips", "1"]  # fmt: skip
"""The smallest run: one dataset clip, k=50, one splice, one keyword, one steering strength on silence."""


def _no_model(*args, **kwargs):
    raise AssertionError("no model may load here")


@pytest.mark.parametrize("spec,error,message", [
    ("nope:/tmp", "UnknownNameError", "nope"),
    ("manifest:/does/not/exist.jsonl", "ConfigError", "does not exist"),
])  # fmt: skip
def test_bad_data_spec_is_refused_before_any_model_loads(tmp_path, monkeypatch, spec, error, message):
    import tasks.errors

    monkeypatch.setattr(intervene, "load_model", _no_model)
    with pytest.raises(getattr(tasks.errors, error), match=message):
        wa.main(TINY + ["--out", str(tmp_path), "--data", spec])


def test_data_is_part_of_the_settings(sentence_manifest):
    plain = wa.WhisperAnatomySettings()
    with_data = wa.WhisperAnatomySettings(data=(f"manifest:{sentence_manifest}",), head_clips=5)
    assert with_data.data == (f"manifest:{sentence_manifest.resolve()}",) and plain.data == ()
    assert with_data.digest() != plain.digest()  # results of other data are never mixed
    with pytest.raises(ConfigError, match="head_clips"):
        wa.WhisperAnatomySettings(head_clips=5)  # without data: at most one clip per voice


def test_data_clips_keep_the_dataset_spans_shifted_by_the_lead(sentence_manifest):
    from benchmarks.anatomy.data import data_speech_clips, with_spans

    spec = f"manifest:{sentence_manifest.resolve()}"
    clips, left_out = data_speech_clips([spec], 2, lead_s=0.3)
    assert len(clips) == 2 and not left_out
    c = clips[0]
    assert c.spans == "dataset" and c.spec == spec and c.voice == "alice" and c.text == "turn the lights off"
    assert [w.word for w in c.utterance.words] == ["turn", "the", "lights", "off"]
    import json

    first = json.loads(sentence_manifest.read_text().splitlines()[0])
    assert c.utterance.words[0].start_s == pytest.approx(first["words"][0][1] + 0.3, abs=1e-4)
    assert c.utterance.duration_s == pytest.approx(c.duration_s) and np.all(c.utterance.audio[:4800] == 0)
    assert c.key.startswith("data-") and c.key.endswith("/alice_0.wav")
    moved = with_spans(c, [["turn", 0.4, 0.6]])
    assert moved.spans == "aligner" and moved.utterance.words[0].start_s == 0.4 and c.utterance.words[0].word == "turn"


@pytest.mark.slow  # one dataset clip through every section (about 100 s on a loaded 2-core machine)
def test_data_run_scores_the_recording_and_resumes(sentence_manifest, tmp_path, monkeypatch):
    out = tmp_path / "data"
    first = wa.main(TINY + ["--out", str(out), "--data", f"manifest:{sentence_manifest}"])
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["data"]["kind"] == "data" and on_disk["data"]["clips_used"] == 1
    assert on_disk["data"]["per_spec"] == {f"manifest:{sentence_manifest.resolve()}": {"clips": 1, "speakers": 1}}
    assert [c["voice"] for c in on_disk["clips"]] == ["alice"] and on_disk["clips"][0]["text"] == "turn the lights off"
    m = _model(on_disk)
    (key, base), = m["base"].items()
    assert m["spans"] == {key: "dataset"} and np.isfinite(base["wer"]) and base["wer"] <= 0.25
    assert m["sections"]["alignment"]["words"] == 4  # the manifest's own spans grade the heads
    assert np.all(np.isfinite(m["sections"]["encoder_lens"]["mean_wer"]))
    assert m["units_computed"] == m["units"] == 12
    monkeypatch.setattr(intervene, "load_model", _no_model)
    again = wa.main(TINY + ["--out", str(out), "--data", f"manifest:{sentence_manifest}"])
    assert _model(again)["units_computed"] == 0 and _model(again)["sections"] == _model(first)["sections"]
