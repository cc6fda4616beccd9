"""The Ray executor: units run on Ray actors, each holding the model, on one machine or a cluster.

Each actor loads the model once (:func:`intervene.load_model`, by the name or folder the driver
gives; a folder must exist on every node) with ``threads_per_actor`` torch threads and
``gpus_per_actor`` GPUs, and then runs units: it computes and returns values, and never
writes anything; the driver stores them (:func:`intervene.executors.run_units`). A worker
process that dies is restarted by Ray, which runs its unfinished units again (``retries``
times); an actor gone for good (its node left the cluster) is replaced and its units are
submitted to the others.

Install with ``pip install "speechlens[ray]"``. Connecting to a cluster: ``address`` is what
``ray.init`` takes (``"HOST:6379"``, ``"ray://HOST:10001"``, ``"auto"``); None starts a Ray on
this machine, or connects to ``RAY_ADDRESS`` when that is set. A ``HOST:PORT`` address is
first tried with a plain TCP connection, so an unreachable one fails in ``connect_timeout_s``
seconds instead of hanging in Ray's own retries; that check is made when the executor is
made, but Ray itself is joined (or started) only when the first unit is submitted, so a
resumed run whose units are all stored never starts Ray.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from intervene.executors.base import Executor, Handle, WorkUnit, model_source
from tasks.errors import CapabilityError, ConfigError, InterventionError

__all__ = ["RayExecutor", "import_ray", "probe_address"]

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "speechlens[ray]"'


def import_ray():
    """The ``ray`` module, or a CapabilityError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise CapabilityError(f"executor 'ray' needs Ray, which is not installed here ({exc}); install it with: "
                              f"{INSTALL_HINT}") from None  # fmt: skip
    return ray


def probe_address(address: str, timeout_s: float) -> None:
    """Open (and close) a TCP connection to a ``HOST:PORT`` or ``ray://HOST:PORT`` address.

    Raises
    ------
    ConfigError
        The address has no port, or nothing answers there within ``timeout_s`` seconds.
    """
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ConfigError(f"ray_address ({address!r}) must be HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT, "
                          "'auto' or 'local'")  # fmt: skip
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        waited = time.monotonic() - t0
        reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else (exc.strerror or str(exc))
        raise ConfigError(
            f"the Ray cluster at ray_address {address!r} cannot be reached ({reason} after {waited:.1f} s); "
            "check the address (the head node's `ray start --head` prints it) and that this machine can reach "
            "that port, or leave the address unset to run Ray on this machine"
        ) from None


class _Worker:
    """A Ray actor holding one model; runs ``fn(model, shared, *args)`` for each unit.

    Every call names the model it needs (``source``): an actor asked for another model loads it
    in place (no new process), and an actor Ray restarted after a crash (which runs
    ``__init__`` again with its first ``source``) loads the right one before computing.
    """

    def __init__(self, source: str, device, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.device = device
        self.info = {"pid": os.getpid(), "threads": threads}
        try:
            import ray

            self.info["node"] = ray.util.get_node_ip_address()
        except Exception:  # only a label for logs
            self.info["node"] = socket.gethostname()
        self.source, self.model, self.init_error = None, None, None
        try:
            self._load(source)
        except Exception as exc:  # raised by the first ensure(), so the driver sees the worker's own error
            self.init_error = exc

    def _load(self, source: str) -> None:
        from intervene.models import load_model

        t0 = time.perf_counter()
        model = load_model(source, device=self.device)
        self.source, self.model = source, model
        self.info.update(source=source, device=str(model.device), load_s=round(time.perf_counter() - t0, 3))

    def ensure(self, source: str) -> dict:
        """Hold the model ``source`` (loading it if another or none is held); returns this worker's info."""
        if source != self.source:
            error, self.init_error = self.init_error, None
            if error is not None:
                raise error
            self._load(source)
        return dict(self.info)

    def run(self, source: str, fn: Callable, shared: Any, args: tuple) -> tuple[Any, float]:
        self.ensure(source)
        t0 = time.perf_counter()
        value = fn(self.model, shared, *args)
        return value, time.perf_counter() - t0

    def echo(self, value=None):
        """Returns ``value``: a round trip with no work, to measure Ray's own overhead."""
        return value


def _worker_error(exc: BaseException, where: str) -> BaseException:
    """The exception a worker raised (a typed SpeechLens error stays typed), noting where."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        if hasattr(cause, "add_note"):
            cause.add_note(f"(raised on a Ray worker {where})")
        return cause
    return InterventionError(f"a Ray worker failed {where}: {exc}")


class RayExecutor(Executor):
    """Run units on Ray actors that each hold the model.

    Parameters
    ----------
    address : str, optional
        The cluster (``"HOST:6379"``, ``"ray://HOST:10001"``, ``"auto"``); None: ``RAY_ADDRESS``
        if set, else a Ray started on this machine (stopped again by :meth:`close`). A Ray
        already initialised in this process is used as it is (a ``HOST:PORT`` address is still
        checked to answer).
    actors : int, optional
        How many actors (default: the cluster's CPUs // ``threads_per_actor``, or its GPUs //
        ``gpus_per_actor`` when actors take GPUs).
    threads_per_actor : int
        Torch CPU threads per actor (and the CPUs Ray reserves for it).
    gpus_per_actor : float, optional
        GPUs per actor (default: 1 when the cluster has GPUs, else 0).
    device : str, optional
        Device the actors load the model on (default: CUDA when the actor has a GPU, else the CPU).
    retries : int
        How often a unit whose worker died is run again (and a dead actor restarted).
    connect_timeout_s : float
        How long to try reaching a ``HOST:PORT`` address.
    ready_timeout_s : float
        How long to wait for the actors to start and load the model.
    wait_timeout_s : float or None
        How long the driver waits with no unit finishing before it gives up with an
        InterventionError (the finished units are stored; a rerun resumes). None: no limit.
    num_cpus : int, optional
        CPUs of a Ray started here (default: all of them).
    runtime_env : dict, optional
        Passed to ``ray.init`` (e.g. ``{"pip": [...]}`` for nodes without SpeechLens).

    Raises
    ------
    CapabilityError
        Ray is not installed (``pip install "speechlens[ray]"``).
    ConfigError
        Bad options, or a cluster that cannot be reached.

    Examples
    --------
    >>> with RayExecutor(actors=2, threads_per_actor=1) as ex:           # doctest: +SKIP
    ...     m = intervene.sweep("whisper-tiny.en", task, pairs, sites, executor=ex)
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, actors: int | None = None, threads_per_actor: int = 1,
                 gpus_per_actor: float | None = None, device=None, retries: int = 3, connect_timeout_s: float = 5.0,
                 ready_timeout_s: float = 600.0, wait_timeout_s: float | None = 3600.0, num_cpus: int | None = None,
                 runtime_env: dict | None = None):  # fmt: skip
        for label, value, low in (("actors", actors, 1), ("threads_per_actor", threads_per_actor, 1),
                                  ("retries", retries, 0), ("num_cpus", num_cpus, 1)):  # fmt: skip
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ConfigError(f"{label} ({value!r}) must be a whole number >= {low}")
        for label, value in (("gpus_per_actor", gpus_per_actor), ("connect_timeout_s", connect_timeout_s),
                             ("ready_timeout_s", ready_timeout_s), ("wait_timeout_s", wait_timeout_s)):  # fmt: skip
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise ConfigError(f"{label} ({value!r}) must be a finite number >= 0")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(f"ray_address ({address!r}) must be HOST:PORT, ray://HOST:PORT, 'auto' or 'local'")
        self.ray = import_ray()
        self.address = address
        self.threads_per_actor = threads_per_actor
        self.device = device
        self.retries = retries
        self.ready_timeout_s = float(ready_timeout_s)
        self.wait_timeout_s = None if wait_timeout_s is None else float(wait_timeout_s)
        self._owns_ray = False
        self._started = False
        self._asked = {"actors": actors, "gpus_per_actor": gpus_per_actor, "num_cpus": num_cpus,
                       "runtime_env": runtime_env}  # fmt: skip
        self.slots = actors or 1  # until the cluster is known (see start())
        self.cluster_cpus = self.cluster_gpus = None
        self.gpus_per_actor = None if gpus_per_actor is None else float(gpus_per_actor)
        target = self._target()
        if target not in (None, "local", "auto"):
            probe_address(target, connect_timeout_s)  # a typo fails in seconds, even with a Ray already running here
        self._source: str | None = None
        self._actors: list = []
        self._busy: list = []
        self._infos: list = []
        self._shared: tuple | None = None

    def _target(self) -> str | None:
        return self.address if self.address is not None else os.environ.get("RAY_ADDRESS") or None

    @property
    def started(self) -> bool:
        """Whether Ray has been joined (or started) yet: only when the first unit is submitted."""
        return self._started

    def start(self) -> RayExecutor:
        """Join (or start) Ray and size the actor pool; done by the first :meth:`submit`, so a run
        whose every unit is already stored never starts Ray. Returns ``self``.

        Raises
        ------
        ConfigError
            Ray cannot be started or reached, or the cluster lacks the CPUs / GPUs asked for.
        """
        if self._started:
            return self
        asked = self._asked
        self._connect(asked["num_cpus"], asked["runtime_env"])
        resources = self.ray.cluster_resources()
        self.cluster_cpus = float(resources.get("CPU", 0))
        self.cluster_gpus = float(resources.get("GPU", 0))
        if asked["gpus_per_actor"] is None:
            self.gpus_per_actor = 1.0 if self.cluster_gpus else 0.0
        actors = asked["actors"]
        if actors is None:
            actors = int(self.cluster_gpus // self.gpus_per_actor) if self.gpus_per_actor else \
                int(self.cluster_cpus // self.threads_per_actor)  # fmt: skip
        slots = max(1, actors)
        need_cpu, need_gpu = slots * self.threads_per_actor, slots * self.gpus_per_actor
        if need_cpu > self.cluster_cpus or need_gpu > self.cluster_gpus:
            self.close()
            raise ConfigError(f"{slots} actors x {self.threads_per_actor} CPU threads and {self.gpus_per_actor:g} GPUs "
                              f"need {need_cpu} CPUs and {need_gpu:g} GPUs; the Ray cluster has {self.cluster_cpus:g} "
                              f"CPUs and {self.cluster_gpus:g} GPUs; use fewer actors or threads")  # fmt: skip
        self.slots = slots
        self._started = True
        return self

    # ------------------------------------------------------------------ cluster
    def _connect(self, num_cpus, runtime_env) -> None:
        ray = self.ray
        address = self._target()
        if ray.is_initialized():
            logger.info("using the Ray already initialised in this process%s",
                        f" (ray_address {address!r} is not used)" if address is not None else "")  # fmt: skip
            return
        options = {"include_dashboard": False, "logging_level": logging.WARNING, "runtime_env": runtime_env}
        if address in (None, "local"):
            options["num_cpus"] = num_cpus
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = "on this machine" if address in (None, "local") else f"at ray_address {address!r}"
            raise ConfigError(f"cannot start or reach Ray {where}: {exc}") from None
        self._owns_ray = True
        logger.info("Ray %s: %s", "started here" if address in (None, "local") else f"at {address}",
                    ray.cluster_resources())  # fmt: skip

    def _new_actor(self, source: str):
        cls = self.ray.remote(_Worker).options(
            num_cpus=self.threads_per_actor, num_gpus=self.gpus_per_actor, max_restarts=self.retries,
            max_task_retries=self.retries,
        )  # fmt: skip
        return cls.remote(source, self.device, self.threads_per_actor)

    def pool(self, model) -> list:
        """The actors holding ``model`` (started, and the model loaded, on first use; actors that
        hold another model load this one in place).

        Raises
        ------
        Exception
            The error an actor raised loading the model (e.g. ModelLoadError), as raised there.
        ConfigError
            The actors did not start within ``ready_timeout_s``.
        """
        source = model_source(model)
        if source == self._source:
            return self._actors
        self.start()
        self._source = None
        if not self._actors:
            self._actors = [self._new_actor(source) for _ in range(self.slots)]
            self._busy = [0] * self.slots
        t0 = time.perf_counter()
        try:  # an actor asked for another model loads it in place, in its running process
            self._infos = self.ray.get([a.ensure.remote(source) for a in self._actors], timeout=self.ready_timeout_s)
        except self.ray.exceptions.GetTimeoutError:
            self._release()
            raise ConfigError(f"{self.slots} Ray actors did not start and load {source!r} within "
                              f"{self.ready_timeout_s:g} s; the cluster may lack the CPUs/GPUs asked for") from None
        except self.ray.exceptions.RayActorError as exc:
            self._release()
            raise InterventionError(f"a Ray actor died while loading the model {source!r} (out of memory?): "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        except self.ray.exceptions.RayError as exc:  # the actors stay up, holding no model for this source
            raise _worker_error(exc, f"while loading the model {source!r}") from None
        self._source = source
        logger.info("%d Ray actors hold %s (%s), ready in %.1f s", self.slots, source,
                    ", ".join(f"pid {i['pid']} on {i['node']}" for i in self._infos), time.perf_counter() - t0)
        return self._actors

    def _shared_ref(self, shared):
        if self._shared is None or self._shared[0] is not shared:
            self._shared = (shared, self.ray.put(shared))
        return self._shared[1]

    # ------------------------------------------------------------------ units
    def _send(self, handle: Handle, fn: Callable, shared_ref) -> None:
        i = min(range(len(self._actors)), key=self._busy.__getitem__)
        self._busy[i] += 1
        source = handle.extra.get("source", self._source)
        ref = self._actors[i].run.remote(source, fn, shared_ref, handle.unit.args)
        handle.extra.update(ref=ref, actor=i, actor_handle=self._actors[i], fn=fn, shared=shared_ref, source=source)

    def submit(self, model, fn: Callable, shared: Any, unit: WorkUnit) -> Handle:
        self.pool(model)
        handle = Handle(unit)
        self._send(handle, fn, self._shared_ref(shared))
        return handle

    def _actor_died(self, handle: Handle, exc: BaseException) -> None:
        """The unit's actor is gone for good: replace it and send the unit again (or give up)."""
        i = handle.extra["actor"]
        if handle.attempts > self.retries:
            handle.error = InterventionError(f"unit {handle.unit.key!r}: its Ray worker died {handle.attempts} times "
                                             f"({exc}); giving up")  # fmt: skip
            handle.done = True
            return
        if self._actors[i] is handle.extra["actor_handle"]:  # not replaced yet (its other units fail too)
            logger.warning("Ray actor %d died for good (%s); starting a new one", i,
                           str(exc).splitlines()[0] if str(exc) else type(exc).__name__)  # fmt: skip
            self._actors[i] = self._new_actor(handle.extra["source"])
        logger.warning("running unit %r again (attempt %d)", handle.unit.key, handle.attempts + 1)
        handle.attempts += 1
        self._send(handle, handle.extra["fn"], handle.extra["shared"])

    def wait(self, handles: Sequence[Handle]) -> list[Handle]:
        ray = self.ray
        by_ref = {h.extra["ref"]: h for h in handles}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=self.wait_timeout_s)
        if not ready:
            raise InterventionError(
                f"no unit finished within wait_timeout_s={self.wait_timeout_s:g} s ({len(by_ref)} in flight, e.g. "
                f"{handles[0].unit.key!r}); the cluster may be stalled (actors waiting for resources, a hung node). "
                "The finished units are stored: run again to resume, or raise wait_timeout_s for long units"
            )
        rest = [r for r in by_ref if r not in ready]
        more = ray.wait(rest, num_returns=len(rest), timeout=0)[0] if rest else []
        done = []
        for ref in [*ready, *more]:
            handle = by_ref[ref]
            self._busy[handle.extra["actor"]] -= 1
            try:
                handle.value, handle.seconds = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                self._actor_died(handle, exc)
                if not handle.done:
                    continue
            except ray.exceptions.RayTaskError as exc:
                handle.error = _worker_error(exc, f"running unit {handle.unit.key!r}")
            handle.done = True
            done.append(handle)
        return done

    def cancel(self, handles: Sequence[Handle]) -> None:
        for handle in handles:
            try:
                self.ray.cancel(handle.extra["ref"])
            except Exception:  # already finished or its actor gone; close() kills the actors anyway
                continue

    # ------------------------------------------------------------------ life
    def describe(self) -> dict:
        if not self._started:  # every unit was stored: Ray was never needed
            return {"executor": self.name, "address": self.address, "started": False,
                    "actors": self._asked["actors"], "threads_per_actor": self.threads_per_actor}  # fmt: skip
        return {"executor": self.name, "address": self.address, "started": True, "actors": self.slots,
                "threads_per_actor": self.threads_per_actor, "gpus_per_actor": self.gpus_per_actor,
                "cluster_cpus": self.cluster_cpus, "cluster_gpus": self.cluster_gpus,
                "workers": [dict(i) for i in self._infos]}  # fmt: skip

    def _release(self) -> None:
        for actor in self._actors:
            try:
                self.ray.kill(actor)
            except Exception:  # already dead
                continue
        self._actors, self._busy, self._infos, self._source, self._shared = [], [], [], None, None

    def close(self) -> None:
        """Stop the actors, and the Ray this executor started (a cluster it joined keeps running)."""
        if self.ray.is_initialized():
            self._release()
            if self._owns_ray:
                self.ray.shutdown()
        self._owns_ray = False
        self._started = False

    def __repr__(self) -> str:
        gpus = "?" if self.gpus_per_actor is None else f"{self.gpus_per_actor:g}"
        return f"RayExecutor(actors={self.slots}, threads_per_actor={self.threads_per_actor}, gpus_per_actor={gpus}, " \
               f"started={self._started})"  # fmt: skip
