"""Where a benchmark's sweeps run: ``--executor local|ray`` and the Ray options, added once.

Scripts that sweep pass ``scaleout=True`` to :func:`~benchmarks.common.settings.parse_settings`;
their command line (and config file) then takes::

    --executor {local,ray}      in this process (default) or on Ray actors
    --ray-address ADDR          an existing cluster (HOST:6379, ray://HOST:10001, auto);
                                default: RAY_ADDRESS, else a Ray started on this machine
    --actors N                  default: the cluster's CPUs // threads per actor (or its GPUs)
    --threads-per-actor N       torch threads (and Ray CPUs) per actor (default: 1)
    --gpus-per-actor G          default: 1 when the cluster has GPUs, else 0
    --wait-timeout-s S          give up when no unit finishes for S seconds (default: 3600)

Ray is joined (or started) only when a unit must be computed: a resumed run whose units are
all stored never starts it.

None of these changes a number (a unit's result is the same wherever it runs), so they are
run options (:class:`ExecutorOptions` in ``run.scaleout``), not settings: a run resumed with
another executor reuses the work already stored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tasks.errors import ConfigError

__all__ = ["SCALEOUT_KEYS", "ExecutorOptions", "add_scaleout_arguments"]

SCALEOUT_KEYS = ("executor", "ray_address", "actors", "threads_per_actor", "gpus_per_actor", "wait_timeout_s")
"""Config-file keys (and ``dest`` of the flags) of :class:`ExecutorOptions`."""


def _whole(name: str, value, low: int):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} ({value!r}) must be a whole number >= {low}")
    return value


@dataclass(frozen=True)
class ExecutorOptions:
    """Where units run; see the module docstring for each option.

    Raises
    ------
    ConfigError
        An unknown executor, a bad number, or Ray options with ``executor="local"``.
    """

    executor: str = "local"
    ray_address: str | None = None
    actors: int | None = None
    threads_per_actor: int | None = None
    gpus_per_actor: float | None = None
    wait_timeout_s: float | None = None

    def __post_init__(self):
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor ({self.executor!r}) must be 'local' or 'ray'")
        if self.ray_address is not None and (not isinstance(self.ray_address, str) or not self.ray_address.strip()):
            raise ConfigError(f"ray_address ({self.ray_address!r}) must be HOST:PORT, ray://HOST:PORT or 'auto'")
        _whole("actors", self.actors, 1)
        _whole("threads_per_actor", self.threads_per_actor, 1)
        g = self.gpus_per_actor
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0):
            raise ConfigError(f"gpus_per_actor ({g!r}) must be a number >= 0")
        w = self.wait_timeout_s
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0):
            raise ConfigError(f"wait_timeout_s ({w!r}) must be a number of seconds > 0")
        if self.executor == "local":
            given = [k for k in SCALEOUT_KEYS[1:] if getattr(self, k) is not None]
            if given:
                flags = ", ".join("--" + k.replace("_", "-") for k in given)
                verb = "applies" if len(given) == 1 else "apply"
                raise ConfigError(f"{flags} {verb} to --executor ray; add --executor ray or leave them out")

    def to_dict(self) -> dict:
        return asdict(self)

    def open(self, device=None):
        """A new executor (the caller closes it: use ``with``).

        Raises
        ------
        CapabilityError
            ``executor="ray"`` without Ray installed (names ``pip install "speechlens[ray]"``).
        ConfigError
            The cluster cannot be reached, or lacks the resources asked for.
        """
        from intervene.executors import make_executor

        if self.executor == "local":
            return make_executor("local", device=device)[0]
        options = {"address": self.ray_address, "actors": self.actors, "gpus_per_actor": self.gpus_per_actor,
                   "device": device}  # fmt: skip
        if self.threads_per_actor is not None:
            options["threads_per_actor"] = self.threads_per_actor
        if self.wait_timeout_s is not None:
            options["wait_timeout_s"] = self.wait_timeout_s
        return make_executor("ray", **options)[0]


def add_scaleout_arguments(parser) -> None:
    """Add the ``scale-out`` flags (``dest`` = the :data:`SCALEOUT_KEYS`) to ``parser``."""
    g = parser.add_argument_group("scale-out (Ray)")
    g.add_argument("--executor", choices=("local", "ray"),
                   help='where pairs are patched: in this process (default) or on Ray actors '
                        '(pip install "speechlens[ray]"); the numbers are the same')  # fmt: skip
    g.add_argument("--ray-address", dest="ray_address", metavar="ADDR",
                   help="Ray cluster to join (HOST:6379, ray://HOST:10001, auto; default: RAY_ADDRESS, "
                        "else a Ray started on this machine)")  # fmt: skip
    g.add_argument("--actors", type=int, metavar="N",
                   help="Ray actors, each holding the model (default: cluster CPUs // threads per actor)")
    g.add_argument("--threads-per-actor", dest="threads_per_actor", type=int, metavar="N",
                   help="torch threads (and Ray CPUs) per actor (default: 1)")
    g.add_argument("--gpus-per-actor", dest="gpus_per_actor", type=float, metavar="G",
                   help="GPUs per actor (default: 1 when the cluster has GPUs, else 0)")
    g.add_argument("--wait-timeout-s", dest="wait_timeout_s", type=float, metavar="S",
                   help="give up (with the finished units stored) when no unit finishes for S seconds (default: 3600)")
