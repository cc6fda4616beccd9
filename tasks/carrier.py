"""Carrier-sentence task: a keyword inside a sentence ("please say the word yes now").

The word is scored at its own decoder position under teacher forcing: the decoder is fed the
prompt and the carrier's words before the keyword (as Whisper would write them), and the
candidates are read at the next position. The keyword's time span in the audio is known from
the synthesizer's word events, so maps can be read against where the word is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.errors import ConfigError
from tasks.keyword import SPEECH_COMMANDS_CORE, KeywordTask
from tasks.utterance import Utterance

__all__ = ["CarrierTask"]


@dataclass
class CarrierTask(KeywordTask):
    """A keyword said inside a carrier sentence.

    Parameters
    ----------
    words : sequence of str
        Candidate keywords.
    template : str
        The sentence, with ``{word}`` where the keyword goes.

    Examples
    --------
    >>> task = CarrierTask(["yes", "no"])
    >>> utt = task.utterance("yes", voice="en-us")
    >>> task.sentence("yes"), utt.word_span("yes").start_s > 0.3
    ('please say the word yes now', True)
    """

    words: tuple = SPEECH_COMMANDS_CORE
    template: str = "please say the word {word} now"
    name: str = field(default="carrier", init=False)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.template, str):
            raise ConfigError(f"template ({self.template!r}) must be a string with '{{word}}' where the keyword goes")
        if self.template.count("{word}") != 1:
            raise ConfigError(f"template ({self.template!r}) must contain '{{word}}' exactly once")
        if not self.template.split("{word}")[0].strip():
            raise ConfigError(f"template ({self.template!r}) needs words before '{{word}}'; use KeywordTask otherwise")

    def to_dict(self) -> dict:
        return {"kind": self.name, "words": list(self.words), "template": self.template}

    def sentence(self, word: str) -> str:
        """The template with ``word`` in place (other braces in the template are kept as written)."""
        if not isinstance(word, str) or not word.strip():
            raise ConfigError(f"word ({word!r}) must be a non-empty string")
        return self.template.replace("{word}", word.strip())

    def carrier_prefix_text(self) -> str:
        """The words before the keyword as Whisper writes them: capitalised, leading space."""
        text = self.template.split("{word}")[0].strip()
        return " " + text[0].upper() + text[1:]

    def prefix_ids(self, model) -> list:
        extra = model.tokenizer.encode(self.carrier_prefix_text(), add_special_tokens=False)
        return list(model.prompt_ids) + list(extra)

    def utterance(self, word: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> Utterance:
        """The carrier sentence with ``word``, synthesized offline."""
        from tasks.tts import speak

        utt = speak(self.sentence(word), voice=voice, rate=rate, pitch=pitch)
        utt.word_span(word)  # raises if the synthesizer merged the keyword into another word
        return utt
