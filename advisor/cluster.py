"""Ray for a sweep or a fit: connect, fan one task per configuration out, load the dense
model in a task (docs/design.md §9a; the tasks themselves: :mod:`advisor.sweep.ray`,
:mod:`advisor.fitting.ray`).

The driver measures the dense side once first (cached on disk under
``$PRUNE_ADVISOR_CACHE``, which the tasks are given), then each task loads the dense model
itself, checks its fingerprint against the driver's, computes one configuration and
returns its result; the driver writes every file, exactly as a local run writes them.
Tasks on other machines need the package and the model installed there, and the cache on
shared storage to skip the dense side (without it they recompute it: correct, only slower).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from advisor.cache import cache_root
from advisor.errors import AdvisorError
from advisor.models.loading import LoadedModel
from advisor.pair import load_dense

RAY_PIN = "ray==2.60.0"
# Passed to every task, so tasks share the driver's cache and settings.
FORWARDED_ENV = ("PRUNE_ADVISOR_CACHE", "PRUNE_ADVISOR_THREADS", "HF_HUB_OFFLINE", "PYTHONPATH")
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RayTarget:
    """Where to run and what every task loads: ``address`` "local" starts a Ray instance on
    this machine, "auto" joins the one ``ray start`` runs here, "HOST:PORT" (or ray://…) a
    cluster; ``model`` and ``options`` load the dense model (``options``: an
    :class:`advisor.pair.LoadOptions`); ``fingerprint`` is the driver's, checked by tasks."""

    address: str
    model: str
    options: Any
    fingerprint: str


def task_env() -> dict[str, str]:
    """The environment every task gets: the driver's cache, threads and hub settings."""

    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env["PRUNE_ADVISOR_CACHE"] = str(cache_root())
    return env


def _reachable(address: str) -> None:
    """Fail fast, with a clear message, when a HOST:PORT address does not answer."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AdvisorError(
            f"--ray {address}: give HOST:PORT of a Ray head (e.g. 10.0.0.5:6379), 'auto' for "
            "the one `ray start --head` runs here, or nothing to start one on this machine."
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise AdvisorError(
            f"Cannot reach a Ray head at {address} ({exc.strerror or exc}). Start one with "
            "`ray start --head --port PORT` there, or drop the address to run on this machine."
        ) from exc


def connect(address: str) -> Any:
    """The ``ray`` module, initialised for ``address`` (see :class:`RayTarget`)."""
    try:
        import ray  # lazy: optional, the [ray] extra
    except ImportError as exc:
        raise AdvisorError(
            f"--ray needs Ray, an optional extra: pip install 'prune-advisor[ray]' ({RAY_PIN})."
        ) from exc
    local = address in ("", "local")
    if not local:
        _reachable(address)
    if ray.is_initialized():
        return ray
    runtime = {"env_vars": task_env()}
    if local:  # address="local": always a new instance, never one found on this machine
        ray.init(
            address="local", runtime_env=runtime, include_dashboard=False, logging_level="ERROR"
        )
        return ray
    try:
        ray.init(address=address, runtime_env=runtime, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise AdvisorError(f"Cannot join the Ray cluster at {address}: {exc}") from exc
    return ray


def task_dense(target: RayTarget) -> LoadedModel:
    """In a task: the dense model, checked to be the driver's."""

    torch.set_num_threads(int(os.environ.get("PRUNE_ADVISOR_THREADS", "1")))
    dense = load_dense(target.model, target.options)
    if dense.fingerprint != target.fingerprint:
        raise AdvisorError(
            f"The Ray task loaded {target.model} with fingerprint {dense.fingerprint}, not the "
            f"driver's {target.fingerprint}: give every machine the same model files."
        )
    return dense


def fan_out(
    target: RayTarget,
    function: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``function(target, *args)`` for every ``args`` of ``calls`` as one Ray task each
    (one CPU, no retries); results in the order of ``calls``. ``on_done(index, result)``
    hears of each as it finishes. A task's user error is raised here as that error."""
    ray = connect(target.address)
    remote = ray.remote(num_cpus=1, max_retries=0)(function)
    refs = [remote.remote(target, *args) for args in calls]
    index = {ref: n for n, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    waiting = list(refs)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        try:
            value = ray.get(ready[0])
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AdvisorError):
                raise AdvisorError(str(cause)) from exc
            raise
        results[index[ready[0]]] = value
        if on_done:
            on_done(index[ready[0]], value)
    return results
