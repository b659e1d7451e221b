"""The task sensitivity map: what removing one unit alone costs each task type.

For a dense model and a structural method, each unit (layer i's block, attention or MLP
sublayer: the registry's ``unit``) is removed on its own, and each assessable task type's
evidence is read on its calibration items exactly as an assessment reads it (prefill-only
evidence, :mod:`advisor.measure.evidence`, in sequential looks, :mod:`advisor.rules.looks`):
the loss u with its interval, and the rules' predicted retention and verdict for that
unit alone. Only task types the dense model is competent at (and the rules cover) get a
row (:func:`advisor.truth.assessable.decided_competence`).

A unit-i model runs the dense layers up to layer i, so the units run from the last layer
down in groups that replay the layer prefix they share (:mod:`advisor.forward.prefix`).
Each unit's result is written to the cache as it finishes, keyed by the dense model's
identity, the method, the task's items, the rules and the tolerance: a map is paid once
per model, and an interrupted one resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.cache import cache_file
from advisor.files import read_checked_json, write_checked_json

MAP_VERSION = "sensitivity-v1"
# Units whose prefixes one PrefixShare keeps at once: each kept depth holds one hidden
# state per forward call, so a group bounds the memory while most layers still replay.
GROUP = 8


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


@dataclass(frozen=True)
class _TaskRun:
    """What every unit of one task type's row shares."""

    dense: Any
    method: str
    task: str
    items: list[Any]
    scored: list[Any]
    rule: dict[str, Any]
    tolerance: float


def unit_cost(run: _TaskRun, unit: int, pruned: Any, share: Any) -> dict[str, Any]:
    """The evidence of ``run.task`` with ``unit`` alone removed (``pruned``), read in looks
    (layer prefixes replayed through ``share``): u, its sampling SD and interval, the items
    read, and the predicted retention, interval and verdict."""
    from advisor import forward
    from advisor.measure.evidence import evidence_kind, task_evidence
    from advisor.rules.bounds import loss_bounds
    from advisor.rules.looks import evidence_in_looks
    from advisor.rules.predict import counts_of, predict_from

    def measure_on(picks: list[int] | None) -> Any:
        label = run.task if picks is None else f"{run.task} on {len(picks)}"
        return share.run(
            pruned.model,
            label,
            lambda: task_evidence(
                run.dense, pruned.loaded, run.task, run.items, run.scored, picks=picks
            ),
        )

    kind = evidence_kind(run.task)
    with forward.reuse(pruned.model):
        found = evidence_in_looks(run.rule, kind, len(run.items), run.tolerance, measure_on)
    stats, z = found.stats, found.look["z"]
    low, high = loss_bounds(stats["loss"], stats["loss_sd"], z, counts_of(stats))
    prediction = predict_from(run.rule, stats, run.tolerance, z)
    return {
        "unit": unit,
        "loss": round(float(stats["loss"]), 6),
        "loss_sd": round(float(stats["loss_sd"]), 6),
        "loss_interval": [round(max(0.0, float(low)), 6), round(float(high), 6)],
        "items": found.look["items"],
        "retention": round(float(prediction.retention), 4),
        "interval": [round(float(prediction.low), 4), round(float(prediction.high), 4)],
        "verdict": prediction.verdict,
    }


def _unit_file(run: _TaskRun, unit: int, rules_sha: str) -> Path:
    from advisor.suites.items import items_hash

    identity = run.dense.cache_identity
    key = (identity, run.method, run.task, items_hash(run.items), rules_sha, run.tolerance)
    return cache_file("sensitivity", MAP_VERSION, *key, unit)


def _groups(todo: list[int]) -> list[list[int]]:
    """The units to run, last layer first, in groups of at most GROUP."""
    order = sorted(todo, reverse=True)
    return [order[k : k + GROUP] for k in range(0, len(order), GROUP)]


def task_row(run: _TaskRun, units: int, rules_sha: str, console: Any = None) -> list[dict]:
    """Every unit's cost for one task type: cached units read back, the others measured
    (each written as it finishes), with a progress bar on ``console``."""
    from advisor.forward.prefix import PrefixShare, dense_tensors
    from advisor.pruning import drop_units
    from advisor.pruning.pruned import progress

    paths = [_unit_file(run, u, rules_sha) for u in range(units)]
    rows = [read_checked_json(p) for p in paths]
    todo = [u for u, row in enumerate(rows) if row is None]
    shared = dense_tensors(run.dense.model)
    with progress(console, f"{run.method} map: {run.task}", units) as advance:
        for _ in range(units - len(todo)):
            advance()
        for group in _groups(todo):
            models = [drop_units(run.dense, run.method, [u]) for u in group]
            share = PrefixShare([m.model for m in models], shared)
            for unit, pruned in zip(group, models, strict=True):
                rows[unit] = unit_cost(run, unit, pruned, share)
                write_checked_json(paths[unit], rows[unit])
                share.finished(pruned.model)
                advance()
    return rows


def sensitivity_map(dense: Any, request: MapRequest, console: Any = None) -> dict[str, Any]:
    """The sensitivity map of ``dense`` for ``request``: per task type, whether it is
    assessable (with the reason when not) and each unit's cost (:func:`unit_cost`), by
    original layer index. ``console`` (rich) shows one progress bar per task type."""
    from advisor.assess import _fit_suites, calibration_suites
    from advisor.measure.evidence import evidence_kind
    from advisor.models.anatomy import decoder_layers
    from advisor.rules.predict import load_rules
    from advisor.truth.assessable import decided_competence
    from advisor.truth.evaluate import dense_results
    from advisor.verdicts import not_assessable_text

    rules, _, rules_sha = load_rules(request.rules_path)
    tolerance = request.tolerance
    tolerance = float(rules.get("tolerance", 0.9)) if tolerance is None else tolerance
    suites = calibration_suites(request.tasks, request.seed, request.data)
    _fit_suites(suites, dense, lambda _warning: None)  # the same items an assessment reads
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
        run = _TaskRun(
            dense, request.method, task, items, dense_results(dense, items), rule, tolerance
        )
        tasks[task] = {
            "assessable": True,
            "evidence": evidence_kind(task),
            "items": len(items),
            "units": task_row(run, units, rules_sha, console),
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
