"""From grid rows to a rules file: one validated rule per task type, with provenance."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from advisor import __version__
from advisor.rules.features import FEATURES
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
