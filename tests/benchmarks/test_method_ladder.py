"""benchmarks/method_ladder.py: the --quick run on the real whisper-tiny.en and the planted models.

The tests that share the --quick run are marked slow: the run trains DAS on tiny.en and on the
planted model and fits eight erasers (minutes on a 2-core CPU, 28 min on a machine loaded ~10
deep), too long for the default suite. Run them with ``-m slow``."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import intervene
from benchmarks import method_ladder as ml
from tasks.errors import ConfigError

QUICK = ["--quick", "--no-progress", "--device", "cpu"]
NAME = "whisper-tiny.en"


slow = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run (yes/no, 3 design + 2 report voices, layers 1 and 3, DAS dim 1, planted section)."""
    out = tmp_path_factory.mktemp("method_ladder")
    outcome = ml.main(QUICK + ["--out", str(out)])
    return out, outcome


def _results(out):
    return json.loads((out / "results.json").read_text())


@slow
def test_results_structure_and_split(quick_run):
    out, outcome = quick_run
    r = _results(out)
    assert r["settings_digest"] == ml.MethodLadderSettings.from_dict(r["settings"]).digest()
    assert r["split"]["design_voices"] == ["en-us", "en+f2", "en"]
    assert r["split"]["report_voices"] == ["en-us+f3", "en-gb-x-rp"]
    assert r["data"]["n_clips"] == 5 * 2 and r["data"]["n_pairs"] == 5 and r["data"]["n_report_pairs"] == 2
    m = r["models"][NAME]
    assert [row["layer"] for row in m["layers"]] == [1, 3]
    # units: 2 probes + 2 patched pairs + 2 DAS + 2 x 2 erasers; 8 planted units
    assert outcome.computed == {NAME: 10, "planted": 8} and outcome.reused == {NAME: 0, "planted": 0}
    for row in m["layers"]:
        assert set(row["das"]) == {"1"} and set(row["leace"]) == {"keyword", "gender"}
        assert row["verdict"] in ("decodable and used", "decodable but not used", "used but hard to decode", "neither")
    named = m["named"]
    assert sorted(x for layers in named.values() for x in layers) == [1, 3]


@slow
def test_every_figure_is_on_held_out_voices(quick_run):
    out, _ = quick_run
    m = _results(out)["models"][NAME]
    report = {"en-us+f3", "en-gb-x-rp"}
    for probe in m["probe_records"].values():
        assert set(probe["test_groups"]) == report and not set(probe["train_groups"]) & report
    for das in m["das_records"].values():
        split = das["record"]["split"]
        assert set(split["test"]) == report and not (set(split["train"]) | set(split["validation"])) & report
        assert split["validation"]  # early stopping on a design voice
    for leace in m["leace_records"].values():
        assert set(leace["record"]["test_groups"]) == report
        assert leace["n_clips"] == 2 * 2  # the report voices' clips
    assert {p["voice"] for p in m["patch_pairs"]} == report


@slow
def test_ladder_numbers_are_consistent(quick_run):
    out, _ = quick_run
    m = _results(out)["models"][NAME]
    for row in m["layers"]:
        p = row["probe"]
        assert p["selectivity"] == pytest.approx(p["accuracy"] - p["control_accuracy"], abs=1e-9)
        assert p["accuracy_ci"][0] <= p["accuracy"] <= p["accuracy_ci"][1] and p["chance"] == 0.5
        used = [q for q in m["patch_pairs"] if q["status"] == "used"]
        k = [1, 3].index(row["layer"])
        effects = [q["effect"][k] for q in used]
        assert row["patch"]["n"] == len(used) >= 1
        assert row["patch"]["mean"] == pytest.approx(np.mean(effects))
        for q in used:  # tiny.en hears yes/no right, and the gap is what the metrics say
            assert q["gap"] == pytest.approx(q["clean_metric"] - q["corrupt_metric"]) and q["gap"] > 1.0
        d = row["das"]["1"]
        assert 0.0 <= d["iia_ci"][0] <= d["iia"] <= d["iia_ci"][1] <= 1.0 and d["n_test"] >= 1
        for label in ("keyword", "gender"):
            e = row["leace"][label]
            assert 0.0 <= e["keyword_accuracy_after"] <= 1.0 and e["n_clips"] == 4
        assert row["leace"]["keyword"]["rank"] == 1  # two keyword classes: LEACE removes one direction
        assert row["decodable"] == (p["accuracy"] >= 0.7) and row["used"] == (row["patch"]["mean"] >= 0.5)
    # patching all of a word's frames at a block output carries the word: every layer is used
    assert all(row["patch"]["mean"] > 0.5 for row in m["layers"])
    ex = m["leace_example"]
    assert ex["layer"] in (1, 3) and ex["das_dim"] == 1
    assert set(ex["expected"]) == {"gender_leaves_keyword", "keyword_collapses", "collapse_threshold"}


def test_leace_expectations_are_judged_on_the_numbers():
    from benchmarks.ladder.report import _expectations
    from benchmarks.ladder.summary import leace_expectations

    def kw(after):
        return {"keyword_accuracy_before": 0.9, "keyword_accuracy_after": after}

    gender = {"keyword_accuracy_after": 0.88, "keyword_ci_after": [0.8, 0.95]}
    held = leace_expectations(kw(0.2), gender, chance=0.1)
    assert held == {"gender_leaves_keyword": True, "keyword_collapses": True, "collapse_threshold": pytest.approx(0.3)}
    missed = leace_expectations(kw(0.78), {"keyword_accuracy_after": 0.5, "keyword_ci_after": [0.4, 0.6]}, 0.1)
    assert missed["gender_leaves_keyword"] is False and missed["keyword_collapses"] is False
    assert "disagrees (a finding)" in _expectations({"expected": missed})
    no_gender = leace_expectations(kw(0.2), {"keyword_accuracy_after": float("nan")}, 0.1)
    assert no_gender["gender_leaves_keyword"] is None
    assert "gender" not in _expectations({"expected": no_gender}) and "agrees" in _expectations({"expected": no_gender})


@slow
def test_planted_section_recovers_what_was_planted(quick_run):
    out, _ = quick_run
    p = _results(out)["planted"]
    rec, checks = p["recovered"], p["checks"]
    assert p["planted_layer"] == 1
    assert rec["patching_layer"] == 1 and rec["das_layer"] == 1
    assert rec["components_layer_exact"] == 1 and rec["components_layer_attribution"] == 1
    assert abs(rec["das_cosine_u"]) >= 0.99 and abs(rec["das_cosine_u2"]) < 0.1
    assert rec["min_share_inside_planted_frames"] >= 0.99
    assert rec["probe_decodable_layers"] == [1, 2]
    assert rec["leace_task_accuracy"][0] == 1.0 and rec["leace_task_accuracy"][1] <= 0.6
    assert rec["unused_probe_accuracy"] >= 0.9 and rec["unused_max_abs_metric_change"] <= 1e-4
    assert p["all_pass"] and all(checks.values())
    das = p["units"]["used-das"]["layers"]
    assert [d["iia"] for d in das] == [0.0, 1.0]  # before the planted layer the destination frames hold nothing; search stops


@slow
def test_report_files(quick_run):
    out, _ = quick_run
    page = (out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    pngs = [s for s in sources if s.endswith(".png")]
    assert sorted(pngs) == ["figures/ladder-whisper-tiny.en.png", "figures/planted.png"]
    for png in pngs:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "Design vs report split" in page and "decodable but not used" in page
    m = _results(out)["models"][NAME]
    for das in m["das_records"].values():
        loaded = intervene.DASResult.load(out / das["files"]["intervention"])
        assert loaded.iia == das["iia"] and loaded.site == das["site"]


@slow
def test_resume_computes_nothing_twice(quick_run, monkeypatch):
    out, _ = quick_run
    before = _results(out)

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run must do no model work")

    for name in ("load_model", "probe", "das", "erase", "patch", "intervene"):
        monkeypatch.setattr(intervene, name, refuse)
    from intervene.learned import planted

    monkeypatch.setattr(planted, "planted_model", refuse)
    outcome = ml.main(QUICK + ["--out", str(out)])
    assert outcome.computed == {NAME: 0, "planted": 0} and outcome.reused == {NAME: 10, "planted": 8}
    after = _results(out)
    for key in ("models", "planted", "split", "data"):
        assert after[key] == before[key], key


def test_settings_validation():
    with pytest.raises(ConfigError, match="both design and report"):
        ml.MethodLadderSettings(design_voices=("en-us", "en+f2"), report_voices=("en-us", "en-us+f3"))
    with pytest.raises(ConfigError, match="female"):
        ml.MethodLadderSettings(design_voices=("en-us", "en+f2"), report_voices=("en", "en-gb-x-rp"))
    with pytest.raises(ConfigError, match="no word-swap couple"):
        ml.MethodLadderSettings(words=("yes", "up"))
    with pytest.raises(ConfigError, match="dims"):
        ml.MethodLadderSettings(dims=(1, 1))
    with pytest.raises(ConfigError, match="das_kind"):
        ml.MethodLadderSettings(das_kind="rotate")
    s = ml.MethodLadderSettings()
    assert ml.MethodLadderSettings.from_dict(s.to_dict()) == s
    assert s.planted_report_voices == 4 and math.isclose(s.decodable_accuracy, 0.7)


# ------------------------------------------------------------------ --data speech_commands: and --executor
TINY = ["--quick", "--no-progress", "--device", "cpu", "--no-planted", "--layers", "3"]


def _no_model(*args, **kwargs):
    raise AssertionError("no model may load here")


def test_data_other_than_speech_commands_is_refused_before_any_model(sentence_manifest, sc_root, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    from tasks.errors import DatasetError, UnknownNameError

    monkeypatch.setattr(intervene, "load_model", _no_model)
    with pytest.raises(ConfigError, match="needs speech_commands:PATH data"):
        ml.main(TINY + ["--out", str(tmp_path / "a"), "--data", f"manifest:{sentence_manifest}"])
    with pytest.raises(ConfigError, match="does not exist"):
        ml.main(TINY + ["--out", str(tmp_path / "b"), "--data", "speech_commands:/does/not/exist"])
    with pytest.raises(UnknownNameError):
        ml.main(TINY + ["--out", str(tmp_path / "c"), "--data", "speechcommands:/tmp"])
    with pytest.raises(DatasetError, match="at least 3"):  # sc_root: two speakers, no held-out one left for DAS
        ml.main(TINY + ["--out", str(tmp_path / "d"), "--data", f"speech_commands:{sc_root}"])


def test_data_split_is_by_speaker_with_speaker_matched_pairs(sc4):
    from benchmarks.ladder.data import data_split
    from benchmarks.ladder.work import group_of

    found = data_split(f"speech_commands:{sc4}", ("yes", "no"), None, seed=0)
    design, report = found["design"], found["report"]
    assert len(design) == 3 and len(report) == 1 and not set(design) & set(report)
    assert len(found["clips"]) == 8 and {c.speaker for c in found["clips"]} == set(design) | set(report)
    assert sorted(c.text for c in found["clips"]) == ["no"] * 4 + ["yes"] * 4
    assert len(found["pairs"]) == 4
    for p in found["pairs"]:  # one speaker's recording, its word swapped for the same speaker's other word
        assert p.metadata["speaker"] == group_of(p) and {p.clean_answer, p.corrupt_answer} == {"yes", "no"}
    assert data_split(f"speech_commands:{sc4}", ("yes", "no"), None, seed=0)["report"] == report  # seeded
    assert len(data_split(f"speech_commands:{sc4}", ("yes", "no"), 6, seed=0)["clips"]) == 6  # 3 speakers


@slow  # DAS on tiny.en (minutes on a loaded 2-core machine)
def test_data_run_on_recordings(sc4, tmp_path, monkeypatch):
    out = tmp_path / "data"
    outcome = ml.main(TINY + ["--out", str(out), "--data", f"speech_commands:{sc4}"])
    r = _results(out)
    assert r["split"]["by"] == "speaker" and len(r["split"]["report_speakers"]) == 1
    assert r["data"]["kind"] == "data" and r["data"]["n_clips"] == 8 and r["data"]["n_pairs"] == 4
    assert r["data"]["per_spec"] == {f"speech_commands:{sc4.resolve()}": {"clips": 8, "speakers": 4}}
    m = r["models"][NAME]
    (row,) = m["layers"]
    assert row["leace"]["gender"]["available"] is False and "not available" in row["leace"]["gender"]["reason"]
    assert 0 <= row["probe"]["accuracy"] <= 1 and math.isfinite(row["das"]["1"]["iia"])
    assert {p["voice"] for p in m["patch_pairs"]} == set(r["split"]["report_speakers"])
    assert outcome.computed == {NAME: 4}  # probe, one report pair, DAS, keyword eraser (no gender eraser)
    monkeypatch.setattr(intervene, "load_model", _no_model)
    again = ml.main(TINY + ["--out", str(out), "--data", f"speech_commands:{sc4}"])
    assert again.computed == {NAME: 0} and _results(out)["models"] == r["models"]
