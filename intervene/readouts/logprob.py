"""Teacher-forced log-probability of a reference transcript: a sentence-level metric for maps.

:class:`TranscriptTask` plugs into :func:`intervene.patch` like a keyword task: the decoder is
fed the prompt and the reference transcript's tokens, and the metric is the summed
log-probability of those tokens and of the end of text (``include_end``). A map of an
ablation, window, head mask or steering intervention with it says how much each cell costs the
whole transcript, not one keyword. :func:`transcript_pair` makes the pair such a map needs
(the clip and a silent or noisy copy, so effects are normalised: 1 = as bad as losing the clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from intervene.anatomy.apply import applied, as_list
from intervene.anatomy.base import RunEnv
from intervene.readouts.transcript import normalize_words
from tasks.errors import ConfigError

__all__ = ["TranscriptTask", "TranscriptReadout", "transcript_logprob", "transcript_pair"]


def _check_text(text, name: str = "reference") -> str:
    if not isinstance(text, str) or not normalize_words(text):
        raise ConfigError(f"{name} ({text!r}) is an empty transcript; give the words the audio says")
    return " " + text.strip()


@dataclass
class TranscriptReadout:
    """Readout of a teacher-forced transcript (the :class:`tasks.readout.Readout` interface).

    ``decoder_input_ids``: ``(1, tokens)``, the prompt then the transcript's tokens; the metric
    is the sum of ``log p(token | before)`` over the transcript's tokens (and the end token).
    """

    decoder_input_ids: torch.Tensor
    targets: torch.Tensor  # token ids read, from the last prompt position on
    text: str
    prompt_length: int
    metric_name: str = "transcript_logprob"
    words: list = field(default_factory=list)

    @property
    def clean_answer(self) -> str:
        return self.text

    @property
    def corrupt_answer(self) -> str:
        return self.text

    @property
    def prefix_length(self) -> int:
        return int(self.decoder_input_ids.shape[1])

    def to(self, device) -> "TranscriptReadout":
        self.decoder_input_ids = self.decoder_input_ids.to(device)
        self.targets = self.targets.to(device)
        return self

    def token_logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        """``(..., n_targets)`` log-probabilities of the reference tokens; ``logits (..., 1, T, vocab)``."""
        start = self.prompt_length - 1
        picked = logits[..., 0, start : start + self.targets.shape[0], :].float()
        logp = torch.log_softmax(picked, dim=-1)
        return torch.gather(logp, -1, self.targets.to(logp.device).expand(*logp.shape[:-1])[..., None])[..., 0]

    def metric(self, logits: torch.Tensor) -> torch.Tensor:
        return self.token_logprobs(logits).sum(-1)

    def word_scores(self, logits: torch.Tensor) -> torch.Tensor:
        return self.metric(logits)[..., None]


@dataclass
class TranscriptTask:
    """The task "say this transcript", scored by its teacher-forced log-probability.

    Parameters
    ----------
    text : str, optional
        The reference transcript; default: the pair's ``metadata["text"]``.
    include_end : bool
        Also score the end-of-text token (a transcript that stops early or runs on costs).

    Examples
    --------
    >>> task = TranscriptTask("the quick brown fox")  # doctest: +SKIP
    >>> cmap = intervene.patch(m, task, transcript_pair(utt), "decoder.cross_attention_head",  # doctest: +SKIP
    ...                        unit="all", method="head_mask", direction="noise")
    """

    text: str | None = None
    include_end: bool = True
    name: str = field(default="transcript", init=False)

    def __post_init__(self):
        if self.text is not None:
            _check_text(self.text, "text")

    def to_dict(self) -> dict:
        return {"kind": self.name, "text": self.text, "include_end": self.include_end}

    def answers(self, pair) -> tuple[str, str]:
        text = self.text or (getattr(pair, "metadata", None) or {}).get("text")
        _check_text(text, "the reference transcript (TranscriptTask.text or pair.metadata['text'])")
        return text, text

    def readout(self, model, clean_answer: str, corrupt_answer: str | None = None) -> TranscriptReadout:
        text = _check_text(clean_answer)
        tokens = list(model.tokenizer.encode(text, add_special_tokens=False))
        prompt = list(model.prompt_ids)
        targets = tokens + ([model.eot_id] if self.include_end else [])
        ids = torch.tensor([prompt + tokens], dtype=torch.long, device=model.device)
        return TranscriptReadout(ids, torch.tensor(targets, dtype=torch.long, device=model.device), text.strip(),
                                 len(prompt), words=[text.strip()])


@torch.no_grad()
def transcript_logprob(model, audio, reference: str, sample_rate: int = 16000, interventions=(),
                       include_end: bool = True) -> float:
    """Teacher-forced log-probability (nats) of ``reference`` given ``audio``, interventions held on."""
    readout = TranscriptTask(reference, include_end).readout(model, reference)
    audio_in = getattr(audio, "audio", audio)
    rate = int(getattr(audio, "sample_rate", sample_rate))
    inputs = model.inputs(audio_in, rate, readout.decoder_input_ids)
    with applied(model, as_list(interventions), RunEnv(model, inputs)):
        logits = model.logits(inputs)
    return float(readout.metric(logits).reshape(-1)[0])


def transcript_pair(utterance, corrupt: str = "silence", snr_db: float = 0.0, seed: int = 0):
    """A MinimalPair of ``utterance`` and a silent (or noisy: ``corrupt="noise"``) copy, for
    :class:`TranscriptTask` maps (the text rides in ``metadata["text"]``)."""
    from corruptions import MinimalPair

    audio = np.asarray(utterance.audio, dtype=np.float32)
    if corrupt == "silence":
        other = np.zeros_like(audio)
    elif corrupt == "noise":
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(audio.shape).astype(np.float32)
        power = float(np.mean(audio**2)) or 1e-8
        other = (audio + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)
    else:
        raise ConfigError(f"corrupt ({corrupt!r}) must be 'silence' or 'noise'")
    text = getattr(utterance, "text", "")
    _check_text(text, "utterance.text")
    dur = audio.shape[0] / utterance.sample_rate
    return MinimalPair(clean=audio, corrupt=other, sample_rate=utterance.sample_rate, clean_answer=text,
                       corrupt_answer=text, changed_spans=[(0.0, dur)], corruption={"kind": corrupt},
                       params={"snr_db": snr_db} if corrupt == "noise" else {}, seed=seed,
                       words=tuple(getattr(utterance, "words", ())), metadata={"text": text})
