"""The atlas (issue 16): index and per-unit files, top clips checked against a direct computation,
associations and density, the page, the CLI end to end, and bad input, on the real whisper-tiny.en
with a handful of clips at encoder layer 0 (cheap forwards)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from intervene.app.atlas import build_atlas
from intervene.app.atlas.collect import UnitStats
from intervene.app.atlas.write import clip_key
from intervene.features import SAE, SAEConfig, synthetic_corpus
from intervene.features.store import read_activations
from tasks.errors import ConfigError, DatasetError, UnknownNameError

SITE = "encoder.0.mlp_hidden"
SAE_SITE = "encoder.0.block_output"
UNITS = [0, 5, 17, 300, 1535]


@pytest.fixture(scope="module")
def corpus():
    clips = synthetic_corpus(2, sentences=["stop the music", "turn the lights off"], words=["yes", "go"],
                             n_noise=1, n_silence=0, seed=3)
    return clips


@pytest.fixture(scope="module")
def sae():
    s = SAE(SAEConfig(kind="topk", d_in=384, width=64, k=8, site=SAE_SITE, model="whisper-tiny.en"), seed=1)
    return s


@pytest.fixture(scope="module")
def direct(tiny_en, corpus, sae):
    """Each clip's activations computed directly: (neurons at SITE, SAE features at SAE_SITE)."""
    neurons, features = [], []
    for c in corpus:
        audio = tiny_en.prepare(c.load(), 16000)
        neurons.append(read_activations(tiny_en, SITE, audio).numpy())
        with torch.no_grad():
            features.append(sae.encode(read_activations(tiny_en, SAE_SITE, audio)).numpy())
    return neurons, features


@pytest.fixture(scope="module")
def neuron_atlas(tiny_en, corpus, tmp_path_factory):
    return build_atlas(tiny_en, SITE, clips=corpus, out=tmp_path_factory.mktemp("atlas") / "neurons", units=UNITS,
                       top=2)


@pytest.fixture(scope="module")
def sae_atlas(tiny_en, corpus, sae, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sae")
    sae.save(folder / "sae")
    return build_atlas(tiny_en, SAE_SITE, sae=folder / "sae", clips=corpus, out=folder / "atlas", top=3)


def _expected_top(acts_per_clip, col, top, floor=-np.inf):
    peaks = [(float(a[:, col].max()), i) for i, a in enumerate(acts_per_clip)]
    return [i for p, i in sorted(peaks, key=lambda t: (-t[0], t[1])) if p > floor][:top]


def test_index_lists_every_unit_and_unit_files_parse(neuron_atlas, sae_atlas):
    for result, ids in ((neuron_atlas, UNITS), (sae_atlas, list(range(64)))):
        index = json.loads((result.out / "atlas.json").read_text())
        assert index["format"] == "speechlens.atlas/1" and [u["id"] for u in index["units"]] == ids
        assert set(index["units"][0]) == {"id", "density", "max", "mean", "words", "phonemes"}
        for uid in ids:
            unit = json.loads((result.out / "units" / f"{uid}.json").read_text())
            assert unit["id"] == uid
            for entry in unit["clips"]:
                clip = json.loads((result.out / "clips" / f"{entry['clip']}.json").read_text())
                assert (result.out / "clips" / f"{entry['clip']}.wav").stat().st_size > 44
                assert len(entry["acts"]) == math.ceil(round(clip["duration_s"] * 16000) / 320)  # 20 ms frames
                assert len(clip["words"]) > 0 if clip["kind"] == "speech" else clip["words"] == []
    assert sae_atlas.index["unit_kind"] == "feature" and sae_atlas.index["sae"]["width"] == 64


def test_top_clips_are_the_highest_activation_clips(neuron_atlas, sae_atlas, direct, corpus):
    neurons, features = direct
    keys = [clip_key(c.id) for c in corpus]
    for uid in UNITS:
        unit = json.loads((neuron_atlas.out / "units" / f"{uid}.json").read_text())
        assert [keys.index(e["clip"]) for e in unit["clips"]] == _expected_top(neurons, uid, 2)
        best = _expected_top(neurons, uid, 1)[0]
        np.testing.assert_allclose(unit["clips"][0]["acts"], neurons[best][:, uid], atol=2e-2, rtol=2e-3)
        assert unit["max"] == pytest.approx(max(float(a[:, uid].max()) for a in neurons), abs=1e-3)
    shown = 0
    for uid in range(64):
        unit = json.loads((sae_atlas.out / "units" / f"{uid}.json").read_text())
        assert [keys.index(e["clip"]) for e in unit["clips"]] == _expected_top(features, uid, 3, floor=0.0)
        shown += len(unit["clips"])
    assert shown > 0


def test_density_is_the_share_of_active_frames(neuron_atlas, sae_atlas, direct):
    neurons, features = direct
    all_n, all_f = np.concatenate(neurons), np.concatenate(features)
    for u in neuron_atlas.index["units"]:
        assert u["density"] == pytest.approx(float((all_n[:, u["id"]] > 0.5).mean()), abs=1e-6)
    dens = np.array([u["density"] for u in sae_atlas.index["units"]])
    np.testing.assert_allclose(dens, (all_f > 0).mean(axis=0), atol=1e-6)
    assert dens.sum() == pytest.approx(8.0, abs=0.5)  # TopK with k=8: about 8 active features per frame


def test_associations_find_the_label_a_unit_fires_on():
    stats = UnitStats(2, top=1, active_above=0.0)
    frame_s = 0.02
    for clip in range(3):
        acts = np.zeros((50, 2), dtype=np.float32)
        acts[10:20, 0] = 1.0  # unit 0 fires on "fox" (0.2-0.4 s)
        acts[30:40, 1] = 2.0  # unit 1 on "dog" / phoneme "g"
        stats.add(clip, acts, frame_s, words=[("Fox", 0.2, 0.4), ("dog", 0.6, 0.8)],
                  phonemes=[("f", 0.2, 0.3), ("E", 0.6, 0.7), ("e", 0.7, 0.8)])
    words = stats.associations("words")
    assert words[0][0][0] == "fox" and words[1][0][0] == "dog" and len(words[0]) == 1
    phonemes = stats.associations("phonemes")
    assert sorted(p[0] for p in phonemes[1]) == ["E", "e"] and phonemes[0][0][0] == "f"  # case kept for phonemes
    np.testing.assert_allclose(stats.density, [10 / 50, 10 / 50])
    dead = UnitStats(1, top=1, active_above=0.0)
    dead.add(0, np.zeros((5, 1)), frame_s, words=[("a", 0.0, 0.1)] * 2)
    assert dead.associations("words") == [[]]


def test_page_has_search_and_loads_the_index_relatively(neuron_atlas):
    html = (neuron_atlas.out / "index.html").read_text()
    assert '<input id="search"' in html and 'getJSON("atlas.json")' in html
    assert '"units/" + id + ".json"' in html and '"clips/" + key + ".json"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the network
    node = shutil.which("node")
    if node is not None:
        script = html.split("<script>", 1)[1].rsplit("</script>", 1)[0]
        js = neuron_atlas.out.parent / "page.js"
        js.write_text(script)
        assert subprocess.run([node, "--check", str(js)], check=False, capture_output=True).returncode == 0


def _jsdom_node():
    """``node`` where it can load the jsdom package (``NODE_PATH``), else None."""
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run([node, "-e", "require.resolve('jsdom')"], check=False, capture_output=True)
    return node if probe.returncode == 0 else None


def test_page_runs_in_a_dom(neuron_atlas):
    """The page itself, run in jsdom over HTTP: the index lists every unit, search finds one, a unit opens
    with a drawing and an audio player per top clip, and no script error. Skipped without node + jsdom
    (``npm install jsdom`` and ``NODE_PATH=<that>/node_modules``)."""
    import http.server
    import threading

    node = _jsdom_node()
    if node is None:
        pytest.skip("node with the jsdom package is not available (npm install jsdom; set NODE_PATH)")
    folder = str(neuron_atlas.out)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=folder, **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        script = Path(__file__).with_name("atlas_page_check.js")
        run = subprocess.run([node, str(script), url, "17"], check=False, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["rows"] == len(UNITS) and f"{len(UNITS)} neurons" in out["meta"]
    assert out["search_id_rows"] == 1 and out["search_nothing_rows"] == 0
    assert out["unit_title"] == "neuron 17" and out["canvases"] == 2 and len(out["audio"]) == 2
    assert all(re.fullmatch(r"clips/[0-9a-f]+\.wav", a) for a in out["audio"]) and out["draw_calls"] > 0
    assert out["error_box"] == "" and out["errors"] == []


def test_cli_end_to_end(tmp_path, capsys):
    from intervene.app.cli import main

    out = tmp_path / "atlas"
    assert main(["atlas", "--site", SITE, "--clips", "2", "--units", "3", "--top", "1", "--out", str(out),
                 "--no-progress", "--device", "cpu"]) == 0
    assert "3 neurons of encoder.0.mlp_hidden over 2 clips" in capsys.readouterr().out
    index = json.loads((out / "atlas.json").read_text())
    assert [u["id"] for u in index["units"]] == [0, 1, 2] and (out / "units" / "2.json").is_file()
    assert main(["atlas", "--site", "encoder.0.mlp_hiden", "--clips", "2", "--out", str(tmp_path / "x")]) == 2
    assert "mlp_hidden" in capsys.readouterr().err  # the close name is suggested


def test_bad_input_is_a_typed_error(tiny_en, corpus, tmp_path):
    wrong = SAE(SAEConfig(kind="relu", d_in=1536, width=64))
    with pytest.raises(ConfigError, match="d_in"):
        build_atlas(tiny_en, SAE_SITE, sae=wrong, clips=corpus, out=tmp_path / "a")
    other = SAE(SAEConfig(kind="relu", d_in=384, width=64, site="encoder.2.block_output"))
    with pytest.raises(ConfigError, match="encoder.2.block_output"):
        build_atlas(tiny_en, SAE_SITE, sae=other, clips=corpus, out=tmp_path / "a")
    with pytest.raises(UnknownNameError):
        build_atlas(tiny_en, "encoder.0.mlp_neurons", clips=corpus, out=tmp_path / "a")
    with pytest.raises(ConfigError, match="decoder|encoder site"):
        build_atlas(tiny_en, "decoder.0.mlp_hidden", clips=corpus, out=tmp_path / "a")
    with pytest.raises((ConfigError, DatasetError), match="empty"):
        build_atlas(tiny_en, SITE, clips=[], out=tmp_path / "a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        build_atlas(tiny_en, SITE, clips=corpus, out=tmp_path / "file")
    with pytest.raises(ConfigError, match="units"):
        build_atlas(tiny_en, SITE, clips=corpus, out=tmp_path / "a", units=[0, 1536])
    with pytest.raises(DatasetError):
        build_atlas(tiny_en, SAE_SITE, sae=tmp_path / "no-sae", clips=corpus, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()  # nothing is written before the inputs are checked
