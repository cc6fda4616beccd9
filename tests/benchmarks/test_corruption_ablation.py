"""benchmarks/corruption_ablation.py: metric helpers on synthetic arrays, then the --quick run on
the real whisper-tiny.en (its numbers, report and resume)."""

from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest

import intervene
import tasks
from benchmarks import corruption_ablation as ca
from benchmarks.ablation import metrics as am
from benchmarks.ablation import work
from benchmarks.ablation.summary import MIN_COVERAGE, advice, rank_designs
from benchmarks.common import parse_settings, run_cli
from corruptions import MinimalPair
from tasks.errors import ConfigError, UnknownNameError

QUICK = ["--quick", "--no-progress", "--device", "cpu"]


# --------------------------------------------------------------------------- helpers, synthetic
def test_span_share_inside_outside_and_margin():
    starts = np.arange(10) * 0.1
    ends = starts + 0.1
    inside = np.zeros((4, 10))
    inside[:, 3:6] = np.arange(12).reshape(4, 3) - 5.0  # signed values: |effect| counts
    assert am.span_share(inside, starts, ends, [(0.3, 0.6)]) == 1.0
    assert am.span_share(inside, starts, ends, [(0.7, 0.9)]) == 0.0
    assert np.isnan(am.span_share(np.zeros((4, 10)), starts, ends, [(0.3, 0.6)]))
    half = np.zeros((1, 10))
    half[0, [4, 8]] = [1.0, -1.0]
    assert am.span_share(half, starts, ends, [(0.4, 0.5)]) == 0.5
    assert am.span_share(half, starts, ends, [(0.4, 0.5)], margin_s=0.1) == 0.5  # window 8 still outside
    assert am.span_share(half, starts, ends, [(0.4, 0.5)], margin_s=0.35) == 1.0
    with pytest.raises(ConfigError, match="windows"):
        am.span_share(half, starts[:5], ends[:5], [(0.4, 0.5)])


def test_windows_touching_a_span_edge_are_outside():
    mask = am.windows_in_spans([0.0, 0.1, 0.2], [0.1, 0.2, 0.3], [(0.1, 0.2)])
    assert mask.tolist() == [False, True, False]
    assert am.frames_in_spans(50, 0.02, [(0.3, 0.685)]).sum() == 20  # frames 15..34
    assert np.flatnonzero(am.frames_in_spans(50, 0.02, [(0.3, 0.685)]))[[0, -1]].tolist() == [15, 34]
    assert not am.frames_in_spans(50, 0.02, []).any()


def test_mahalanobis_of_reference_samples_is_chi_distributed(rng):
    dims, n = 6, 40000
    scales = np.array([0.5, 1.0, 2.0, 4.0, 1.0, 3.0])
    mixing = np.eye(dims) + 0.5 * np.eye(dims, k=1)  # correlated dimensions
    x = (rng.normal(size=(n, dims)) * scales) @ mixing + 7.0
    ref = am.fit_reference(x)
    assert ref.n_samples == n and 0.0 <= ref.shrinkage < 0.01  # many samples: almost no shrinkage
    d = am.mahalanobis(x, ref, "ledoit_wolf")
    assert np.mean(d**2) == pytest.approx(dims, rel=0.02)  # chi-square with `dims` degrees of freedom
    z = am.zscore(d, d)
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)
    diag = am.mahalanobis(x, ref, "diag")
    assert np.mean(diag**2) == pytest.approx(dims, rel=1e-6)  # standardised dims: exactly dims on average
    shifted = x[:1000] + 5.0 * scales @ mixing
    assert am.mahalanobis(shifted, ref).mean() > 2 * d.mean()
    assert am.zscore(am.mahalanobis(shifted, ref), d).mean() > 3.0
    with pytest.raises(ConfigError, match="kind"):
        am.mahalanobis(x[:2], ref, "euclid")
    with pytest.raises(ConfigError, match="dims"):
        am.mahalanobis(x[:2, :3], ref)


def test_ledoit_wolf_shrinks_when_samples_are_few(rng):
    x = rng.normal(size=(20, 50))  # fewer samples than dims: the sample covariance is singular
    cov, shrinkage = am.ledoit_wolf(x)
    assert 0.3 < shrinkage <= 1.0
    assert np.linalg.eigvalsh(cov).min() > 0
    assert np.linalg.eigvalsh(np.cov(x.T, bias=True)).min() < 1e-10
    scales = np.array([0.5, 1.0, 3.0])
    many, s_many = am.ledoit_wolf(rng.normal(size=(20000, 3)) * scales)
    assert s_many < 0.01 and np.allclose(many, np.diag(scales**2), atol=0.1)  # enough samples: the sample covariance
    _, s_iso = am.ledoit_wolf(rng.normal(size=(200, 3)))
    assert s_iso > 0.5  # the truth is the shrinkage target itself


def test_spearman_and_agreement_matrix():
    a = np.arange(12.0).reshape(3, 4)
    assert am.spearman(a, a**3) == pytest.approx(1.0)
    assert am.spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(am.spearman(a, np.ones_like(a)))
    b = a.copy()
    b[0, 0] = np.nan  # ignored, not propagated
    assert am.spearman(a, b) == pytest.approx(1.0)
    maps = {"x": {"c1": a, "c2": a}, "y": {"c1": a**2, "c2": -a}, "z": {}}
    m, n = am.agreement_matrix(maps, ["x", "y", "z"])
    assert m[0, 1] == m[1, 0] == pytest.approx(0.0)  # mean of +1 and -1
    assert m[0, 0] == m[1, 1] == 1.0 and np.isnan(m[2, 2]) and np.isnan(m[0, 2])
    assert n[0, 1] == 2 and n[2, 2] == 0


def _summary(label, **values):
    base = {"label": label, "kind": "noise", "corruption": {"kind": "noise"}, "coverage": 1.0, "n_clips": 4,
            "no_effect": 0, "flips": 2, "flip_rate": 0.5, "logodds_drop": 5.0, "offdist_mean": 1.2,
            "localisation_word": 0.8, "chance_word": 0.5, "chance_changed": 0.5, "agreement_mean": 0.5,
            "heard_as": {"yes": 4}, "offdist": {"ledoit_wolf": {"ratio": [1.2]}}}  # fmt: skip
    base.update(values)
    return base


def test_ranking_and_advice_follow_the_numbers():
    summaries = {
        "a": _summary("a", localisation_word=0.95, offdist_mean=2.5),
        "b": _summary("b", kind="word_swap", flip_rate=1.0, offdist_mean=1.01, logodds_drop=12.0,
                      offdist={"ledoit_wolf": {"ratio": [1.0]}}),
        "c": _summary("c", kind="bandstop", coverage=MIN_COVERAGE / 2, no_effect=3, localisation_word=1.0, offdist_mean=1.0),
    }  # fmt: skip
    ranking = rank_designs(summaries)
    assert [r["label"] for r in ranking][-1] == "c" and not ranking[-1]["usable"]
    assert ranking[0]["label"] == "b" and [r["place"] for r in ranking] == [1, 2, 3]
    agree = {"mean_with_others": {"a": 0.6, "b": 0.2, "c": None}}
    text = advice(summaries, agree)
    assert text[0].startswith("Localising where the word is heard: a (95%")  # c has the best share but is unusable
    assert text[1].startswith("Measuring in-distribution effects: b (") and "1.01x" in text[1]
    assert text[2].startswith("Testing whether a region matters at all (largest effect): b")
    assert text[3].startswith("A map representative of the other designs: a")
    joined = "\n".join(text)
    assert "Too weak on these clips" in joined and "c (3/4)" in joined
    assert "Far off-distribution" in joined and "a (2.50x)" in joined
    assert "Maps unlike the other designs' (mean rho < 0.3): b (0.20)" in joined
    assert "1 of 1 noise designs lie further off-distribution than the word swap" in joined


def test_settings_validation_and_config_designs(tmp_path):
    with pytest.raises(ConfigError, match="core word"):
        ca.CorruptionAblationSettings(clips=("down:en-us", "hello:en-us"))
    with pytest.raises(ConfigError, match="word:voice"):
        ca.CorruptionAblationSettings(clips=("yes",))
    with pytest.raises(UnknownNameError):
        ca.CorruptionAblationSettings(clips=("yes:en-xx-nowhere",))
    with pytest.raises(ConfigError, match="each label once"):
        ca.CorruptionAblationSettings(designs=({"label": "a", "kind": "gap"}, {"label": "a", "kind": "noise"}))
    with pytest.raises(ConfigError, match="design 'loud'.*snr_db"):
        ca.CorruptionAblationSettings(designs=({"label": "loud", "kind": "noise", "snr_db": -90},))
    with pytest.raises(ConfigError, match="did you mean 'word-swap'"):
        ca.CorruptionAblationSettings(only=("word-swapp",))
    with pytest.raises(ConfigError, match=r"window_ms \(30\) must be a multiple of 20 ms"):
        ca.CorruptionAblationSettings(window_ms=30)
    with pytest.raises(ConfigError, match="duration_s.*NaN"):
        ca.CorruptionAblationSettings(duration_s=float("nan"))
    with pytest.raises(ConfigError, match="onset_s"):
        ca.CorruptionAblationSettings(onset_s=1.0)
    with pytest.raises(ConfigError, match=r"seed \(1.5\) must be a whole number"):
        ca.CorruptionAblationSettings(seed=1.5)
    with pytest.raises(ConfigError, match="direction"):
        ca.CorruptionAblationSettings(direction="sideways")
    s = ca.CorruptionAblationSettings()
    assert len(s.selected()) == 12 and s.designs[0]["snr_db"] == 0.0 and s.designs[0]["span"] == "word"
    assert ca.CorruptionAblationSettings.from_dict(s.to_dict()) == s
    assert not set(s.reference_voices) & {c.split(":")[1] for c in s.clips}  # the clean baseline is held out
    cfg = tmp_path / "designs.json"
    cfg.write_text(json.dumps({"designs": [{"label": "swap", "kind": "word_swap"},
                                           {"label": "hiss", "kind": "noise", "snr_db": 5}]}))  # fmt: skip
    _, s = parse_settings(["--config", str(cfg), "--designs", "hiss"], ca.CorruptionAblationSettings,
                          script="corruption_ablation", add_arguments=ca.add_arguments)  # fmt: skip
    assert [d["label"] for d in s.selected()] == ["hiss"] and s.selected()[0]["snr_db"] == 5.0


def test_cli_reports_config_errors_in_one_line(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("designs:\n  - {label: x, kind: nosie}\n")
    monkeypatch.setattr(sys, "argv", ["corruption_ablation.py", "--config", str(cfg), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        run_cli(ca.main, ca.SCRIPT)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "corruption_ablation: error:" in err and "'nosie'" in err and "noise" in err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the --quick run
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run (2 designs x 1 clip on tiny.en, a 5-clip reference), shared by the tests below."""
    out = tmp_path_factory.mktemp("corruption_ablation")
    outcome = ca.main([*QUICK, "--out", str(out)])
    return out, outcome


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_quick_results_structure_and_values(quick_run):
    out, outcome = quick_run
    r = _results(out)
    labels = list(ca.QUICK_LABELS)
    assert outcome.computed == 2 and outcome.reused == 0
    assert list(r["designs"]) == labels and r["clips"] == ["yes-en-us"] and r["layers"] == [0, 1, 2, 3]
    assert r["reference"]["frames_per_layer"] == 5 * 40 and len(r["reference"]["clips"]) == 5  # 0.8 s clips
    assert r["settings_digest"] == ca.CorruptionAblationSettings.from_dict(r["settings"]).digest()
    for label, s in r["designs"].items():
        assert s["n_clips"] == 1 and s["n_maps"] == 1, label  # every quick pair moves the metric
        assert 0.0 <= s["flip_rate"] <= 1.0
        assert 0.0 <= s["localisation_changed"] <= 1.0 and 0.0 <= s["localisation_word"] <= 1.0
        assert s["localisation_word"] > s["chance_word"]  # the effect sits on the word, not spread evenly
        for kind in ("ledoit_wolf", "diag"):
            ratio = s["offdist"][kind]["ratio"]
            assert len(ratio) == 4 and all(v is not None and np.isfinite(v) and v > 0 for v in ratio)
    lw = {label: r["designs"][label]["offdist"]["ledoit_wolf"]["ratio"] for label in labels}
    assert lw["noise-white-0dB"][0] > lw["word-swap"][0]  # noise is off-distribution; the swap is ordinary speech
    assert r["designs"]["word-swap"]["flip_rate"] == 1.0 and r["designs"]["word-swap"]["metrics"] == ["logit_diff"]
    m = np.array([[np.nan if v is None else v for v in row] for row in r["agreement"]["matrix"]])
    assert m.shape == (2, 2) and np.allclose(m, m.T) and (np.diag(m) == 1.0).all()
    assert np.all(np.abs(m) <= 1.0)
    assert sorted(x["label"] for x in r["ranking"]) == sorted(labels)
    assert [x["place"] for x in r["ranking"]] == [1, 2]
    assert r["advice"][0].startswith("Localising where the word is heard: ")
    assert any(line.startswith("Measuring in-distribution effects: ") for line in r["advice"])


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_unit_records_match_the_task_and_the_map_files(quick_run, tiny_en):
    """Flips and metrics agree with KeywordTask on the saved pair, and with intervene.patch's map."""
    out, _ = quick_run
    r = _results(out)
    task = tasks.KeywordTask()
    for label, records in r["units"].items():
        for rec in records:
            assert rec["gap"] == pytest.approx(rec["clean_metric"] - rec["corrupt_metric"])
            assert rec["flipped"] == (rec["corrupt_prediction"] != rec["answers"][0])
            assert rec["map"]["clean_metric"] == pytest.approx(rec["clean_metric"], abs=1e-3)
            assert rec["map"]["corrupt_metric"] == pytest.approx(rec["corrupt_metric"], abs=1e-3)
            cmap = intervene.CausalMap.load(out / rec["map"]["file"])
            assert cmap.dims == ("layer", "frame") and cmap.values.shape == (4, 8)  # 100 ms windows over 0.8 s
            assert np.allclose(cmap.values, np.array(rec["map"]["values"], dtype=float), equal_nan=True)
            assert cmap.meta["direction"] == "denoise" and cmap.meta["window_ms"] == 100.0
    rec = r["units"]["noise-white-0dB"][0]
    pair = MinimalPair.load(out / rec["pair_dir"])
    assert pair.corruption == rec["corruption"] and pair.changed_spans == [tuple(s) for s in rec["changed_spans"]]
    assert task.predict(tiny_en, pair.corrupt) == rec["corrupt_prediction"]
    metric = task.metric(tiny_en, pair.corrupt, pair.sample_rate, *rec["answers"])
    assert metric == pytest.approx(rec["corrupt_metric"], abs=1e-3)


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_report_references_existing_files(quick_run):
    out, _ = quick_run
    page = (out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    images = [s for s in sources if s.endswith(".png")]
    assert {"overview.png", "agreement.png", "offdist-per-layer.png", "example-maps.png"} <= set(images)
    for src in sources:
        assert not src.startswith(("/", "http")) and (out / src).is_file(), src
    for png in images:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert len([s for s in sources if s.endswith(".wav")]) == 1 + 2  # the clean clip, then each design's corrupt half
    assert "Which design for which question" in page and "<td>word-swap</td>" in page


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_resume_does_no_model_work_and_reproduces_results(quick_run, monkeypatch):
    out, _ = quick_run
    before = (out / "results.json").read_bytes()
    work = {p: p.stat().st_mtime_ns for p in (out / "work").rglob("*.json")}

    def no_model(*args, **kwargs):
        raise AssertionError("a resumed run must not load a model")

    monkeypatch.setattr(intervene, "load_model", no_model)
    outcome = ca.main([*QUICK, "--out", str(out)])
    assert outcome.computed == 0 and outcome.reused == 2
    assert (out / "results.json").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "work").rglob("*.json")} == work


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_restart_reads_the_clean_reference_from_the_work_store(quick_run, tmp_path, monkeypatch):
    """A run killed after the reference and one unit: the restart's unit gets the stored reference,
    bit for bit, and nothing fits it again."""
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    unit = next((copy / "work" / "units" / "word-swap").rglob("*.json"))
    record = json.loads(unit.read_text())["value"]
    unit.unlink()
    (copy / "results.json").unlink()
    stored = np.load(next((copy / "work").glob("reference.arrays.npz")))
    seen = []

    def refit(*args, **kwargs):
        raise AssertionError("the reference is in the work store; it must not be fitted again")

    def unit_from_the_reference(model, shared, *args):  # the unit's own model work is tested above
        seen.append(work.reference_to_arrays(shared["references"]))
        return {**record, "map": None}

    monkeypatch.setattr(ca, "fit_references", refit)
    monkeypatch.setattr(ca, "ablation_unit", unit_from_the_reference)
    outcome = ca.main([*QUICK, "--out", str(copy)])
    assert outcome.computed == 1 and outcome.reused == 1 and len(seen) == 1
    assert sorted(seen[0]) == sorted(stored.files)
    assert all(seen[0][k].tobytes() == stored[k].tobytes() for k in stored.files)
    assert _results(copy)["reference"] == _results(out)["reference"]


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_changed_settings_into_same_folder_raise_and_change_nothing(quick_run):
    out, _ = quick_run
    before = (out / "results.json").read_bytes()
    with pytest.raises(ConfigError, match="other settings"):
        ca.main([*QUICK, "--out", str(out), "--window-ms", "200"])
    assert (out / "results.json").read_bytes() == before and not list(out.glob("*.stale.*"))


# --------------------------------------------------------------------------- --data and --executor
def test_bad_data_spec_is_refused_before_any_model(tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a bad --data spec must be refused before a model loads")

    monkeypatch.setattr(intervene, "load_model", no_model)
    with pytest.raises(UnknownNameError, match="speech_commands"):
        ca.main([*QUICK, "--out", str(tmp_path / "a"), "--data", "speech_comands:/tmp"])
    with pytest.raises(ConfigError, match="does not exist"):
        ca.main([*QUICK, "--out", str(tmp_path / "b"), "--data", f"manifest:{tmp_path / 'none.jsonl'}"])
    with pytest.raises(ConfigError, match="max_clips"):
        ca.CorruptionAblationSettings(data=(f"folder:{tmp_path}",), max_clips=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_data_clips_split_by_speaker_and_pairs_stay_on_the_word(sentence_manifest, sc_root):
    """Sentences: the first speaker's clips are compared (a content word each, a partner word of the
    same speaker for word swaps), the second speaker is the clean reference; every design's pair
    changes audio only around the word. Speech Commands: core words read by KeywordTask."""
    designs = [d for d in ca.DEFAULT_DESIGNS if d["label"] in ("noise-white-0dB", "gap-silence", "pitch+4", "word-swap")]
    s = ca.CorruptionAblationSettings(data=(f"manifest:{sentence_manifest}",), designs=designs)
    subjects = ca.data_subjects(s)
    assert {c.speaker for c in subjects.clips} == {"alice"} and len(subjects.clips) == 3
    assert subjects.data["reference_speakers"] == ["bob"] and "bob" in subjects.reference_source
    assert [label.split("_")[0] for label, _ in subjects.reference()] == ["bob"] * 3
    assert [c.word for c in subjects.clips] == ["lights", "open", "tomorrow"]
    assert all(c.task == "transcript" and c.partner not in (None, c.word) for c in subjects.clips)
    clip = subjects.clips[0]
    span = clip.source.word_span("lights")
    for design in s.selected():
        pair, word_span, task = work.make_pair(design, clip, s)
        assert word_span == (span.start_s, span.end_s) and isinstance(task, tasks.TranscriptTask)
        diff = np.flatnonzero(np.abs(pair.clean - pair.corrupt) > 1e-6) / 16000
        assert diff.size and diff[0] >= span.start_s - 0.1 and diff[-1] <= span.end_s + 0.1, design["label"]
        if design["kind"] == "pitch_shift":
            assert pair.corruption["kind"] == "on_word"
        if design["kind"] == "word_swap":
            assert pair.params["via"] == "dataset" and pair.corrupt_answer == clip.partner
            assert task.answers(pair)[1].word == clip.partner
    sc = ca.data_subjects(ca.CorruptionAblationSettings(data=(f"speech_commands:{sc_root}",)))
    assert len({c.speaker for c in sc.clips}) == 1 and len(sc.clips) == 3
    assert all(c.task == "keyword" and c.word == c.source.word for c in sc.clips)
    assert not {c.speaker for c in sc.clips} & set(sc.data["reference_speakers"])


SC_ARGS = ["--designs", "word-swap", "--window-ms", "500", "--max-clips", "2"]


@pytest.fixture(scope="module")
def data_run(tmp_path_factory, sc_root):
    """--quick on Speech Commands: 2 clips ('no' by each speaker): the first speaker's clip is word-swapped
    (500 ms windows), the second speaker's is the clean reference."""
    out = tmp_path_factory.mktemp("ca_data")
    outcome = ca.main([*QUICK, *SC_ARGS, "--out", str(out), "--data", f"speech_commands:{sc_root}"])
    return out, outcome


@pytest.mark.slow  # a real unit and a one-clip reference: ~1 minute on a busy 2-core CPU
def test_data_run_records_the_data_and_resumes(data_run, sc_root, monkeypatch):
    out, outcome = data_run
    r = _results(out)
    assert outcome.computed == 1 and r["data"]["kind"] == "data" and r["data"]["tasks"] == ["keyword"]
    assert r["data"]["specs"] == [f"speech_commands:{sc_root.resolve()}"] and r["settings"]["data"] == r["data"]["specs"]
    assert r["reference"]["source"].startswith("held-out speakers") and len(r["reference"]["clips"]) == 1
    (unit,) = r["units"]["word-swap"]
    assert unit["word"] == "no" and unit["answers"] == ["no", "yes"] and unit["params"]["via"] == "dataset"
    assert unit["flipped"] and unit["gap"] > 1.0 and np.isfinite(unit["logodds_drop"])
    assert all(np.isfinite(v) for v in unit["offdist"]["ledoit_wolf"]["ratio"])
    assert np.isfinite(np.array(unit["map"]["values"], dtype=float)).all()
    loc = unit["map"]["localisation"]  # two 500 ms windows: both touch the word, so both shares may be 1
    assert 0.0 < loc["word_chance"] <= loc["word"] <= 1.0
    before = (out / "results.json").read_bytes()

    def no_model(*args, **kwargs):
        raise AssertionError("a resumed run must not load a model")

    monkeypatch.setattr(intervene, "load_model", no_model)
    again = ca.main([*QUICK, *SC_ARGS, "--out", str(out), "--data", f"speech_commands:{sc_root}"])
    assert again.computed == 0 and again.reused == 1 and (out / "results.json").read_bytes() == before


SENTENCE_ARGS = ["--designs", "noise-white-0dB", "--window-ms", "500", "--max-clips", "1"]


@pytest.mark.slow  # Ray start, an actor loading tiny.en and a sentence unit twice: minutes on 2 cores
def test_ray_run_on_sentences_equals_local_and_local_resumes_it(ray_session, sentence_manifest, tmp_path, monkeypatch):
    data = ["--data", f"manifest:{sentence_manifest}"]
    local = ca.main([*QUICK, *SENTENCE_ARGS, *data, "--out", str(tmp_path / "local")])
    remote = ca.main([*QUICK, *SENTENCE_ARGS, *data, "--out", str(tmp_path / "ray"), "--executor", "ray", "--actors", "1"])
    assert local.computed == remote.computed == 1
    a, b = local.results["units"]["noise-white-0dB"][0], remote.results["units"]["noise-white-0dB"][0]
    assert a["task"] == "transcript" and a["metric"] == "logprob" and a["word"] == "lights"
    for key in ("clean_metric", "corrupt_metric", "logodds_drop"):
        assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-4), key
    np.testing.assert_allclose(np.array(b["map"]["values"]), np.array(a["map"]["values"]), atol=1e-4)
    assert (tmp_path / "ray" / b["map"]["file"]).is_file() and (tmp_path / "ray" / b["pair_dir"] / "pair.json").is_file()
    before = _results(tmp_path / "ray")

    def no_model(*args, **kwargs):
        raise AssertionError("a local run resuming a Ray run's folder must not load a model")

    monkeypatch.setattr(intervene, "load_model", no_model)
    again = ca.main([*QUICK, *SENTENCE_ARGS, *data, "--out", str(tmp_path / "ray")])
    after = _results(tmp_path / "ray")
    assert again.computed == 0 and again.reused == 1
    assert before.pop("command").endswith("--actors 1") and {**after, "command": None} == {**before, "command": None}
