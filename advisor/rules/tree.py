"""Fitting one task type's rule: a shallow decision tree from features to the outcome.

``fit_task`` learns a tree of depth ≤ ``MAX_DEPTH`` and exports it as plain data (JSON), so
applying a rule needs no scikit-learn and a person can read it; ``select_depth`` picks the
depth that best predicts a pruning method left out of fitting.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.rules.features import FEATURES
from advisor.verdicts import GO, NO_GO

MAX_DEPTH = 3


# --------------------------------------------------------------------------- fitting


@dataclass
class Case:
    """One pruning configuration's calibration features and ground-truth outcome."""

    task: str
    features: dict[str, float]
    go: bool
    group: str = ""  # e.g. the pruning method, for leave-one-group-out validation
    model: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _feature_names(cases: Sequence[Case]) -> list[str]:
    """Features present in every case (a tree cannot split on a missing value)."""
    names = set(FEATURES)
    for case in cases:
        names &= set(case.features)
    return [n for n in FEATURES if n in names]


def _leaf(go: int, n: int) -> dict[str, Any]:
    # A tie is no-go, as the fitted tree decides it (and the cautious reading).
    return {"outcome": GO if go * 2 > n else NO_GO, "n": n, "go": go}


def fit_task(cases: Sequence[Case], max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Fit a decision tree (depth ≤ ``max_depth``) on one task type's cases; return it as data.

    A node is ``{"feature", "threshold", "le": node, "gt": node}`` (``value <= threshold``
    goes to ``le``); a leaf is ``{"outcome", "n", "go"}``. Deterministic for given cases.
    """
    from sklearn.tree import DecisionTreeClassifier

    if not cases:
        raise ValueError("No cases to fit.")
    names = _feature_names(cases)
    labels = [int(c.go) for c in cases]
    stats = {
        n: {
            "mean": statistics.fmean(c.features[n] for c in cases),
            "sd": statistics.pstdev(c.features[n] for c in cases),
        }
        for n in names
    }
    if len(set(labels)) < 2 or not names:
        return {"tree": _leaf(sum(labels), len(labels)), "features": names, "stats": stats}
    x = [[c.features[n] for n in names] for c in cases]
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=2, random_state=0)
    tree.fit(x, labels)
    t = tree.tree_
    leaf_of = tree.apply(x)  # count outcomes per leaf from the cases themselves

    def node(i: int) -> dict[str, Any]:
        if t.children_left[i] == -1:
            members = [y for y, leaf in zip(labels, leaf_of, strict=True) if leaf == i]
            return _leaf(sum(members), len(members))
        le, gt = node(t.children_left[i]), node(t.children_right[i])
        if "outcome" in le and "outcome" in gt and le["outcome"] == gt["outcome"]:
            # A split whose sides agree only refines impurity; as a rule it says nothing.
            return _leaf(le["go"] + gt["go"], le["n"] + gt["n"])
        return {
            "feature": names[t.feature[i]],
            "threshold": round(float(t.threshold[i]), 6),
            "le": le,
            "gt": gt,
        }

    return {"tree": node(0), "features": names, "stats": stats}


def predict(rule: dict[str, Any], features: dict[str, float]) -> str:
    """The leaf outcome (go / no-go) the rule reaches for ``features``."""
    node = rule["tree"]
    while "feature" in node:
        node = node["le"] if features[node["feature"]] <= node["threshold"] else node["gt"]
    return node["outcome"]


def rule_accuracy(rule: dict[str, Any], cases: Sequence[Case]) -> float | None:
    """Share of ``cases`` whose outcome the rule predicts (None for no cases)."""
    usable = [c for c in cases if all(n in c.features for n in rule["features"])]
    if not usable:
        return None
    hits = [predict(rule, c.features) == (GO if c.go else NO_GO) for c in usable]
    return sum(hits) / len(hits)


def leave_one_group_out(
    cases: Sequence[Case], fit: Callable[[Sequence[Case]], dict[str, Any]] = fit_task
) -> dict[str, Any]:
    """Accuracy when each group (pruning method) is predicted by a rule that ``fit`` made
    from the other groups."""
    groups = sorted({c.group for c in cases})
    hits, total, per_group = 0, 0, {}
    for g in groups:
        train = [c for c in cases if c.group != g]
        test = [c for c in cases if c.group == g]
        if not train:
            continue
        rule = fit(train)
        acc = rule_accuracy(rule, test)
        if acc is None:
            continue
        per_group[g] = acc
        hits += round(acc * len(test))
        total += len(test)
    return {"accuracy": hits / total if total else None, "n": total, "per_group": per_group}


def depth_scores(cases: Sequence[Case]) -> dict[int, float | None]:
    """Leave-one-method-out accuracy of a tree of each depth 1..``MAX_DEPTH``."""
    return {
        d: leave_one_group_out(cases, lambda train, d=d: fit_task(train, d))["accuracy"]
        for d in range(1, MAX_DEPTH + 1)
    }


def select_depth(scores: dict[int, float | None]) -> int:
    """The depth (from :func:`depth_scores`) whose trees best predict a pruning method left
    out of fitting; the shallowest among equals (a deeper tree must earn its thresholds)."""
    best = max((s for s in scores.values() if s is not None), default=None)
    return min(d for d, s in scores.items() if best is None or s == best)


def fit_selected(cases: Sequence[Case]) -> dict[str, Any]:
    """:func:`fit_task` at the depth :func:`select_depth` picks from these cases alone."""
    return fit_task(cases, select_depth(depth_scores(cases)))
