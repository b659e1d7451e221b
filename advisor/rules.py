"""Rules: from cheap calibration measurements to go / caution / no-go (DESIGN.md §5).

``fit_task`` learns, for one task type, a shallow decision tree (depth ≤ 3) that maps
measurement features to the ground-truth outcome; ``select_depth`` picks the depth that
best predicts a pruning method left out of fitting; the tree is exported as plain data
(JSON) so that applying a rule needs no scikit-learn and can be read by a person;
``apply_rules`` walks that data and explains the path it took with the measured values.

A verdict is ``caution`` rather than go / no-go when a measured value lies within the
margin of a threshold on its path (``MARGIN_SD`` training standard deviations of that
feature), when the leaf is impure (its majority share is below ``MIN_PURITY``), when the
rule's leave-one-method-out accuracy is below ``MIN_ACCURACY``, or — for a model the rules
were not fitted on — when the rule's accuracy on the held-out model (measured on at least
``MIN_HELD_OUT_CASES`` configurations) is below ``MIN_ACCURACY``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

GO, CAUTION, NO_GO, NOT_ASSESSABLE = "go", "caution", "no-go", "not-assessable"
MAX_DEPTH = 3
MARGIN_SD = 0.25
MIN_PURITY = 0.75
MIN_ACCURACY = 0.75
MIN_HELD_OUT_CASES = 4  # fewer held-out configurations say too little to act on


@dataclass(frozen=True)
class Feature:
    """A scalar read from a task type's measurement aggregates."""

    name: str
    space: str
    metric: str
    stat: str = "mean"
    label: str = ""

    def read(self, aggregates: dict[str, Any]) -> float | None:
        """The value in one task type's aggregates (``Measurements.aggregates[task]``)."""
        block = aggregates.get(self.space, {}).get(self.metric)
        value = None if block is None else block.get(self.stat)
        return None if value is None or not math.isfinite(value) else float(value)


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("embedding_cos", "embedding", "cos_mean_final", label="cosine of hidden states"),
        Feature("logit_cos", "logit", "cos_logits", label="cosine of final logits"),
        Feature("kl", "probability", "kl_t1", label="KL(dense‖pruned) at T=1"),
        Feature("kl_at_T", "probability", "kl_T", label="KL(dense‖pruned) at your T"),
        Feature("top1_agree", "probability", "top1_agree", label="next-token top-1 agreement"),
        Feature("subspace_agree", "subspace", "argmax_agree", label="option argmax agreement"),
        Feature("subspace_kl", "subspace", "kl", label="KL over the options"),
        Feature("accumulation", "accumulation", "accumulation_score", label="accumulation score"),
        Feature(
            "token_agreement",
            "accumulation",
            "token_agreement",
            label="generated-token agreement",
        ),
        Feature(
            "kl_teacher_forced",
            "accumulation",
            "kl_tf_mean",
            label="per-step KL, teacher-forced",
        ),
    )
}


def features_of(aggregates: dict[str, Any]) -> dict[str, float]:
    """Every defined feature present in one task type's aggregates."""
    values = {name: f.read(aggregates) for name, f in FEATURES.items()}
    return {name: v for name, v in values.items() if v is not None}


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


def accuracy(rule: dict[str, Any], cases: Sequence[Case]) -> float | None:
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
        acc = accuracy(rule, test)
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


# --------------------------------------------------------------------------- applying


@dataclass
class Verdict:
    """A rule's decision for one task type, with the reasons a person can check."""

    verdict: str
    confidence: float | None
    reasons: list[str]
    path: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "verdict": self.verdict,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "path": self.path,
        }


def _label(name: str) -> str:
    feature = FEATURES.get(name)
    return f"{feature.label} ({name})" if feature and feature.label else name


def _transfer(
    rules: dict[str, Any], validation: dict[str, Any], fingerprint: str | None
) -> tuple[float | None, str | None]:
    """For a model the rules were not fitted on: the rule's held-out-model accuracy (None
    when measured on too few configurations) and a sentence saying so; (None, None) for a
    training model or an unknown one."""
    trained = rules.get("provenance", {}).get("training_models", [])
    if fingerprint is None or not trained or fingerprint in {m["fingerprint"] for m in trained}:
        return None, None
    names = ", ".join(m["name"] for m in trained)
    held = validation.get("held_out_model", {})
    if held.get("accuracy") is None or held.get("n", 0) < MIN_HELD_OUT_CASES:
        return None, (
            f"The rules were fitted on {names}, not this model, and their transfer to other "
            f"models was measured on {held.get('n', 0)} configurations (too few to weigh)."
        )
    return float(held["accuracy"]), (
        f"The rules were fitted on {names}, not this model; on {', '.join(held['model'])} "
        f"(never used in fitting) this rule was right in {held['accuracy']:.0%} of "
        f"{held['n']} configurations ({held['n_go']} go)."
    )


def apply_rules(
    rules: dict[str, Any],
    task: str,
    features: dict[str, float],
    competence: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Verdict:
    """Decide go / caution / no-go / not-assessable for ``task`` and explain why.

    ``rules`` is a rules file (``data/rules/default.json``); ``features`` come from
    :func:`features_of`; ``competence`` is the dense model's competence-gate record
    (``{"assessable": bool, "reason": str, ...}``); ``fingerprint`` identifies the dense
    model, so that a model the rules were not fitted on is judged by the rule's held-out
    accuracy as well.
    """
    if competence is not None and not competence.get("assessable", False):
        reason = competence.get("reason", "the dense model is not competent at this task")
        return Verdict(NOT_ASSESSABLE, None, [f"Not assessable with this model/suite: {reason}"])
    entry = rules.get("tasks", {}).get(task)
    if entry is None:
        return Verdict(NOT_ASSESSABLE, None, [f"The rules file has no rule for '{task}'."])
    missing = [n for n in entry["features"] if n not in features]
    if missing:
        return Verdict(
            CAUTION, None, [f"Measurements lack {', '.join(missing)}; the rule cannot be applied."]
        )
    node, path, reasons, near = entry["tree"], [], [], False
    while "feature" in node:
        name, threshold = node["feature"], node["threshold"]
        value = features[name]
        sd = entry["stats"].get(name, {}).get("sd", 0.0)
        margin = MARGIN_SD * sd
        close = abs(value - threshold) <= margin
        near |= close
        side = "le" if value <= threshold else "gt"
        path.append(
            {"feature": name, "value": value, "threshold": threshold, "side": side, "near": close}
        )
        op = "≤" if side == "le" else ">"
        reasons.append(
            f"{_label(name)} = {value:.4g} {op} {threshold:.4g}"
            + (f" (within the margin ±{margin:.2g}: near the threshold)" if close else "")
        )
        node = node[side]
    purity = max(node["go"], node["n"] - node["go"]) / node["n"] if node["n"] else 0.0
    validation = entry.get("validation", {})
    val_acc = validation.get("leave_one_method_out", {}).get("accuracy")
    reasons.append(
        f"The rule's leaf held {node['go']} go of {node['n']} training configurations"
        + (f"; leave-one-method-out accuracy {val_acc:.0%}." if val_acc is not None else ".")
    )
    transfer, transfer_note = _transfer(rules, validation, fingerprint)
    if transfer_note:
        reasons.append(transfer_note)
    cautions = []
    if near:
        cautions.append("Caution: a measured value is close to a rule threshold.")
    if purity < MIN_PURITY:
        cautions.append(f"Caution: the rule's leaf is mixed ({purity:.0%} majority).")
    if val_acc is not None and val_acc < MIN_ACCURACY:
        cautions.append(
            f"Caution: the rule often misjudges a pruning method left out of fitting "
            f"(leave-one-method-out accuracy {val_acc:.0%})."
        )
    if transfer is not None and transfer < MIN_ACCURACY:
        cautions.append(
            f"Caution: the rule carries over poorly to models it was not fitted on "
            f"({transfer:.0%} right on the held-out model)."
        )
    reasons += cautions
    verdict = CAUTION if cautions else node["outcome"]
    confidence = purity
    for acc in (val_acc, transfer):
        confidence *= acc if acc is not None else 1.0
    return Verdict(verdict, round(confidence, 4), reasons, path)
