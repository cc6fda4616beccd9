"""benchmarks/patching_heatmaps.py: the --quick run on the real whisper-tiny.en, its report, resume, skips."""

from __future__ import annotations

import json
import re
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import intervene
from benchmarks import patching_heatmaps as ph
from benchmarks.common import run_cli
from benchmarks.heatmaps import sweeps as sw
from benchmarks.heatmaps.results import summarize_sweep
from tasks.errors import ConfigError, UnknownNameError

QUICK = ["--quick", "--no-progress", "--device", "cpu"]
QUICK_SWEEPS = ["keyword-encoder"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run (2 word-swap pairs, the encoder sweep on tiny.en), shared by the tests of this module."""
    out = tmp_path_factory.mktemp("patching_heatmaps")
    outcome = ph.main(QUICK + ["--out", str(out)])
    return out, outcome


def _results(out):
    return json.loads((out / "results.json").read_text())


def _sweeps(out):
    return {s["sweep"]: s for s in _results(out)["models"]["whisper-tiny.en"]["sweeps"]}


def _no_model_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run must do no model work")

    monkeypatch.setattr(intervene, "load_model", refuse)
    monkeypatch.setattr(intervene.sweeping, "patch_context", refuse)
    monkeypatch.setattr(intervene.sweeping.PairContext, "build", refuse)


def test_quick_results_structure_and_numbers(quick_run):
    out, outcome = quick_run
    assert outcome.computed == {"whisper-tiny.en": 2} and outcome.reused == {"whisper-tiny.en": 0}  # 2 pairs x 1 sweep
    results = _results(out)
    assert results["settings"]["pairs"] == 2 and results["settings"]["window_ms"] == 200.0
    assert results["settings_digest"] == ph.PatchingHeatmapsSettings.from_dict(results["settings"]).digest()
    sweeps = _sweeps(out)
    assert list(sweeps) == QUICK_SWEEPS
    for name, s in sweeps.items():
        shape = [len(s["coords"][d]) for d in s["dims"]]
        mean, std, per_pair = (np.array(s[k], dtype=float) for k in ("mean", "std", "per_pair"))
        assert list(mean.shape) == shape and std.shape == mean.shape, name
        used = [p for p in s["pairs"] if p["status"] == "used"]
        assert s["pairs_used"] == len(used) == per_pair.shape[0] == 2 and s["pairs_skipped"] == 0
        assert per_pair.shape[1:] == mean.shape
        assert np.isfinite(per_pair).all() and np.isfinite(mean).all() and (std >= 0).all()
        np.testing.assert_allclose(mean, per_pair.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(std, per_pair.std(axis=0), atol=1e-12)
        assert s["metric"] == "logit_diff" and s["corruption"] == {"kind": "word_swap"}
        for p in used:
            assert p["clean_metric"] > 1.0 and p["corrupt_metric"] < -1.0, p  # tiny.en hears yes/no right
            assert p["gap"] == pytest.approx(p["clean_metric"] - p["corrupt_metric"])
        assert s["clean_metric_mean"] == pytest.approx(np.mean([p["clean_metric"] for p in used]))
        assert 0.1 < s["peak"]["effect"] <= 1.0 + 1e-6 and s["peak"]["effect"] == pytest.approx(mean.max())
    enc = sweeps["keyword-encoder"]
    assert enc["dims"] == ["layer", "frame"] and enc["coords"]["layer"] == [0, 1, 2, 3]
    # onset-aligned columns: 1 window of 200 ms before the onset frame, 3 after
    assert enc["coords"]["frame"] == [-10, 0, 10, 20]
    assert enc["time_ms"] == [-200.0, 0.0, 200.0, 400.0]
    mean = np.array(enc["mean"])
    assert mean[:, 0].max() < 0.1 < mean[:, 1].max()  # nothing before the word carries it; its first 200 ms do
    # deeper layers gather the word into its first 200 ms; nothing 400-600 ms after the onset carries it
    assert (np.diff(mean[:, 1]) > 0).all() and np.abs(mean[:, 3]).max() < 0.1
    assert results["timings"]["compute_s"] == pytest.approx(sum(s["compute_s"] for s in sweeps.values()))


def test_map_files_match_results(quick_run):
    out, _ = quick_run
    for s in _sweeps(out).values():
        cmap = intervene.CausalMap.load(out / s["files"]["map"])
        np.testing.assert_allclose(cmap.values, np.array(s["mean"]), atol=1e-12)
        np.testing.assert_allclose(cmap.per_pair, np.array(s["per_pair"]), atol=1e-12)
        for p in s["pairs"]:
            one = intervene.CausalMap.load(out / p["map"])
            assert one.clean_metric == pytest.approx(p["clean_metric"], abs=1e-5)
            assert one.meta["direction"] == "denoise" and one.meta["answers"] == p["answers"]


def test_report_references_existing_files(quick_run):
    out, _ = quick_run
    page = (out / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    for src in sources:
        assert not src.startswith(("/", "http")) and (out / src).is_file(), src
    images = [s for s in sources if s.endswith(".png")]
    assert len(images) == 1 + 2 * 1  # the overview, then mean and per-pair figures of each sweep
    for png in images:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    wavs = [s for s in sources if s.endswith(".wav")]
    assert len(wavs) == 1 * 1 * 2  # 1 task x 1 pair (audio_examples) x clean/corrupt
    assert "<td>keyword-encoder</td>" in page and "+0 to +200 ms" in page


def test_resume_does_no_model_work_and_reproduces_results(quick_run, monkeypatch):
    out, _ = quick_run
    before = (out / "results.json").read_bytes()
    _no_model_work(monkeypatch)
    outcome = ph.main(QUICK + ["--out", str(out)])
    assert outcome.computed == {"whisper-tiny.en": 0} and outcome.reused == {"whisper-tiny.en": 2}
    assert (out / "results.json").read_bytes() == before


def test_damaged_map_is_recomputed_alone(quick_run, tmp_path, monkeypatch):
    """A map file that cannot be read (the run died, a disk error) is patched again; nothing else is.

    The patching itself stands in with the intact map (its numbers are the engine's, tested there);
    what is checked here is which unit the resumed run recomputes and that the report uses it.
    """
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    pair = _sweeps(copy)["keyword-encoder"]["pairs"][1]
    (copy / pair["map"]).write_bytes(b"PK\x03\x04 truncated")
    (copy / "results.json").unlink()
    intact = intervene.CausalMap.load(out / pair["map"])
    calls = []

    def patch_again(ctx, sites, **kwargs):
        calls.append((sites, ctx.pair.clean_answer, kwargs["span"]))
        return intact

    monkeypatch.setattr(intervene.sweeping, "patch_context", patch_again)
    outcome = ph.main(QUICK + ["--out", str(copy)])
    assert outcome.computed == {"whisper-tiny.en": 1} and outcome.reused == {"whisper-tiny.en": 1}
    assert [(sites, answer) for sites, answer, _ in calls] == [("encoder.block_output", pair["answers"][0])]
    assert calls[0][2] == pytest.approx(tuple(intact.meta.span_s), abs=1e-9)  # the pair's own onset-aligned span
    assert intervene.CausalMap.load(copy / pair["map"]).values.tobytes() == intact.values.tobytes()
    a, b = _sweeps(out)["keyword-encoder"], _sweeps(copy)["keyword-encoder"]
    assert a["per_pair"] == b["per_pair"] and a["mean"] == b["mean"]


def test_pairs_below_min_gap_are_skipped_and_counted(quick_run, tmp_path, monkeypatch):
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    _no_model_work(monkeypatch)  # min_gap only selects pairs: their metrics are already stored
    ph.main(QUICK + ["--out", str(copy), "--min-gap", "100"])
    for s in _sweeps(copy).values():
        assert s["pairs_used"] == 0 and s["pairs_skipped"] == 2 and "mean" not in s
        assert all(p["status"] == "skipped" and "< min_gap 100" in p["reason"] for p in s["pairs"])
    assert "0/2" in (copy / "index.html").read_text()
    assert (copy / "results.stale.json").is_file()  # the report of the other settings, retired


def test_refused_pair_is_a_counted_skip(tmp_path):
    """What intervene.sweep_pairs says of a pair it did not patch reaches the report with its reason."""
    from intervene import PairOutcome

    settings = ph.PatchingHeatmapsSettings(sweeps=("carrier-heads",), corruptions=("word_swap",), pairs=2)
    specs = sw.pair_specs(2, settings.words, settings.voices, 0)
    pair = SimpleNamespace(clean_answer="yes", corrupt_answer="no", words=[("yes", 0.3, 0.6)])
    plan = {("carrier", "word_swap"): [(specs[0], pair, None), (specs[1], None, "no pair: merged words")]}
    refused = PairOutcome(0, "k", "skipped", "the metric barely differs between the two halves of the pair",
                          clean_metric=1.0, corrupt_metric=0.98, gap=0.02, seconds=1.5)
    entry, cmap = summarize_sweep("whisper-tiny.en", "carrier-heads", {"kind": "word_swap"}, settings, plan, [refused],
                                  tmp_path)  # fmt: skip
    assert cmap is None and entry["pairs_used"] == 0 and entry["pairs_skipped"] == 2 and entry["compute_s"] == 1.5
    assert [p["reason"] for p in entry["pairs"]] == [refused.reason, "no pair: merged words"]
    assert entry["pairs"][0]["gap"] == 0.02 and "mean" not in entry


def test_onset_spans_align_columns_across_pairs():
    """Spans start whole windows before the onset frame, so relative columns agree for any onset."""
    relative = set()
    for onset in (0.3, 0.305, 0.961, 1.013):
        pair = SimpleNamespace(words=[("please", 0.05, 0.3), ("yes", onset, onset + 0.3)])
        lo, hi = sw.onset_span(pair, "yes", 0.02, 40.0, 200.0, 600.0)
        frame = int(np.floor(onset / 0.02 + 1e-9))
        relative.add((round(lo / 0.02) - frame, round(hi / 0.02) - frame))
    assert relative == {(-10, 30)}


def test_pair_specs_are_distinct_and_prefix_stable():
    words, voices = ("yes", "no", "up"), ("en-us", "en", "en-029")
    specs = sw.pair_specs(9, words, voices, seed=5)
    assert len({(p.word, p.voice) for p in specs}) == 9 and [p.seed for p in specs] == list(range(5, 14))
    assert sw.pair_specs(4, words, voices, seed=5) == specs[:4]


def test_settings_validation_and_config_file(tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'carrier-heads'"):
        ph.PatchingHeatmapsSettings(sweeps=("carrier-head",))
    with pytest.raises(ConfigError, match="has no parameter 'snr'"):
        ph.PatchingHeatmapsSettings(corruptions=({"kind": "noise", "snr": 0},))
    with pytest.raises(ConfigError, match="lists a corruption twice"):
        ph.PatchingHeatmapsSettings(corruptions=("word_swap", {"kind": "word_swap"}))
    with pytest.raises(ConfigError, match=r"window_ms \(30\) must be a multiple of 20 ms"):
        ph.PatchingHeatmapsSettings(window_ms=30.0)
    for bad in (float("nan"), "40"):
        with pytest.raises(ConfigError, match="window_ms"):
            ph.PatchingHeatmapsSettings(window_ms=bad)
    with pytest.raises(ConfigError, match=r"pairs \(2.5\) must be a whole number"):
        ph.PatchingHeatmapsSettings(pairs=2.5)
    s = ph.PatchingHeatmapsSettings()
    assert ph.PatchingHeatmapsSettings.from_dict(s.to_dict()) == s
    cfg = tmp_path / "c.yaml"
    cfg.write_text("corruptions:\n  - kind: gap\n    fill: silence\n  - word_swap\npairs: 3\n")
    run, s = ph.parse_settings(["--config", str(cfg), "--out", str(tmp_path / "o")], ph.PatchingHeatmapsSettings,
                               script=ph.SCRIPT, add_arguments=ph.add_arguments)  # fmt: skip
    assert s.corruptions == ({"kind": "gap", "fill": "silence"}, {"kind": "word_swap"}) and s.pairs == 3
    assert [sw.corruption_label(c) for c in s.corruptions] == ["gap_fill=silence", "word_swap"]


def test_cli_reports_config_errors_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["patching_heatmaps.py", "--corruptions", "word_swop", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        run_cli(ph.main, ph.SCRIPT)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert "patching_heatmaps: error: unknown corruption kind 'word_swop'" in err and "did you mean 'word_swap'" in err
    assert not (tmp_path / "o").exists()


def test_carrier_sources_keep_the_window_after_the_word_inside_the_clip():
    task = sw.make_task("carrier", ("yes", "no"), "please say the word {word} now")
    spec = sw.pair_specs(1, ("yes", "no"), ("en-us",), 0)[0]
    utt = sw.make_source(task, spec, 0.3, 0.8)
    onset = utt.word_span("yes").start_s
    assert utt.duration_s >= onset + 0.8 + 0.1 - 1e-9 and utt.words[0].word == "please"


# --------------------------------------------------------------------------- --data and --executor
from benchmarks.heatmaps import data as hd

TINY = ["--pairs", "1", "--window-ms", "200", "--before-ms", "200", "--after-ms", "200"]


def test_bad_data_is_refused_before_any_model(tmp_path, monkeypatch, sentence_manifest, sc_root):
    def no_model(*args, **kwargs):
        raise AssertionError("bad --data must be refused before a model loads")

    monkeypatch.setattr(intervene, "load_model", no_model)
    with pytest.raises(UnknownNameError, match="librispeech"):
        ph.main(QUICK + ["--out", str(tmp_path / "a"), "--data", "librispeach:/tmp"])
    with pytest.raises(ConfigError, match="does not exist"):
        ph.main(QUICK + ["--out", str(tmp_path / "b"), "--data", f"speech_commands:{tmp_path / 'none'}"])
    with pytest.raises(ConfigError, match="keyword-encoder: keyword sweeps take speaker-matched pairs"):
        ph.main(QUICK + ["--out", str(tmp_path / "c"), "--data", f"manifest:{sentence_manifest}"])
    assert not any((tmp_path / d).exists() for d in "abc")
    run, skipped = hd.sweeps_for_data(("keyword-encoder", "carrier-decoder"), (f"speech_commands:{sc_root}",))
    assert run == ("keyword-encoder",) and list(skipped) == ["carrier-decoder"] and "sentence" in skipped["carrier-decoder"]
    assert hd.sweeps_for_data(("carrier-heads",), ()) == (("carrier-heads",), {})


def test_sentence_pairs_put_the_word_inside_the_aligned_window(sentence_manifest):
    """Carrier sweeps on sentences: one content word per clip is corrupted, the pair padded so the
    onset-aligned span (before/after the word) lies inside the clip, and TranscriptTask reads that word."""
    import tasks

    s = ph.PatchingHeatmapsSettings(data=(f"manifest:{sentence_manifest}",), sweeps=("carrier-encoder",), pairs=3,
                                    corruptions=({"kind": "noise", "snr_db": -5.0, "span": "word"}, "word_swap"),
                                    before_ms=300, audio_examples=0)  # fmt: skip
    plan = hd.data_plan(s, s.sweeps, None)
    noise = plan["carrier", "noise_snr_db=-5.0_span=word"]
    assert len(noise) == 3 and all(p is not None for _, p, _ in noise)
    task = tasks.TranscriptTask()
    for spec, pair, _ in noise:
        (start, end), = [(a, b) for w, a, b in pair.words if w == spec.word]
        lo, hi = sw.onset_span(pair, spec.word, 0.02, s.window_ms, s.before_ms, s.after_ms)
        assert lo >= 0 and hi <= pair.duration_s + 1e-9 and lo <= start < hi
        assert all(start - 0.05 <= a and b <= end + 0.05 for a, b in pair.changed_spans)
        clean, _ = task.answers(pair)
        assert str(clean) == spec.word == pair.metadata["word"] and spec.word.lower() not in ("the", "a")
    assert any(sum(p.metadata.get("padded_s", [0])) > 0 for _, p, _ in noise)  # 0.2 s around each sentence: padded
    swaps = plan["carrier", "word_swap"]
    assert all(p is None and "word=" in r for _, p, r in swaps)  # no default partner for a sentence word: said


@pytest.fixture(scope="module")
def sc_run(tmp_path_factory, sc_root):
    out = tmp_path_factory.mktemp("ph_sc")
    return out, ph.main(QUICK + TINY + ["--out", str(out), "--data", f"speech_commands:{sc_root}"])


def test_speech_commands_data_gives_speaker_matched_pairs_and_resumes(sc_run, sc_root, monkeypatch):
    out, _ = sc_run
    r = _results(out)
    assert r["data"]["kind"] == "data" and r["data"]["specs"] == [f"speech_commands:{sc_root.resolve()}"]
    assert r["settings"]["data"] == r["data"]["specs"] and r["data"]["pairs"]["keyword/word_swap"]["pairs"] == 1
    (entry,) = r["models"]["whisper-tiny.en"]["sweeps"]
    (row,) = entry["pairs"]
    assert row["status"] == "used" and row["gap"] > 1.0 and row["answers"][0] != row["answers"][1]
    assert row["word_onset_s"] >= 0.2 and entry["time_ms"] == [-200.0, 0.0]
    assert np.isfinite(np.array(entry["mean"], dtype=float)).all()
    pair = intervene.CausalMap.load(out / row["map"]).meta
    assert pair.direction == "denoise"
    before = (out / "results.json").read_bytes()
    _no_model_work(monkeypatch)
    again = ph.main(QUICK + TINY + ["--out", str(out), "--data", f"speech_commands:{sc_root}"])
    assert again.computed == {"whisper-tiny.en": 0} and again.reused == {"whisper-tiny.en": 1}
    assert json.loads((out / "results.json").read_bytes())["models"] == json.loads(before)["models"]


@pytest.mark.slow  # Ray start and an actor loading tiny.en: a minute or more on 2 cores
def test_carrier_data_on_ray_equals_local_and_local_resumes_it(ray_session, sentence_manifest, tmp_path, monkeypatch):
    args = QUICK + TINY + ["--sweeps", "carrier-encoder", "--corruptions", '{"kind": "gap", "fill": "silence"}',
                           "--data", f"manifest:{sentence_manifest}"]  # fmt: skip
    local = ph.main(args + ["--out", str(tmp_path / "local")])
    remote = ph.main(args + ["--out", str(tmp_path / "ray"), "--executor", "ray", "--actors", "1"])
    a, b = (o.results["models"]["whisper-tiny.en"]["sweeps"][0] for o in (local, remote))
    assert a["task"] == "carrier" and a["metric"] == "logprob" and a["pairs_used"] == 1
    np.testing.assert_allclose(np.array(b["mean"], dtype=float), np.array(a["mean"], dtype=float), atol=1e-4)
    assert remote.results["executor"]["executor"] == "ray" and remote.results["executor"]["started"]
    before = _results(tmp_path / "ray")["models"]
    _no_model_work(monkeypatch)
    again = ph.main(args + ["--out", str(tmp_path / "ray")])
    assert again.computed == {"whisper-tiny.en": 0} and _results(tmp_path / "ray")["models"] == before
