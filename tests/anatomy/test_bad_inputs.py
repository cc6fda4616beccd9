"""Bad input to the anatomy API gets a typed error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import intervene
from intervene.anatomy import Ablation, AttentionWindow, HeadMask, RunEnv, Steering, applied
from tasks.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "10"])
def test_window_k_below_one_or_not_an_integer(k):
    with pytest.raises(ConfigError, match=r"^k \("):
        AttentionWindow(k)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -float("inf"), "big", None])
def test_alpha_not_finite(alpha, vec16):
    with pytest.raises(ConfigError, match=r"^alpha \("):
        Steering("encoder.0.block_output", vec16, alpha)


@pytest.mark.parametrize("direction,match", [
    (np.zeros(16), "all zeros"),
    (np.array([1.0, np.nan]), "non-finite"),
    (np.ones((2, 8)), "1-D"),
    ([], "1-D"),
])
def test_bad_direction(direction, match):
    with pytest.raises(ConfigError, match=f"direction.*{match}|{match}.*direction|^direction"):
        Steering("encoder.0.block_output", direction, 1.0)


def test_direction_of_the_wrong_size(tiny_whisper):
    steer = Steering("encoder.0.block_output", np.ones(10), 1.0)
    with pytest.raises(ConfigError, match=r"direction has 10 values .* 16"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), interventions=steer)
    head = Steering("decoder.0.cross_attention_head.1", np.ones(16), 1.0)  # a head has 8
    with pytest.raises(ConfigError, match=r"direction has 16 values .* 8"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), interventions=head)


def test_head_index_out_of_range(tiny_whisper):
    env = RunEnv(tiny_whisper, tiny_whisper.inputs(np.zeros(8000, np.float32)))
    with pytest.raises(ConfigError, match=r"HeadMask\(site='decoder.1.cross_attention_head.7'\).*head 7 is out of range"):
        with applied(tiny_whisper, HeadMask("decoder.1.cross_attention_head.7"), env):
            pass
    with pytest.raises(ConfigError, match=r"heads \[5\]: head 5 is out of range \(0\.\.1\)"):
        with applied(tiny_whisper, AttentionWindow(3, heads=[5]), env):
            pass
    with pytest.raises(ConfigError, match=r"layers \[9\] are out of range"):
        with applied(tiny_whisper, AttentionWindow(3, layers=9), env):
            pass
    with pytest.raises(ConfigError, match="must name one head"):
        HeadMask("decoder.1.cross_attention_output")


def test_reference_set_of_zero_clips(tiny_whisper, yes_no_pair):
    with pytest.raises(ConfigError, match="reference is a reference set of zero clips"):
        Ablation("encoder.0.block_output", kind="mean", reference=[])
    with pytest.raises(ConfigError, match="clips_a is a reference set of zero clips"):
        intervene.direction(tiny_whisper, "encoder.0.block_output", [], [yes_no_pair[0]])
    with pytest.raises(ConfigError, match="clips_b is a reference set of zero clips"):
        intervene.direction(tiny_whisper, "encoder.0.block_output", [yes_no_pair[0]], ())
    with pytest.raises(ConfigError, match="needs reference"):
        Ablation("encoder.0.block_output", kind="mean")
    with pytest.raises(ConfigError, match="takes one clip"):
        Ablation("encoder.0.block_output", kind="resample", reference=[np.zeros(10), np.zeros(10)])
    with pytest.raises(ConfigError, match="reference applies to kind 'mean' or 'resample'"):
        Ablation("encoder.0.block_output", kind="zero", reference=[np.zeros(10)])


@pytest.mark.parametrize("reference", ["", "   ", " ,.! ", ["", ""]])
def test_empty_reference_transcript(tiny_whisper, reference):
    with pytest.raises(ConfigError, match=r"^reference"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), reference=reference)
    if isinstance(reference, str):
        with pytest.raises(ConfigError, match="empty transcript"):
            intervene.transcript_logprob(tiny_whisper, np.zeros(8000, np.float32), reference)


def test_other_bad_values(tiny_whisper):
    with pytest.raises(UnknownNameError, match="ablation kind"):
        Ablation("encoder.0.block_output", kind="noise")
    with pytest.raises(ConfigError, match=r"times_s"):
        Ablation("encoder.0.block_output", times_s=(0.5, 0.2))
    with pytest.raises(ConfigError, match="not an intervention"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), interventions=["zero"])
    with pytest.raises(ConfigError, match=r"Ablation.site is None"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), interventions=Ablation(None))
    with pytest.raises(ConfigError, match="times_s selects encoder frames"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32),
                             interventions=Ablation("decoder.0.block_output", times_s=(0.0, 0.1)))


def test_decoder_mean_ablation_cannot_be_held_on_while_decoding(tiny_whisper):
    from tasks.errors import CapabilityError

    iv = Ablation("decoder.0.block_output", kind="silence")
    with pytest.raises(CapabilityError, match="grows while decoding"):
        intervene.transcribe(tiny_whisper, np.zeros(8000, np.float32), interventions=iv)
