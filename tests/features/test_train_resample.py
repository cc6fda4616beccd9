"""ReLU SAEs are never resampled in their last ``resample_every`` steps (a resample on the final step
left thousands of untrained features in the saved SAE: dense and far off in reconstruction)."""

from __future__ import annotations

import torch

from intervene.features import train as train_module
from intervene.features.sae import SAEConfig
from intervene.features.train import TrainConfig, fit_sae


def test_no_resampling_in_the_last_interval(monkeypatch):
    calls = []
    real = train_module._resample

    def spy(sae, opt, xs, dead, gen):
        calls.append(int(dead.sum()))
        return real(sae, opt, xs, dead, gen)

    monkeypatch.setattr(train_module, "_resample", spy)
    x = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    config = SAEConfig(kind="relu", d_in=8, width=32, k=None)
    # a huge L1 kills features at once; 30 steps with resampling every 10: at steps 10 and 20, not 30
    fit_sae(x, config, TrainConfig(steps=30, batch_size=16, lr=0.05, l1=50.0, dead_frames=16, resample_every=10))
    assert len(calls) == 2 and all(n > 0 for n in calls)
