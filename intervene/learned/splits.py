"""Group-disjoint splits (other voices held out), class checks, intervals and the control task.

Probes and DAS are judged on clips or pairs of voices they never saw: :func:`split_groups`
assigns whole groups (voices by default) to train / validation / test, and
:func:`check_split` refuses a split that leaves a class out of a part. :func:`control_labels`
is Hewitt & Liang's (2019) control task: every *type* gets a label drawn at random from the
empirical label distribution, so a probe can only learn it by memorising types.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tasks.checks import check_real
from tasks.errors import ConfigError

__all__ = ["split_groups", "check_labels", "check_split", "control_labels", "wilson_interval"]


def split_groups(groups, test=0.3, validation=0.0, seed: int = 0) -> tuple:
    """``(train, validation, test)`` sets of group names.

    Parameters
    ----------
    groups : sequence of str
        The group of each item (repeats allowed).
    test : float or sequence of str
        The fraction of groups held out for testing (at least one group), or the test groups.
    validation : float
        The fraction of the remaining groups kept for validation (0: none).
    seed : int
        Seeds the shuffle of the groups.

    Raises
    ------
    ConfigError
        Fewer than two groups, a test group that does not occur, or fractions out of range.
    """
    names = sorted(set(groups))
    if len(names) < 2:
        raise ConfigError(f"the items come from {len(names)} group(s) ({', '.join(names)}); a held-out split needs "
                          "at least two (e.g. two voices)")
    rng = np.random.default_rng(seed)
    if isinstance(test, str) or not hasattr(test, "__iter__"):
        frac = check_real("test", test, low=0, high=1, low_open=True, high_open=True)
        order = list(rng.permutation(names))
        n_test = min(len(names) - 1, max(1, int(round(frac * len(names)))))
        test_set, rest = set(order[:n_test]), order[n_test:]
    else:
        test_set = {str(t) for t in test}
        unknown = sorted(test_set - set(names))
        if unknown:
            raise ConfigError(f"test groups {unknown} do not occur; the groups are {', '.join(names)}")
        if len(test_set) >= len(names):
            raise ConfigError("test holds every group; leave at least one group to train on")
        rest = [n for n in rng.permutation(names) if n not in test_set]
    frac_v = check_real("validation", validation, low=0, high=1, high_open=True)
    n_val = 0 if frac_v == 0 else min(len(rest) - 1, max(1, int(round(frac_v * len(rest)))))
    if frac_v > 0 and n_val < 1:
        raise ConfigError(f"validation ({frac_v}) needs at least two groups besides the test groups; there are {len(rest)}")
    return set(rest[n_val:]), set(rest[:n_val]), test_set


def check_labels(labels, n: int, what: str = "labels") -> np.ndarray:
    """Labels as a str array of length ``n`` with at least two classes (ConfigError otherwise)."""
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise ConfigError(f"{what} ({labels!r:.60}) must be a label name or one label per clip")
    if len(labels) != n:
        raise ConfigError(f"{what} has {len(labels)} entries for {n} clips; give exactly one label per clip")
    arr = np.asarray([str(x) for x in labels])
    classes = sorted(set(arr.tolist()))
    if len(classes) < 2:
        raise ConfigError(f"{what} hold a single class ({classes[0] if classes else 'none'!r}); a probe needs at least two")
    return arr


def check_split(labels, part, parts: dict) -> None:
    """Refuse a split where a class occurs but is missing from one of ``parts`` (name -> mask)."""
    classes = sorted(set(np.asarray(labels).tolist()))
    for name, mask in parts.items():
        if not np.any(mask):
            raise ConfigError(f"the {name} part of the split is empty; give more groups")
        have = set(np.asarray(labels)[mask].tolist())
        missing = [c for c in classes if c not in have]
        if missing:
            raise ConfigError(
                f"the split leaves class(es) {missing} out of the {name} part ({part}); every class must occur in "
                "train and test: hold out other groups (test=[...]), or split by another unit (split='word' for "
                "speaker labels)"
            )


def control_labels(types, labels, train_mask, seed: int = 0) -> np.ndarray:
    """Hewitt & Liang's control task: one random label per type, drawn from the training labels'
    empirical distribution (seeded; drawn again while every type got the same label); every
    item of a type gets its type's label."""
    types = np.asarray(types)
    train = np.asarray(labels)[train_mask]
    counts = Counter(train.tolist())
    classes = sorted(counts)
    probs = np.array([counts[c] for c in classes], dtype=float)
    probs /= probs.sum()
    rng = np.random.default_rng(seed + 7919)
    names = sorted(set(types.tolist()))
    for _ in range(100):  # a draw of one class only would make the control task meaningless: draw again
        table = {t: classes[rng.choice(len(classes), p=probs)] for t in names}
        if len(set(table.values())) > 1 or len(names) < 2:
            break
    return np.asarray([table[t] for t in types.tolist()])


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval of a proportion (95% for z = 1.96); (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
