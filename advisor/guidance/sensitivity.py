"""The task sensitivity map: what removing one unit alone costs each task type.

For a dense model and a structural method, each unit (layer i's block, attention or MLP
sublayer: the registry's ``unit``) is removed on its own, and each assessable task type's
evidence is read on its calibration items exactly as an assessment reads it (prefill-only
evidence, :mod:`advisor.measure.evidence`, in sequential looks, :mod:`advisor.rules.looks`):
the loss u with its interval, and the rules' predicted retention and verdict for that
unit alone. Only task types the dense model is competent at (and the rules cover) get a
row (:func:`advisor.measure.assessable.decided_competence`).

Each task type's row is measured by :mod:`advisor.guidance.rows`: prefix-shared, and
cached unit by unit (a map is paid once per model; an interrupted one resumes).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.guidance.rows import SCREENED, TaskRun, task_row
from advisor.measure.assessable import decided_competence
from advisor.measure.calibration_items import calibration_suites, fit_suites
from advisor.measure.evidence import dense_margins, evidence_kind
from advisor.models.anatomy import decoder_layers
from advisor.models.loading import LoadedModel
from advisor.rules.rules_file import load_rules
from advisor.truth.evaluate import dense_results
from advisor.verdicts import not_assessable_text


@dataclass(frozen=True)
class MapRequest:
    """What to map: a structural ``method``, the task types, their suites (built-in with
    ``seed``, or the user's ``data``: task type -> file), the rules file (None: shipped)
    and the tolerance (None: the rules')."""

    method: str
    tasks: list[str]
    seed: int = 0
    data: dict[str, Path] | None = None
    rules_path: str | Path | None = None
    tolerance: float | None = None


def fitted_suites(dense: LoadedModel, request: MapRequest) -> dict[str, list]:
    """``request``'s calibration suites cut to ``dense``'s context: the items an
    assessment of its task types reads."""

    suites = calibration_suites(request.tasks, request.seed, request.data)
    fit_suites(suites, dense, lambda _warning: None)  # an assessment warns, not the map
    return suites


def request_tolerance(request: MapRequest, rules: dict[str, Any]) -> float:
    """The tolerance ``request`` names, else the rules' own."""
    if request.tolerance is not None:
        return request.tolerance
    return float(rules.get("tolerance", 0.9))


def screened_run(
    dense: LoadedModel,
    method: str,
    task: str,
    items: list,
    rule: dict[str, Any],
    tolerance: float,
    first: Collection[int] = (),
) -> TaskRun:
    """What a screened reading of ``task``'s ``items`` shares (the map's units, a plan's
    sets): the dense model's results and, for short answers, its margins, by which each
    look's items are read narrowest first, the positions in ``first`` before all others."""
    margins = dense_margins(dense, task, items)
    if margins is not None:
        margins = [-math.inf if n in first else m for n, m in enumerate(margins)]
    return TaskRun(
        dense,
        method,
        task,
        items,
        dense_results(dense, items),
        rule,
        tolerance,
        reading=SCREENED,
        margins=tuple(margins) if margins is not None else None,
    )


def sensitivity_map(dense: LoadedModel, request: MapRequest, console: Any = None) -> dict[str, Any]:
    """The sensitivity map of ``dense`` for ``request``: per task type, whether it is
    assessable (with the reason when not) and each unit's cost (:func:`unit_cost`), by
    original layer index. ``console`` (rich) shows one progress bar per task type."""

    rules, _, rules_sha = load_rules(request.rules_path)
    tolerance = request_tolerance(request, rules)
    suites = fitted_suites(dense, request)
    competence = decided_competence(dense, suites)
    units = len(decoder_layers(dense.model))
    tasks: dict[str, Any] = {}
    for task, items in suites.items():
        rule = rules.get("tasks", {}).get(task) or {}
        if not competence[task].assessable:
            reason = not_assessable_text(competence[task].reason)
            tasks[task] = {"assessable": False, "reason": reason}
            continue
        if "slope" not in rule:
            tasks[task] = {"assessable": False, "reason": f"The rules have no rule for {task}."}
            continue
        run = screened_run(dense, request.method, task, items, rule, tolerance)
        tasks[task] = {
            "assessable": True,
            "evidence": evidence_kind(task),
            "items": len(items),
            "units": task_row(run, list(range(units)), rules_sha, console),
        }
    return {
        "model": dense.name,
        "fingerprint": dense.fingerprint,
        "method": request.method,
        "layers": units,
        "tolerance": tolerance,
        "rules_sha256": rules_sha,
        "tasks": tasks,
    }
