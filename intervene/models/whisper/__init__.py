"""Whisper's adapter: the model wrapper and site table (:mod:`.model`), its forward pass in
pieces (:mod:`.runner`), the fast exact-patching runner (:mod:`.exact`) and the lookahead
attribution estimator (:mod:`.lookahead`)."""

from intervene.models.whisper.model import WHISPER_SITES, WhisperSpeechModel

__all__ = ["WHISPER_SITES", "WhisperSpeechModel"]
