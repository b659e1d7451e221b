"""A fit over Ray: every grid point or lm-eval configuration one Ray task (docs/design.md
§9a); the driver measures the dense side first and writes every case."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor import cluster
from advisor.cluster import RayTarget, task_dense
from advisor.fitting.external import config_row, evidence_setup, label_tasks, pending
from advisor.fitting.fit import grid_rows, grid_setup
from advisor.fitting.grid import append_case, run_grid
from advisor.models.loading import LoadedModel


def _grid_task(target: RayTarget, plan: Any, point: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="prune-advisor-task-") as scratch:
        private = replace(plan, cases_path=Path(scratch) / "cases.jsonl")
        (row,) = grid_rows(private, task_dense(target), [point])
    return row


def _lm_eval_task(target: RayTarget, config: Any, tasks: list[str], seed: int) -> dict:
    dense = task_dense(target)
    setup = evidence_setup(dense, tasks, seed)
    return config_row(dense, config, setup, seed, target.options.allow_pickle)


def grid_rows_on_ray(
    target: RayTarget,
    plan: Any,
    dense: LoadedModel,
    points: list[Any],
    on_point: Callable | None = None,
) -> list[dict[str, Any]]:
    """:func:`advisor.fitting.fit.grid_rows` with each unfinished point as a Ray task: the
    dense side measured here first, each finished row appended to the cases file here."""
    setup = grid_setup(plan, dense)
    todo = setup.pending(points)
    if todo:
        setup.warm(todo)

        def done(n: int, row: dict[str, Any]) -> None:
            append_case(plan.cases_path, row)
            if on_point:
                on_point(todo[n], f"{row['seconds']:.0f} s (ray)")

        cluster.fan_out(target, _grid_task, [(plan, p) for p in todo], done)
    # Every point is in the cases file now (in the order the tasks finished: each row is
    # kept the moment it arrives); read back and returned in the points' order.
    rows = run_grid(dense, points, setup.calibration, setup.evaluation, plan.cases_path,
                    settings=setup.settings)  # fmt: skip
    by_id = {row["point"]["id"]: row for row in rows}
    return [by_id[point.id] for point in points]


def lm_eval_rows_on_ray(
    target: RayTarget, dense: LoadedModel, configs: list[Any], cases_path: Path, seed: int = 0
) -> list[dict[str, Any]]:
    """:func:`advisor.fitting.external.lm_eval_rows` with each unmeasured configuration as a
    Ray task (the dense side measured here first)."""
    tasks = label_tasks(configs)
    setup = evidence_setup(dense, tasks, seed)  # warms the dense side
    todo, rows = pending(dense, configs, setup, cases_path)

    def done(n: int, row: dict[str, Any]) -> None:  # kept the moment it arrives
        append_case(cases_path, row)
        rows[todo[n].id] = row

    cluster.fan_out(target, _lm_eval_task, [(c, tasks, seed) for c in todo], done)
    return [rows[c.id] for c in configs]
