"""A sweep over Ray: every amount one Ray task (docs/design.md §9a)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from advisor import cluster
from advisor.cluster import RayTarget, task_dense
from advisor.sweep.plan import SweepRequest
from advisor.sweep.run import assess_amount


def _sweep_task(target: RayTarget, plan: SweepRequest, step: dict[str, Any]) -> tuple[dict, float]:
    start = time.perf_counter()
    result = assess_amount(task_dense(target), plan, step)
    return result, time.perf_counter() - start


def sweep_runner(target: RayTarget, plan: SweepRequest) -> Callable[[list[dict]], list[tuple]]:
    """For :func:`advisor.sweep.run.sweep`'s ``remote``: each step of ``plan`` as a Ray task."""
    return lambda steps: cluster.fan_out(target, _sweep_task, [(plan, s) for s in steps])
