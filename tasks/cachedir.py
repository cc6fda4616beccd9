"""Where SpeechLens keeps files it makes once and reuses (converted models, the espeak library copy).

``$SPEECHLENS_CACHE`` if set, else ``$XDG_CACHE_HOME/speechlens``, else ``~/.cache/speechlens``.
Defined in :mod:`tasks` (the first package on the data path) so every package shares one rule.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache folder (SPEECHLENS_CACHE overrides XDG_CACHE_HOME); not created here."""
    if os.environ.get("SPEECHLENS_CACHE"):
        return Path(os.environ["SPEECHLENS_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "speechlens"
