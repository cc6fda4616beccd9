"""Labels for probes, read off the clips themselves (so that nobody types them by hand).

=============  ============  ================================================================
name           per           value
=============  ============  ================================================================
``keyword``    clip          the word the clip says (``clip.text``, else its first word span)
``speaker``    clip          ``clip.speaker`` (synthesized: voice, rate and pitch)
``voice``      clip          ``clip.voice`` (the espeak-ng voice)
``gender``     clip          the gender line of the voice's espeak-ng variant file (``+f3``:
                             female); a voice without a variant is espeak's default, male
``speech``     frame         "speech" inside a word span, "non-speech" outside
``phoneme``    frame         the class of the frame's phoneme (:mod:`intervene.learned.phonemes`)
=============  ============  ================================================================

Groups for splits (:func:`groups_of`) and the types of Hewitt & Liang's control task
(:func:`control_types`) come from the same clip attributes.
"""

from __future__ import annotations

import functools

import numpy as np

from tasks.errors import ConfigError, unknown_name

__all__ = ["CLIP_LABELS", "FRAME_LABELS", "LABELS", "clip_labels", "frame_labels", "voice_gender", "groups_of",
           "control_types"]

CLIP_LABELS = ("keyword", "speaker", "voice", "gender")
FRAME_LABELS = ("speech", "phoneme")
LABELS = CLIP_LABELS + FRAME_LABELS


def _need(clip, name: str, label: str):
    value = getattr(clip, name, None)
    if value in (None, ""):
        raise ConfigError(f"labels={label!r} needs clips with .{name} (e.g. from tasks.speak); clip {clip!r:.60} has none")
    return value


def _keyword(clip) -> str:
    text = getattr(clip, "text", "") or ""
    if text.strip():
        return text.strip().lower()
    words = getattr(clip, "words", ()) or ()
    if words:
        return str(words[0].word).lower()
    raise ConfigError(f"labels='keyword' needs clips that say a word (.text or .words); clip {clip!r:.60} has neither")


@functools.lru_cache(maxsize=256)
def voice_gender(voice: str) -> str:
    """"female" or "male" for an espeak-ng voice name such as ``"en-us+f3"``.

    Raises
    ------
    ConfigError
        The voice's variant file declares no gender.

    Examples
    --------
    >>> voice_gender("en-us+f3"), voice_gender("en-gb-x-rp"), voice_gender("en+m7")
    ('female', 'male', 'male')
    """
    from tasks import _espeak

    base, plus, variant = str(voice).partition("+")
    if not plus:
        return "male"  # espeak-ng's default voice
    path = _espeak._data_path() / "voices" / "!v" / variant
    if path.is_file():
        for line in path.read_text(errors="ignore").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "gender" and parts[1] in ("male", "female"):
                return parts[1]
    raise ConfigError(f"voice {voice!r}: its variant {variant!r} declares no gender; use voices with +f*/+m* variants")


def clip_labels(clips, name: str) -> list:
    """One label per clip for a clip-level label ``name`` (see the module table)."""
    if name == "keyword":
        return [_keyword(c) for c in clips]
    if name == "speaker":
        return [str(_need(c, "speaker", name)) for c in clips]
    if name == "voice":
        return [str(_need(c, "voice", name)) for c in clips]
    if name == "gender":
        return [voice_gender(_need(c, "voice", name)) for c in clips]
    raise unknown_name("clip label", name, CLIP_LABELS)


def frame_labels(clip, name: str, n_frames: int, frame_s: float) -> np.ndarray:
    """Labels of the first ``n_frames`` frames of ``clip`` for a frame-level label: str (n_frames,)."""
    if name == "speech":
        centres = (np.arange(n_frames) + 0.5) * frame_s
        inside = np.zeros(n_frames, dtype=bool)
        for w in getattr(clip, "words", ()) or ():
            inside |= (centres >= w.start_s) & (centres < w.end_s)
        if not getattr(clip, "words", ()):
            raise ConfigError("labels='speech' needs clips with word spans (.words)")
        return np.where(inside, "speech", "non-speech").astype(str)
    if name == "phoneme":
        from intervene.learned.phonemes import frame_phonemes

        return frame_phonemes(clip, n_frames, frame_s)
    raise unknown_name("frame label", name, FRAME_LABELS)


def groups_of(clips, split) -> list:
    """The split group of each clip: ``split`` "voice" (default unit: other voices are held out),
    "speaker", "word", or a list of one group per clip."""
    if isinstance(split, str):
        if split == "voice":
            return [str(_need(c, "voice", "split='voice'")) for c in clips]
        if split == "speaker":
            return [str(_need(c, "speaker", "split='speaker'")) for c in clips]
        if split == "word":
            return [_keyword(c) for c in clips]
        raise unknown_name("split", split, ("voice", "speaker", "word"))
    groups = list(split)
    if len(groups) != len(clips):
        raise ConfigError(f"split has {len(groups)} groups for {len(clips)} clips; give one group per clip")
    return [str(g) for g in groups]


def control_types(clips, control_by) -> list:
    """The type of each clip for the control task: "word" (the text, Hewitt & Liang's word type),
    "utterance" (text, rate and pitch: the same words said alike by another voice), or one
    type per clip."""
    if isinstance(control_by, str):
        if control_by == "word":
            return [_keyword(c) for c in clips]
        if control_by == "utterance":
            return [f"{_keyword(c)}|{getattr(c, 'rate', None)}|{getattr(c, 'pitch', None)}" for c in clips]
        raise unknown_name("control_by", control_by, ("word", "utterance"))
    types = list(control_by)
    if len(types) != len(clips):
        raise ConfigError(f"control_by has {len(types)} types for {len(clips)} clips; give one per clip")
    return [str(t) for t in types]
