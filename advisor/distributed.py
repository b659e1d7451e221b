"""Fan a sweep or a fit out over Ray: one Ray task per configuration (docs/design.md §9a).

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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

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
    from advisor.cache import cache_root

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
        import ray
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


def _dense(target: RayTarget) -> Any:
    """In a task: the dense model, checked to be the driver's."""
    import torch

    from advisor.pair import load_dense

    torch.set_num_threads(int(os.environ.get("PRUNE_ADVISOR_THREADS", "1")))
    dense = load_dense(target.model, target.options)
    if dense.fingerprint != target.fingerprint:
        raise AdvisorError(
            f"The Ray task loaded {target.model} with fingerprint {dense.fingerprint}, not the "
            f"driver's {target.fingerprint}: give every machine the same model files."
        )
    return dense


def _sweep_task(target: RayTarget, plan: Any, step: dict[str, Any]) -> tuple[dict, float]:
    from advisor.sweep import compute_step

    start = time.perf_counter()
    result = compute_step(_dense(target), plan, step)
    return result, time.perf_counter() - start


def _grid_task(target: RayTarget, plan: Any, point: Any) -> dict[str, Any]:
    import tempfile

    from advisor.rules.fit import grid_rows

    with tempfile.TemporaryDirectory(prefix="prune-advisor-task-") as scratch:
        private = replace(plan, cases_path=Path(scratch) / "cases.jsonl")
        (row,) = grid_rows(private, _dense(target), [point])
    return row


def _lm_eval_task(target: RayTarget, config: Any, tasks: list[str], seed: int) -> dict:
    from advisor.rules.external import config_row, evidence_setup

    dense = _dense(target)
    setup = evidence_setup(dense, tasks, seed)
    return config_row(dense, config, setup, seed, target.options.allow_pickle)


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


def sweep_runner(target: RayTarget, plan: Any) -> Callable[[list[dict]], list[tuple]]:
    """For :func:`advisor.sweep.sweep`'s ``remote``: each step of ``plan`` as a Ray task."""
    return lambda steps: fan_out(target, _sweep_task, [(plan, s) for s in steps])


def grid_rows_on_ray(
    target: RayTarget, plan: Any, dense: Any, points: list[Any], on_point: Callable | None = None
) -> list[dict[str, Any]]:
    """:func:`advisor.rules.fit.grid_rows` with each unfinished point as a Ray task: the
    dense side measured here first, each finished row appended to the cases file here."""
    from advisor.rules.fit import grid_setup
    from advisor.rules.grid import append_case, run_grid

    setup = grid_setup(plan, dense)
    todo = setup.pending(points)
    if todo:
        setup.warm(todo)

        def done(n: int, row: dict[str, Any]) -> None:
            append_case(plan.cases_path, row)
            if on_point:
                on_point(todo[n], f"{row['seconds']:.0f} s (ray)")

        fan_out(target, _grid_task, [(plan, p) for p in todo], done)
    # Every point is in the cases file now (in the order the tasks finished: each row is
    # kept the moment it arrives); read back and returned in the points' order.
    rows = run_grid(dense, points, setup.calibration, setup.evaluation, plan.cases_path,
                    settings=setup.settings)  # fmt: skip
    by_id = {row["point"]["id"]: row for row in rows}
    return [by_id[point.id] for point in points]


def lm_eval_rows_on_ray(
    target: RayTarget, dense: Any, configs: list[Any], cases_path: Path, seed: int = 0
) -> list[dict[str, Any]]:
    """:func:`advisor.rules.external.lm_eval_rows` with each unmeasured configuration as a
    Ray task (the dense side measured here first)."""
    from advisor.rules.external import evidence_setup, label_tasks, pending
    from advisor.rules.grid import append_case

    tasks = label_tasks(configs)
    setup = evidence_setup(dense, tasks, seed)  # warms the dense side
    todo, rows = pending(dense, configs, setup, cases_path)

    def done(n: int, row: dict[str, Any]) -> None:  # kept the moment it arrives
        append_case(cases_path, row)
        rows[todo[n].id] = row

    fan_out(target, _lm_eval_task, [(c, tasks, seed) for c in todo], done)
    return [rows[c.id] for c in configs]
