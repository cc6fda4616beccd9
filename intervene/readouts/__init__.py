"""Readouts of a whole run: transcripts under intervention (WER, word statuses), the
teacher-forced log-probability of a reference transcript, and the non-speech rate."""

from intervene.readouts.logprob import TranscriptReadout, TranscriptTask, transcript_logprob, transcript_pair
from intervene.readouts.nonspeech import NonSpeechResult, is_empty_transcript, nonspeech_clips, nonspeech_rate
from intervene.readouts.transcript import STATUSES, Transcript, TranscriptWord, align_words, transcribe

__all__ = [
    "transcribe",
    "Transcript",
    "TranscriptWord",
    "STATUSES",
    "align_words",
    "TranscriptTask",
    "TranscriptReadout",
    "transcript_logprob",
    "transcript_pair",
    "nonspeech_rate",
    "nonspeech_clips",
    "NonSpeechResult",
    "is_empty_transcript",
]
