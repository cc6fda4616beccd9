"""Sparse autoencoders: planted-feature recovery, save/load (ours and SAELens's loader), resume, typed errors."""

from __future__ import annotations

import json

import pytest
import torch

from intervene.features import SAE, SAEConfig
from intervene.features.evaluate import evaluate, match_directions, stability
from intervene.features.train import TrainConfig, fit_sae, train_sae
from tasks.errors import ConfigError, DatasetError, UnknownNameError

D_IN, N_TRUE = 16, 24
SITE = "encoder.1.block_output"  # tiny_whisper: d_model 16


def _directions():
    g = torch.Generator().manual_seed(0)
    d = torch.randn(N_TRUE, D_IN, generator=g)
    return d / d.norm(dim=1, keepdim=True)


def planted(n: int, seed: int, k: int = 3) -> torch.Tensor:
    """Frames that are sparse sums (3 of 24 known unit directions, magnitudes 0.5-1.5) plus an offset."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(n, N_TRUE, generator=g).argsort(1)[:, :k]
    coef = torch.zeros(n, N_TRUE).scatter_(1, idx, torch.rand(n, k, generator=g) + 0.5)
    return coef @ _directions() + 0.3


FAST = dict(steps=600, batch_size=128, lr=3e-3, l1=0.3)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    x = planted(8000, seed=1)
    return {kind: fit_sae(x, SAEConfig(kind, D_IN, 32, k), TrainConfig(**FAST))
            for kind, k in (("topk", 3), ("batch_topk", 3), ("relu", None))}


@pytest.mark.parametrize("kind", ["topk", "batch_topk", "relu"])
def test_recovers_planted_directions(trained, kind):
    sae = trained[kind]
    cos = match_directions(sae, _directions())
    assert float((cos > 0.9).float().mean()) >= 0.9, cos
    m = evaluate(sae, planted(2000, seed=2))  # held-out frames
    assert m["explained_variance"] > 0.9
    if kind != "relu":
        assert m["l0"] <= 3.0 + 1e-9 if kind == "topk" else 2.0 < m["l0"] < 4.0
    else:
        assert m["l0"] < 12
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(32), atol=1e-5)
    assert 0.0 <= m["dead_fraction"] < 0.5 and m["frequency"].shape == (32,)


def test_stability_between_seeds(trained):
    x = planted(8000, seed=1)
    other = fit_sae(x, SAEConfig("topk", D_IN, 32, 3), TrainConfig(**FAST, seed=1))
    assert stability(trained["topk"], other) >= 0.6
    assert stability(trained["topk"], trained["topk"]) == 1.0


def test_save_load_round_trip(trained, tmp_path):
    for kind, sae in trained.items():
        folder = sae.save(tmp_path / kind)
        back = SAE.load(folder)
        assert back.config == sae.config and back.digest() == sae.digest()
        x = planted(50, seed=3)
        torch.testing.assert_close(back(x), sae(x), rtol=0, atol=0)
    cfg = json.loads((tmp_path / "topk" / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["d_sae"] == 32 and cfg["k"] == 3
    weights = tmp_path / "relu" / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\1\2\3\4")
    with pytest.raises(DatasetError, match="checksum"):
        SAE.load(tmp_path / "relu")
    with pytest.raises(DatasetError, match="does not exist"):
        SAE.load(tmp_path / "nowhere")


def test_saelens_loads_our_sae(trained, tmp_path):
    sae_lens = pytest.importorskip("sae_lens")
    x = planted(20, seed=4)
    for kind in ("topk", "batch_topk", "relu"):
        ours = trained[kind]
        theirs = sae_lens.SAE.load_from_disk(str(ours.save(tmp_path / kind)), device="cpu")
        with torch.no_grad():
            torch.testing.assert_close(theirs.encode(x), ours.encode(x), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(theirs.decode(ours.encode(x)), ours(x), rtol=1e-5, atol=1e-5)


def test_train_sae_on_model_site_and_resume(tiny_whisper, tmp_path, monkeypatch):
    x = planted(3000, seed=5)
    opts = dict(steps=200, batch_size=64, checkpoint_every=50, seed=3)
    whole = train_sae(tiny_whisper, SITE, x, kind="topk", width=24, k=2, **opts)
    assert whole.site == SITE and whole.d_in == 16 and whole.config.training["steps"] == 200
    calls = {"n": 0}
    original = SAE.normalize_decoder

    def interrupt(self):
        calls["n"] += 1
        if calls["n"] == 120:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(SAE, "normalize_decoder", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_sae(tiny_whisper, SITE, x, kind="topk", width=24, k=2, out=tmp_path, **opts)
    assert (tmp_path / "train_state.pt").is_file()
    monkeypatch.setattr(SAE, "normalize_decoder", original)
    resumed = train_sae(tiny_whisper, SITE, x, kind="topk", width=24, k=2, out=tmp_path, **opts)
    assert not (tmp_path / "train_state.pt").exists()
    assert resumed.digest() == whole.digest()  # picked up at step 100 and finished identically
    assert SAE.load(tmp_path).digest() == whole.digest()


def test_typed_errors(tiny_whisper):
    with pytest.raises(UnknownNameError, match="kind"):
        SAEConfig("gated", 16, 32, 4)
    with pytest.raises(ConfigError, match="at most width"):
        SAEConfig("topk", 16, 8, 9)
    with pytest.raises(ConfigError, match="width"):
        SAEConfig("topk", 16, 0, 1)
    with pytest.raises(ConfigError, match="needs k"):
        SAEConfig("batch_topk", 16, 8)
    x = planted(100, seed=6)
    with pytest.raises(ConfigError, match="at most width"):
        train_sae(tiny_whisper, SITE, x, kind="topk", width=4, k=5, steps=1)
    with pytest.raises(ConfigError, match="values per frame"):
        train_sae(tiny_whisper, SITE, torch.zeros(10, 8), kind="topk", width=4, k=2, steps=1)
    with pytest.raises(ConfigError, match="unknown training option"):
        train_sae(tiny_whisper, SITE, x, kind="topk", width=4, k=2, stepz=1)
    with pytest.raises(DatasetError, match="no activations"):
        train_sae(tiny_whisper, SITE, torch.zeros(0, 16), kind="topk", width=4, k=2, steps=1)
    with pytest.raises(ConfigError, match="steps"):
        TrainConfig(steps=0)
    sae = SAE(SAEConfig("topk", 16, 8, 2))
    with pytest.raises(ConfigError, match="reads 16"):
        sae.encode(torch.zeros(3, 12))
