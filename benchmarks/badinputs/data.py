"""``bad_inputs.py --data SPEC``: the battery's reading of a user's own dataset, clip by clip.

Every clip of each spec becomes a probe (area ``data``) that reads it the way the benchmarks
do: the audio through the dataset reader and :func:`tasks.audio.prepare_audio` (16 kHz mono,
finite, not empty), the transcript, and the word spans (given, or from a TextGrid; no model
is run). A clip that reads cleanly is ``accepted``; one the readers refuse is ``typed`` with
``unexpected: true``, and its message names the file and the rule: that list is the dataset's
health report. Anything else (a raw exception, spans outside the clip) is a SpeechLens bug
and counts against the battery like any other probe.
"""

from __future__ import annotations

import math

from benchmarks.badinputs import Probe

__all__ = ["data_probes"]


def _read(clip) -> dict:
    from tasks.audio import prepare_audio

    audio = prepare_audio(clip.audio, clip.sample_rate, name=f"audio of clip {clip.id!r}")
    words = clip.words
    return {"samples": int(audio.shape[0]), "duration_s": audio.shape[0] / 16000, "text": clip.text,
            "words": [tuple(w)[:3] for w in words]}  # fmt: skip


def _check(result: dict, env) -> str | None:
    duration = result["duration_s"]
    for w in result["words"]:
        word, start, end = w
        if not (math.isfinite(start) and math.isfinite(end) and 0.0 <= start <= end <= duration + 0.02):
            return f"word span {w} lies outside the clip (0-{duration:.2f} s)"
    return None


def data_probes(specs, max_clips: int | None = None) -> list[Probe]:
    """One probe per clip (the first ``max_clips`` of each spec); opening a spec is a probe too."""
    import tasks

    probes = []
    for spec in specs:
        try:
            data = tasks.open_dataset(spec)
        except Exception as exc:  # noqa: BLE001 (the opening itself is judged as a probe)
            def reopen(env, spec=spec, exc=exc):
                raise exc

            probes.append(Probe(f"data/{spec}/open", reopen, expect="accept"))
            continue
        n = len(data) if max_clips is None else min(len(data), max_clips)
        for i in range(n):
            def run(env, data=data, i=i):
                return _read(data[i])

            probes.append(Probe(f"data/{spec}/{data[i].id}", run, expect="accept", check=_check))
    return probes
