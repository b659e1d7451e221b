"""How a rule's verdicts fare on cases it was not fitted on (docs/design.md §5c).

The folds are scikit-learn's: :class:`sklearn.model_selection.LeaveOneGroupOut` over
models (a rule fitted on the other models, scored on this one) or over methods within a
model, each fold fitted and scored by :func:`sklearn.model_selection.cross_validate` on
the estimator :class:`advisor.fitting.estimator.RetentionRule`. Its scorers are counts —
decisive ground truth, verdicts committed (go or no-go), right among committed, and
borderline ground truth given caution — summed over the folds, so that "right among
committed" and "committed among decisive" are exact ratios of whole cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sklearn.model_selection import LeaveOneGroupOut, cross_validate

from advisor.fitting.estimator import MIN_CASES, Case, RetentionRule
from advisor.verdicts import CAUTION

COUNTS = ("cases", "decisive", "committed", "right", "borderline", "borderline_caution")


def verdict_counts(cases: Sequence[Case], verdicts: Sequence[str]) -> dict[str, int]:
    """How ``verdicts`` fare against the ground truth of ``cases``.

    decisive: cases whose ground truth is go or no-go; committed: those given go or no-go;
    right: committed verdicts equal to the ground truth. Borderline ground truth (its
    interval straddles the tolerance) is counted apart: how many got caution.
    """
    pairs = list(zip(cases, verdicts, strict=True))
    decisive = [(c, v) for c, v in pairs if c.decisive]
    committed = [(c, v) for c, v in decisive if v != CAUTION]
    border = [v for c, v in pairs if not c.decisive]
    return {
        "cases": len(pairs),
        "decisive": len(decisive),
        "committed": len(committed),
        "right": sum(v == c.outcome for c, v in committed),
        "borderline": len(border),
        "borderline_caution": sum(v == CAUTION for v in border),
    }


def score(rule: RetentionRule, cases: Sequence[Case]) -> dict[str, int]:
    """:func:`verdict_counts` of a fitted rule's own verdicts on ``cases``."""
    return verdict_counts(cases, rule.predict(cases))


def _scorer(count: str) -> Callable[[RetentionRule, Sequence[Case], Any], int]:
    return lambda rule, cases, _labels: score(rule, cases)[count]


# One scikit-learn scorer per count: cross_validate reports each per fold.
SCORERS = {count: _scorer(count) for count in COUNTS}


def add_scores(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum of two count records (for totals over folds or task types)."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def held_out(
    cases: Sequence[Case],
    key: Callable[[Case], str],
    tolerance: float,
    kind: str = "reference",
) -> dict[str, Any]:
    """Score each group (by ``key``: model or method) with a rule fitted on the others:
    scikit-learn's leave-one-group-out folds (a fold with fewer than MIN_CASES cases to fit
    is left out), each fold's counts and their total."""
    cases = list(cases)
    groups = [key(c) for c in cases]
    if len(set(groups)) < 2:  # no fold has a case to fit on
        return {"total": {}, "per_group": {}}
    folds = [
        (train, test)
        for train, test in LeaveOneGroupOut().split(cases, groups=groups)
        if len(train) >= MIN_CASES
    ]
    if not folds:
        return {"total": {}, "per_group": {}}
    scores = cross_validate(
        RetentionRule(kind, tolerance),
        cases,
        [c.retention for c in cases],
        groups=groups,
        cv=folds,
        scoring=SCORERS,
        error_score="raise",
    )
    total: dict[str, Any] = {}
    per_group = {}
    for n, (_, test) in enumerate(folds):
        record = {count: int(scores[f"test_{count}"][n]) for count in COUNTS}
        per_group[groups[test[0]]] = record
        total = add_scores(total, record)
    return {"total": total, "per_group": per_group}
