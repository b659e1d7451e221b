"""From grid rows to a rules file: one validated rule per task type, with provenance."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from advisor import __version__
from advisor.rules.features import FEATURES
from advisor.rules.grid import GridPoint, run_grid
from advisor.rules.tree import (
    MAX_DEPTH,
    Case,
    depth_scores,
    fit_selected,
    fit_task,
    leave_one_group_out,
    rule_accuracy,
    select_depth,
)
from advisor.truth.retention import DEFAULT_TOLERANCE


def cases_for(rows: Sequence[dict[str, Any]], task: str, tolerance: float) -> list[Case]:
    """One :class:`Case` per row where the dense model is competent at ``task``; the label
    is go when the point estimate of retention reaches ``tolerance``."""
    cases = []
    for row in rows:
        truth = row["truth"].get(task)
        if not truth or not truth["assessable"] or truth["retention"] is None:
            continue
        cases.append(
            Case(
                task=task,
                features=row["features"].get(task, {}),
                go=truth["retention"] >= tolerance,
                group=row["point"]["method"],
                model=row["model"],
                meta={"point": row["point"]["id"], "retention": truth["retention"]},
            )
        )
    return cases


def build_rules(
    train_rows: Sequence[dict[str, Any]],
    held_out_rows: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Fit one rule per task type and validate it (leave-one-method-out; held-out model)."""
    entries: dict[str, Any] = {}
    for task in tasks:
        cases = cases_for(train_rows, task, tolerance)
        if len(cases) < 4:
            reasons = {r["truth"][task]["competence"] for r in train_rows if task in r["truth"]}
            entries[task] = {
                "assessable": False,
                "reason": "the training model is not competent at this task: "
                + "; ".join(sorted(reasons))[:400],
                "n_cases": len(cases),
            }
            continue
        # Depth is chosen by leave-one-method-out accuracy; the validation repeats that
        # choice inside every fold (nested), so the figure is not flattered by it.
        depths = depth_scores(cases)
        depth = select_depth(depths)
        rule = fit_task(cases, depth)
        held = cases_for(held_out_rows, task, tolerance)
        lomo = leave_one_group_out(cases, fit_selected)
        rule.update(
            {
                "assessable": True,
                "max_depth": depth,
                "depth_selection": {str(d): a for d, a in depths.items()},
                "n_cases": len(cases),
                "n_go": sum(c.go for c in cases),
                "training_accuracy": rule_accuracy(rule, cases),
                "validation": {
                    "leave_one_method_out": lomo,
                    "held_out_model": {
                        "accuracy": rule_accuracy(rule, held),
                        "n": len(held),
                        "n_go": sum(c.go for c in held),
                        "model": sorted({c.model for c in held}),
                    },
                },
            }
        )
        entries[task] = rule
    return {
        "schema_version": 1,
        "tolerance": tolerance,
        "max_depth": MAX_DEPTH,
        "label": "go when quality retention (pruned/dense score) >= tolerance",
        "features": {n: asdict(f) for n, f in FEATURES.items()},
        "tasks": entries,
    }


def provenance(
    train_rows: Sequence[dict[str, Any]],
    held_out_rows: Sequence[dict[str, Any]],
    command: str,
    seconds: float,
) -> dict[str, Any]:
    """Where a rules file came from: models, grid, command, versions and wall time."""
    import torch
    import transformers

    def models(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        pairs = sorted({(r["model"], r["fingerprint"]) for r in rows})
        return [{"name": name, "fingerprint": fp} for name, fp in pairs]

    return {
        "command": command,
        "wall_time_s": round(seconds, 1),
        "advisor_version": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "training_models": models(train_rows),
        "held_out_models": models(held_out_rows),
        "grid": sorted({r["point"]["id"] for r in train_rows}),
        "held_out_grid": sorted({r["point"]["id"] for r in held_out_rows}),
        "suites": sorted({r["suites"] for r in train_rows}),
    }


@dataclass(frozen=True)
class FitPlan:
    """What ``prune-advisor fit`` runs: the grid on the training model, the held-out grid
    on a model never used in fitting (``held_out_model`` None: none), each point measured
    on the calibration split and evaluated on at most ``eval_items`` evaluation questions
    per task type (0 = all); finished points are kept in ``cases_path``."""

    model: str
    held_out_model: str | None
    tasks: list[str]
    cases_path: Path
    grid: list[GridPoint]
    held_out_grid: list[GridPoint]
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    eval_items: int = 0
    allow_pickle: bool = False


def grid_rows(
    plan: FitPlan, dense: Any, points: list[GridPoint], on_point: Callable | None = None
) -> list[dict[str, Any]]:
    """The grid rows of one loaded model: its points measured and evaluated, or read back
    from the cases file. ``on_point(point, note)`` hears of each point."""
    from advisor.suites import build_suite, evaluation_suites

    calibration = {t: build_suite(t, "calibration", plan.seed) for t in plan.tasks}
    evaluation = evaluation_suites(plan.tasks, plan.seed, plan.eval_items)
    return run_grid(
        dense,
        points,
        calibration,
        evaluation,
        plan.cases_path,
        tolerance=plan.tolerance,
        seed=plan.seed,
        on_point=on_point,
    )


def rules_file(
    plan: FitPlan,
    train: list[dict[str, Any]],
    held: list[dict[str, Any]],
    command: str,
    seconds: float,
) -> dict[str, Any]:
    """The rules file's content: one validated rule per task type, with its provenance
    (``command``: the command line recorded there; ``seconds``: the fit's wall time)."""
    rules = build_rules(train, held, plan.tasks, tolerance=plan.tolerance)
    rules["provenance"] = provenance(train, held, command, seconds)
    rules["provenance"]["cases_file"] = str(plan.cases_path)
    rules["provenance"]["eval_items_per_task"] = plan.eval_items or "all"
    return rules


def fit_rules(plan: FitPlan, command: str = "fit", console: Any = None) -> dict[str, Any]:
    """Run ``plan`` and fit the rules (the CLI runs the same steps with progress bars)."""
    from advisor.models import load_model

    start = time.perf_counter()
    rows = []
    for model, points in ((plan.model, plan.grid), (plan.held_out_model, plan.held_out_grid)):
        if model:
            dense = load_model(model, allow_pickle=plan.allow_pickle, console=console)
            rows.append(grid_rows(plan, dense, points))
        else:
            rows.append([])
    return rules_file(plan, rows[0], rows[1], command, time.perf_counter() - start)
