"""benchmarks/keyword_accuracy.py: the --quick run on the real whisper-tiny.en, its report and resume."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import intervene
import tasks
from benchmarks import keyword_accuracy as ka
from benchmarks.common import REPO_ROOT
from tasks.errors import ConfigError

QUICK_VOICES = ["en-us"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run (10 clips on tiny.en), shared by the tests of this module."""
    out = tmp_path_factory.mktemp("keyword_accuracy")
    outcome = ka.main(["--quick", "--out", str(out), "--no-progress", "--device", "cpu"])
    return out, outcome


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_quick_results_structure_and_numbers(quick_run):
    out, outcome = quick_run
    results = _results(out)
    assert outcome.computed == {"whisper-tiny.en": 10} and outcome.reused == {"whisper-tiny.en": 0}
    assert list(results["models"]) == ["whisper-tiny.en"]
    assert results["settings"]["voices"] == QUICK_VOICES and results["data"]["n_clips"] == 10
    assert results["settings_digest"] == ka.KeywordAccuracySettings.from_dict(results["settings"]).digest()
    m = results["models"]["whisper-tiny.en"]
    words = list(tasks.SPEECH_COMMANDS_CORE)
    confusion = np.array(m["confusion"])
    assert m["words"] == words and confusion.shape == (10, 10)
    assert m["n"] == 10 and confusion.sum() == 10 and (confusion.sum(axis=1) == 1).all()
    assert 0.0 <= m["accuracy"] <= 1.0 and m["accuracy"] == pytest.approx(np.trace(confusion) / 10)
    assert m["correct"] == np.trace(confusion)
    low, high = m["accuracy_ci95"]
    assert 0.0 <= low < m["accuracy"] < high <= 1.0 or m["accuracy"] in (0.0, 1.0)
    assert m["accuracy"] >= 0.7, m["per_word_accuracy"]  # tiny.en gets ~0.9 on these voices
    for i, w in enumerate(words):
        assert m["per_word_accuracy"][w] == pytest.approx(confusion[i, i] / 1)
    assert list(m["per_voice_accuracy"]) == QUICK_VOICES
    assert all(v["n"] == 10 for v in m["per_voice_accuracy"].values())
    assert m["per_rate_accuracy"] == {"150": {"accuracy": m["accuracy"], "n": 10}}
    per_voice_mean = np.mean([v["accuracy"] for v in m["per_voice_accuracy"].values()])
    assert per_voice_mean == pytest.approx(m["accuracy"])
    assert len(m["clips"]) == 10
    for clip in m["clips"]:
        assert set(clip["scores"]) == set(words)
        assert clip["predicted"] == max(clip["scores"], key=clip["scores"].get)
        assert all(s <= 0 for s in clip["scores"].values())  # log-probabilities
    assert sum(c["predicted"] == c["word"] for c in m["clips"]) == m["correct"]
    assert all(m["per_word_accuracy"][w] <= m["per_word_accuracy"][v]
               for w in m["worst_words"] for v in words if v not in m["worst_words"])  # fmt: skip


def test_report_references_existing_files(quick_run):
    out, _ = quick_run
    page = (out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    images = [s for s in sources if s.endswith(".png")]
    assert "confusion-whisper-tiny.en.png" in images and "per-voice.png" in images
    for src in sources:
        assert not src.startswith(("/", "http")) and (out / src).is_file(), src
    for png in images:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    model = _results(out)["models"]["whisper-tiny.en"]
    errors = len(model["clips"]) - model["correct"]
    assert len([s for s in sources if s.endswith(".wav")]) == min(errors, 4)  # --audio-examples default
    assert "Zero-shot keyword accuracy" in page and "<td>down</td>" in page


def test_scores_match_keyword_task_evaluate(quick_run, tiny_en):
    """The per-clip path gives what KeywordTask.evaluate gives on the same clips."""
    out, _ = quick_run
    data = tasks.SpeechCommands(_results(out)["data"]["root"])
    clips = {c["key"]: c for c in _results(out)["models"]["whisper-tiny.en"]["clips"]}
    examples = [data[0], data[len(data) // 2], data[-1]]
    task = tasks.KeywordTask()
    evaluation = task.evaluate(tiny_en, examples)
    expected = np.zeros((10, 10), dtype=int)
    for ex in examples:
        clip = clips[f"{ex.word}/{ex.path.stem}"]
        expected[task.words.index(clip["word"]), task.words.index(clip["predicted"])] += 1
    assert (evaluation.confusion == expected).all()
    scores = task.scores(tiny_en, examples[0].audio)
    for word, value in clips[f"{examples[0].word}/{examples[0].path.stem}"]["scores"].items():
        assert value == pytest.approx(scores[word], abs=1e-4)


def test_second_run_does_no_model_work(quick_run, monkeypatch):
    out, _ = quick_run
    before = (out / "results.json").read_bytes()
    work = {p: p.stat().st_mtime_ns for p in (out / "work").rglob("*.json")}

    def no_model(*args, **kwargs):
        raise AssertionError("a resumed run must not load a model")

    monkeypatch.setattr(intervene, "load_model", no_model)
    outcome = ka.main(["--quick", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert outcome.computed == {"whisper-tiny.en": 0} and outcome.reused == {"whisper-tiny.en": 10}
    assert (out / "results.json").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "work").rglob("*.json")} == work


def test_killed_run_resumes_only_missing_clips(quick_run, tmp_path, monkeypatch):
    """Deleting two finished units (as if the run died before them) recomputes exactly those two."""
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    gone = sorted((copy / "work" / "whisper-tiny.en").rglob("*.json"))[:2]
    for path in gone:
        path.unlink()
    (copy / "results.json").unlink()  # the run died before the report
    loads = []
    real = intervene.load_model
    monkeypatch.setattr(intervene, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    outcome = ka.main(["--quick", "--out", str(copy), "--no-progress", "--device", "cpu"])
    assert outcome.computed == {"whisper-tiny.en": 2} and len(loads) == 1 and all(p.is_file() for p in gone)
    a, b = _results(out)["models"], _results(copy)["models"]
    assert a["whisper-tiny.en"]["confusion"] == b["whisper-tiny.en"]["confusion"]
    for ca, cb in zip(a["whisper-tiny.en"]["clips"], b["whisper-tiny.en"]["clips"]):
        assert ca["predicted"] == cb["predicted"]
        assert ca["scores"] == pytest.approx(cb["scores"], abs=1e-5)


def test_changed_settings_into_same_folder_raise(quick_run):
    out, _ = quick_run
    with pytest.raises(ConfigError, match=r"other settings \(words: .* there, \['yes', 'no'\] now\)"):
        ka.main(["--quick", "--out", str(out), "--no-progress", "--words", "yes", "no"])


def test_speech_commands_folder_with_split_and_limit(quick_run, tmp_path):
    """--data reads a folder in the official layout (here the quick run's synthetic set)."""
    out, _ = quick_run
    folder = _results(out)["data"]["root"]
    with pytest.raises(ConfigError, match="no clips of the words"):  # every synthetic speaker is in 'train'
        ka.main(["--quick", "--out", str(tmp_path / "t"), "--no-progress", "--data", folder])
    outcome = ka.main(["--quick", "--out", str(tmp_path / "a"), "--no-progress", "--device", "cpu", "--data", folder,
                       "--split", "all", "--words", "yes", "no", "--max-per-word", "1", "--audio-examples", "0"])  # fmt: skip
    results = _results(tmp_path / "a")
    assert results["data"] == {"kind": "folder", "root": folder, "split": "all", "n_clips": 2,
                               "spec": f"speech_commands:{folder}"}  # fmt: skip
    m = results["models"]["whisper-tiny.en"]
    assert outcome.computed == {"whisper-tiny.en": 2} and m["n"] == 2 and np.sum(m["confusion"]) == 2
    assert sorted(c["key"].split("/")[0] for c in m["clips"]) == ["no", "yes"]  # one clip of each word
    first = {c["key"]: c["scores"] for c in _results(out)["models"]["whisper-tiny.en"]["clips"]}
    for clip in m["clips"]:  # same clip, same per-word log-probabilities, whatever the other label words
        assert set(clip["scores"]) == {"yes", "no"}
        assert clip["scores"] == pytest.approx({w: first[clip["key"]][w] for w in ("yes", "no")}, abs=1e-5)
    assert "<audio" not in (tmp_path / "a" / "index.html").read_text()


def test_settings_validation(tmp_path):
    with pytest.raises(ConfigError, match="applies to speech_commands --data folders"):
        ka.KeywordAccuracySettings(split="testing")
    with pytest.raises(ConfigError, match="rates .* must be one or more whole numbers"):
        ka.KeywordAccuracySettings(rates=("fast",))
    with pytest.raises(ConfigError, match="lists a value twice"):
        ka.KeywordAccuracySettings(models=("whisper-base", "whisper-base"))
    s = ka.KeywordAccuracySettings(data=str(tmp_path))
    assert s.split == "testing" and s.voices == tuple(tasks.voices()) and s.data == f"speech_commands:{tmp_path}"
    with pytest.raises(ConfigError, match="does not exist"):
        ka.KeywordAccuracySettings(data=f"folder:{tmp_path / 'missing'}")
    assert ka.KeywordAccuracySettings.from_dict(s.to_dict()) == s


def test_cli_as_a_file_reports_config_errors(tmp_path):
    """Run as a file from another folder: `benchmarks` comes from the installed package (no sys.path
    hack in the scripts), and a config error is one line with exit status 2."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("modles: [whisper-base]\n")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "keyword_accuracy.py"), "--config", str(cfg), "--out",
         str(tmp_path / "o")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "keyword_accuracy: error: unknown key 'modles'" in proc.stderr and "did you mean 'models'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_scripts_import_benchmarks_as_a_package():
    for path in (REPO_ROOT / "benchmarks").rglob("*.py"):
        assert "sys.path" not in path.read_text(), path
    for entry in ("patching_heatmaps", "corruption_ablation", "keyword_accuracy", "perf"):
        assert (REPO_ROOT / "benchmarks" / f"{entry}.py").is_file()
        assert not (REPO_ROOT / "benchmarks" / entry).exists()  # a folder of the same name would shadow the script


def test_any_dataset_of_one_word_clips(quick_run, tmp_path):
    """--data folder:... : clips whose transcript is a label word are scored like the synthetic ones;
    the others are skipped and counted."""
    import shutil

    out, _ = quick_run
    clips = _results(out)["models"]["whisper-tiny.en"]["clips"]
    root = Path(_results(out)["data"]["root"])
    folder = tmp_path / "recordings"
    folder.mkdir()
    for clip in clips[:2]:
        word, stem = clip["key"].split("/")
        shutil.copy(root / word / f"{stem}.wav", folder / f"{stem}-{word}.wav")
        (folder / f"{stem}-{word}.txt").write_text(word.upper() + ".\n")
    shutil.copy(root / word / f"{stem}.wav", folder / "sentence.wav")
    (folder / "sentence.txt").write_text("this is not one word")
    ka.main(["--quick", "--out", str(tmp_path / "f"), "--no-progress", "--device", "cpu", "--data", f"folder:{folder}",
             "--audio-examples", "0"])  # fmt: skip
    results = _results(tmp_path / "f")
    assert results["data"]["skipped_not_a_label_word"] == 1 and results["data"]["n_clips"] == 2
    got = {c["word"]: c["scores"] for c in results["models"]["whisper-tiny.en"]["clips"]}
    for clip in clips[:2]:
        assert got[clip["word"]] == pytest.approx(clip["scores"], abs=1e-5)
