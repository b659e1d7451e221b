"""From grid rows to a rules file: one validated predicted-retention line per task type,
fitted on every model's cases together, with provenance (docs/design.md §5c)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from advisor import __version__
from advisor.fitting.estimator import MIN_CASES, Case, RetentionRule
from advisor.fitting.grid import (
    GridPoint,
    GridSettings,
    calibration_part,
    default_grid,
    read_cases,
    run_grid,
    suite_id,
)
from advisor.fitting.validation import held_out, score
from advisor.measure.calibration_items import hierarchy_items
from advisor.measure.compare import warm_dense
from advisor.measure.evidence import dense_side, evidence_kind
from advisor.models import load_model
from advisor.models.loading import LoadedModel
from advisor.pruning import get_method, prune_model
from advisor.rules.predict import ROUNDING_MARGIN, Z, counts_of
from advisor.suites import build_suite, evaluation_suites, primary_items
from advisor.truth.evaluate import dense_results
from advisor.truth.retention import DEFAULT_TOLERANCE

DEFAULT_MODELS = ("smollm2-135m", "gemma3-270m")


def cases_for(rows: Sequence[dict[str, Any]], task: str) -> list[Case]:
    """One :class:`advisor.fitting.estimator.Case` per row where the dense model is competent
    at ``task`` and the row holds the task's evidence."""
    cases = []
    for row in rows:
        truth = row["truth"].get(task)
        found = row.get("evidence", {}).get(task)
        if not truth or not truth["assessable"] or truth["retention"] is None or not found:
            continue
        low, high = truth["ci"]
        cases.append(
            Case(
                loss=found["stats"]["loss"],
                loss_sd=found["stats"]["loss_sd"],
                retention=truth["retention"],
                outcome=truth["outcome"],
                label_sd=(high - low) / (2 * 1.96),
                model=row["model"],
                method=row["point"]["method"],
                meta={"point": row["point"]["id"]},
                counts=counts_of(found["stats"]),
            )
        )
    return cases


def build_rules(
    rows: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Fit one predicted-retention rule per task type on every model's cases (the
    estimator :class:`advisor.fitting.estimator.RetentionRule`), and validate it with
    scikit-learn's leave-one-group-out folds (:mod:`advisor.fitting.validation`):
    leave-one-model-out (fitted on the other models, scored on this one) and
    leave-one-method-out within each model."""
    entries: dict[str, Any] = {}
    for task in tasks:
        cases = cases_for(rows, task)
        if len(cases) < MIN_CASES:
            reasons = {r["truth"][task]["competence"] for r in rows if task in r["truth"]}
            entries[task] = {
                "assessable": False,
                "reason": "too few configurations where the dense model is competent: "
                + "; ".join(sorted(reasons))[:400],
                "n_cases": len(cases),
            }
            continue
        kind = evidence_kind(task)
        models = sorted({c.model for c in cases})
        by_model = held_out(cases, lambda c: c.model, tolerance, kind)
        within = {
            m: held_out([c for c in cases if c.model == m], lambda c: c.method, tolerance, kind)
            for m in models
        }
        rule = RetentionRule(kind, tolerance).fit(cases, [c.retention for c in cases])
        entries[task] = rule.to_rule() | {
            "assessable": True,
            "evidence": kind,
            "n_cases": len(cases),
            "models": models,
            "in_sample": score(rule, cases),
            "validation": {
                "leave_one_model_out": by_model["total"],
                "leave_one_model_out_per_model": by_model["per_group"],
                "leave_one_method_out": {m: v["total"] for m, v in within.items()},
            },
        }
    return {
        "schema_version": 2,
        "engine": "predicted-retention",
        "tolerance": tolerance,
        "z": Z,
        "label": "predicted retention = 1 - slope * loss; each side of the interval: "
        "hypot(slope * (loss bound - loss), z * misfit * loss), the loss bound exact "
        "(Clopper-Pearson) for share evidence, loss +- z * loss_sd otherwise, clipped to "
        f"[0, 1]; go when its lower end >= tolerance + {ROUNDING_MARGIN}, no-go when its "
        f"upper end < tolerance - {ROUNDING_MARGIN}",
        "tasks": entries,
    }


def provenance(rows: Sequence[dict[str, Any]], command: str, seconds: float) -> dict[str, Any]:
    """Where a rules file came from: models, grids, command, versions and wall time."""

    pairs = sorted({(r["model"], r["fingerprint"]) for r in rows})
    return {
        "command": command,
        "wall_time_s": round(seconds, 1),
        "advisor_version": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "training_models": [{"name": name, "fingerprint": fp} for name, fp in pairs],
        "grids": {
            name: sorted({r["point"]["id"] for r in rows if r["model"] == name})
            for name, _ in pairs
        },
        "suites": sorted({r["suites"] for r in rows}),
    }


@dataclass(frozen=True)
class FitRequest:
    """What ``prune-advisor fit`` runs: each of ``models`` over ``grid`` (None: the model's
    default grid), each point read on the calibration split and evaluated on at most
    ``eval_items`` evaluation questions per task type (0 = all; sequential from
    ``adaptive``); finished points are kept in ``cases_path``."""

    models: tuple[str, ...]
    tasks: list[str]
    cases_path: Path
    grid: list[GridPoint] | None = None
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    eval_items: int = 0
    adaptive: int = 32
    allow_pickle: bool = False

    def points(self, model: str) -> list[GridPoint]:
        """The grid points ``model`` is measured over."""
        return self.grid if self.grid is not None else default_grid(model)


@dataclass(frozen=True)
class GridSetup:
    """One loaded model's fitting grid: its suites, how labels are taken, and which points
    the cases file already holds."""

    plan: FitRequest
    dense: LoadedModel
    calibration: dict[str, list[Any]]
    evaluation: dict[str, list[Any]]
    settings: GridSettings

    def pending(self, points: list[GridPoint]) -> list[GridPoint]:
        """The points of ``points`` not yet in the cases file for this model and suites."""
        wanted = suite_id(self.calibration)  # rows match on calibration, as run_grid's do
        done = {
            r["point"]["id"]
            for r in read_cases(self.plan.cases_path)
            if r.get("fingerprint") == self.dense.fingerprint
            and calibration_part(r.get("suites", "")) == wanted
        }
        return [p for p in points if p.id not in done]

    def warm(self, points: list[GridPoint] | None = None) -> None:
        """Measure the dense side every point reads, once, into the disk caches (scores,
        evidence, hierarchy, evaluation), and the layer importance of each structural
        method in ``points``: points computed elsewhere then run only their pruned model
        (docs/design.md §9a)."""

        dense = self.dense
        primary = {t: primary_items(items) for t, items in self.calibration.items()}
        for task, items in primary.items():
            dense_results(dense, items)
            dense_side(dense, task, items)
        warm_dense(dense, hierarchy_items(primary, decode=False)[0], generate=False)
        for items in self.evaluation.values():
            dense_results(dense, primary_items(items))
        structural = [p.method for p in points or [] if get_method(p.method).structural]
        for method in dict.fromkeys(structural):
            prune_model(dense, method, layers=1, seed=self.plan.seed)  # importance, cached


def grid_setup(plan: FitRequest, dense: LoadedModel) -> GridSetup:
    """The suites and label settings of ``plan`` for one loaded model."""

    calibration = {t: build_suite(t, "calibration", plan.seed) for t in plan.tasks}
    evaluation = evaluation_suites(plan.tasks, plan.seed, plan.eval_items)
    settings = GridSettings(plan.tolerance, plan.seed, plan.adaptive)
    return GridSetup(plan, dense, calibration, evaluation, settings)


def grid_rows(
    plan: FitRequest, dense: LoadedModel, points: list[GridPoint], on_point: Callable | None = None
) -> list[dict[str, Any]]:
    """The grid rows of one loaded model: its points measured and evaluated, or read back
    from the cases file. ``on_point(point, note)`` hears of each point."""
    setup = grid_setup(plan, dense)
    return run_grid(
        dense, points, setup.calibration, setup.evaluation, plan.cases_path,
        settings=setup.settings, on_point=on_point,
    )  # fmt: skip


def rules_file(
    plan: FitRequest, rows: list[dict[str, Any]], command: str, seconds: float
) -> dict[str, Any]:
    """The rules file's content: one validated rule per task type, with its provenance
    (``command``: the command line recorded there; ``seconds``: the fit's wall time)."""
    rules = build_rules(rows, plan.tasks, tolerance=plan.tolerance)
    rules["provenance"] = provenance(rows, command, seconds)
    rules["provenance"]["cases_file"] = str(plan.cases_path)
    rules["provenance"]["eval_items_per_task"] = plan.eval_items or "all"
    return rules


def fit_rules(plan: FitRequest, command: str = "fit", console: Any = None) -> dict[str, Any]:
    """Run ``plan`` and fit the rules (the CLI runs the same steps with progress bars)."""

    start = time.perf_counter()
    rows = []
    for model in plan.models:
        dense = load_model(model, allow_pickle=plan.allow_pickle, console=console)
        rows += grid_rows(plan, dense, plan.points(model))
    return rules_file(plan, rows, command, time.perf_counter() - start)
