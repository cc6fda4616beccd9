"""pyvene, imported once and quietly.

pyvene 0.1.8 prints a line about nnsight to stdout on import; that line would corrupt the
CLI's machine-readable output, so the import goes through here.
"""

from __future__ import annotations

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    import pyvene  # noqa: E402
    from pyvene.models.constants import CONST_INPUT_HOOK, CONST_OUTPUT_HOOK, split_head_and_permute  # noqa: E402

__all__ = ["pyvene", "CONST_INPUT_HOOK", "CONST_OUTPUT_HOOK", "split_head_and_permute"]
