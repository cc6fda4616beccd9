"""Teacher-forced log-probability of a reference transcript under intervention (a sentence-level metric).

The metric is :class:`tasks.TranscriptTask`'s ``transcript_logprob`` (the summed log-probability
of every word of the reference transcript, teacher-forced after Whisper's prompt), which plugs
into :func:`intervene.patch` like a keyword task. :func:`transcript_pair` makes the pair a map
with it needs: the clip and a silent (or noisy) copy, so effects are normalised (noising:
1 = the intervention costs the transcript as much as losing the clip). :func:`transcript_logprob`
scores one clip with interventions held on.
"""

from __future__ import annotations

import numpy as np
import torch

from intervene.anatomy.apply import applied, as_list
from intervene.anatomy.base import RunEnv, as_clip
from intervene.readouts.transcript import normalize_words
from tasks.errors import ConfigError

__all__ = ["transcript_logprob", "transcript_pair"]


@torch.no_grad()
def transcript_logprob(model, audio, reference: str, sample_rate: int = 16000, interventions=()) -> float:
    """Teacher-forced log-probability (nats) of ``reference`` given ``audio``, interventions held on.

    Parameters
    ----------
    model : SpeechModel
        A model with a decoder (Whisper).
    audio : np.ndarray (samples,) or Utterance
    reference : str
        The transcript (its words' tokens are scored, as :class:`tasks.TranscriptTask` does).
    interventions : intervention or list of them

    Raises
    ------
    ConfigError
        An empty reference; a model without a decoder.
    """
    from tasks.transcript import TranscriptTask

    if not isinstance(reference, str) or not normalize_words(reference):
        raise ConfigError(f"reference ({reference!r}) is an empty transcript; give the words the audio says")
    readout = TranscriptTask(reference).readout(model, reference)
    clip = as_clip(audio, "audio", sample_rate)
    inputs = model.inputs(clip.audio, clip.sample_rate, readout.decoder_input_ids)
    with applied(model, as_list(interventions), RunEnv(model, inputs)):
        logits = model.logits(inputs)
    return float(readout.metric(logits).reshape(-1)[0])


def transcript_pair(utterance, corrupt: str = "silence", snr_db: float = 0.0, seed: int = 0):
    """A MinimalPair of ``utterance`` and a silent (or noisy: ``corrupt="noise"``) copy, for
    whole-transcript maps with :class:`tasks.TranscriptTask` (the text rides in
    ``metadata["text"]``; no target word, so the metric is ``transcript_logprob``).

    Raises
    ------
    ConfigError
        An utterance without text, or an unknown ``corrupt``.
    """
    from corruptions import MinimalPair

    text = getattr(utterance, "text", "")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("utterance.text is empty; the transcript pair needs the words the audio says")
    audio = np.asarray(utterance.audio, dtype=np.float32)
    if corrupt == "silence":
        other = np.zeros_like(audio)
    elif corrupt == "noise":
        noise = np.random.default_rng(seed).standard_normal(audio.shape).astype(np.float32)
        power = float(np.mean(audio**2)) or 1e-8
        other = (audio + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)
    else:
        raise ConfigError(f"corrupt ({corrupt!r}) must be 'silence' or 'noise'")
    duration_s = audio.shape[0] / utterance.sample_rate
    return MinimalPair(clean=audio, corrupt=other, sample_rate=utterance.sample_rate, clean_answer=None,
                       corrupt_answer=None, changed_spans=[(0.0, duration_s)], corruption={"kind": corrupt},
                       params={"snr_db": snr_db} if corrupt == "noise" else {}, seed=seed,
                       words=tuple(getattr(utterance, "words", ())), metadata={"text": text})
