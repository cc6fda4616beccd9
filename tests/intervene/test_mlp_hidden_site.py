"""The ``mlp_hidden`` site (Whisper's MLP neurons) equals a plain torch hook on ``fc1`` followed by
the layer's activation function, on the real whisper-tiny.en."""

from __future__ import annotations

import torch

import tasks
from intervene import hooks
from intervene.sites import Site


def test_mlp_hidden_matches_fc1_plus_activation(tiny_en):
    site = Site("encoder", 3, "mlp_hidden")
    r = tiny_en.resolve(site)
    layer = tiny_en.model.model.encoder.layers[3]
    assert r.module is layer.fc2
    assert tiny_en.site(site.key).key == "encoder.3.mlp_hidden"
    audio = tasks.speak("turn the lights off").audio
    inputs = tiny_en.inputs(audio, 16000)
    got = {}
    handle = layer.fc1.register_forward_hook(lambda _m, _a, out: got.__setitem__("fc1", out.detach()))
    try:
        with torch.no_grad(), hooks.capture(tiny_en, [site]) as acts:
            tiny_en.logits(inputs)
    finally:
        handle.remove()
    expected = layer.activation_fn(got["fc1"])
    x = acts[site]
    assert x.shape == (1, 1500, 4 * tiny_en.config.d_model) == (1, 1500, tiny_en.config.encoder_ffn_dim)
    assert torch.equal(x, expected)
    # GELU: negative values occur but are bounded below by about -0.17; the hidden layer is not fc1's output
    assert float(x.min()) >= -0.2 and not torch.equal(x, got["fc1"])


def test_mlp_hidden_listed_for_both_streams(tiny_en):
    keys = {s.key for s in tiny_en.sites()}
    assert {"encoder.0.mlp_hidden", "encoder.3.mlp_hidden", "decoder.3.mlp_hidden"} <= keys
