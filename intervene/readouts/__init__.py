"""Readouts of a whole run: transcripts under intervention (WER, word statuses), the
teacher-forced log-probability of a reference transcript (the metric of :class:`tasks.TranscriptTask`),
and the non-speech rate."""

from intervene.readouts.logprob import transcript_logprob, transcript_pair
from intervene.readouts.nonspeech import NonSpeechResult, is_empty_transcript, nonspeech_clips, nonspeech_rate
from intervene.readouts.transcript import STATUSES, Transcript, TranscriptWord, align_words, transcribe

__all__ = [
    "transcribe",
    "Transcript",
    "TranscriptWord",
    "STATUSES",
    "align_words",
    "transcript_logprob",
    "transcript_pair",
    "nonspeech_rate",
    "nonspeech_clips",
    "NonSpeechResult",
    "is_empty_transcript",
]
