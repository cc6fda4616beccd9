"""JSON conversion, defined once for every file SpeechLens writes.

:func:`to_jsonable` turns numpy scalars and arrays, tuples, paths and objects with
``to_dict()`` into plain JSON types; NaN and infinities become None (strict JSON has no such
numbers) unless ``strict=False`` (corruption parameters such as ``snr_db=inf`` keep their
value; Python's json writes them as ``Infinity``). Pairs, maps, work stores and reports all go
through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tasks.errors import ConfigError

__all__ = ["to_jsonable"]


def to_jsonable(value: Any, strict: bool = True) -> Any:
    """``value`` as plain JSON types.

    Raises
    ------
    ConfigError
        A value of a type JSON cannot hold.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(0.5), "b": (1, float("nan")), 3: np.arange(2)})
    {'a': 0.5, 'b': [1, None], '3': [0, 1]}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) or not strict else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, strict) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), strict)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, strict) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict(), strict)
    raise ConfigError(f"a value of type {type(value).__name__} ({value!r:.60}) cannot be written as JSON")
