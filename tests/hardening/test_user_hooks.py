"""Class 5 of issue 12: the engine never removes forward hooks the user put on the model.

pyvene 0.1.8 removes every forward hook of the model it wraps (FACTS.md); before the fix,
``method="pyvene"`` and ``intervene.intervene`` left the user's hooks gone.
``intervene/methods/pyvene.py`` (``keep_user_hooks``) puts them back; this proves it for both.
"""

from __future__ import annotations

import pytest

import intervene
import tasks


@pytest.fixture
def user_hooks(tiny_whisper):
    """A forward hook and a pre-hook of the user's own, counting calls; removed afterwards."""
    calls = {"forward": 0, "pre": 0}
    layer = tiny_whisper.core.encoder.layers[0]
    fwd = layer.register_forward_hook(lambda m, i, o: calls.__setitem__("forward", calls["forward"] + 1))
    pre = tiny_whisper.core.decoder.layers[0].register_forward_pre_hook(
        lambda m, i: calls.__setitem__("pre", calls["pre"] + 1))
    yield layer, calls
    fwd.remove()
    pre.remove()


def _only_users_hook_left(layer) -> bool:
    """The user's hook is the one hook left besides transformers' own output-capturing hooks
    (transformers 5 installs those, for good, the first time a run asks for hidden states)."""
    ours = [h for h in layer._forward_hooks.values() if getattr(h, "__name__", "") != "output_capturing_hook"]
    return len(ours) == 1 and ours[0].__name__ == "<lambda>"


def _still_called(model, calls) -> bool:
    before = dict(calls)
    model.logits(model.inputs(tasks.speak("yes").audio))
    return calls["forward"] == before["forward"] + 1 and calls["pre"] == before["pre"] + 1


def test_pyvene_method_keeps_user_hooks(tiny_whisper, yes_no_pair, user_hooks):
    layer, calls = user_hooks
    _, pair = yes_no_pair
    intervene.patch(tiny_whisper, tasks.KeywordTask(["yes", "no"]), pair, "encoder.0.block_output",
                    method="pyvene", window_ms=200.0, guards=False)
    assert _only_users_hook_left(layer)
    assert _still_called(tiny_whisper, calls)


def test_single_intervention_keeps_user_hooks(tiny_whisper, yes_no_pair, user_hooks):
    layer, calls = user_hooks
    _, pair = yes_no_pair
    intervene.intervene(tiny_whisper, tasks.KeywordTask(["yes", "no"]), pair,
                        intervene.Intervention("encoder.1.block_output", times_s=(0.25, 0.7)))
    assert _only_users_hook_left(layer)
    assert _still_called(tiny_whisper, calls)
