"""Rules: from cheap calibration measurements to go / caution / no-go (docs/design.md §5).

``apply_rules`` walks a fitted rule (plain data, :mod:`advisor.rules.tree`) and explains
the path it took with the measured values.

A verdict is ``caution`` rather than go / no-go when a measured value lies within the
margin of a threshold on its path (``MARGIN_SD`` training standard deviations of that
feature), when the leaf is impure (its majority share is below ``MIN_PURITY``), when the
rule's leave-one-method-out accuracy is below ``MIN_ACCURACY``, or — for a model the rules
were not fitted on — when the rule's accuracy on the held-out model (measured on at least
``MIN_HELD_OUT_CASES`` configurations) is below ``MIN_ACCURACY``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advisor.rules.features import FEATURES
from advisor.verdicts import CAUTION, NOT_ASSESSABLE, caution_reason, not_assessable_reason

MARGIN_SD = 0.25
MIN_PURITY = 0.75
MIN_ACCURACY = 0.75
MIN_HELD_OUT_CASES = 4  # fewer held-out configurations say too little to act on


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
        return Verdict(NOT_ASSESSABLE, None, [not_assessable_reason(reason)])
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
        cautions.append(caution_reason("a measured value is close to a rule threshold."))
    if purity < MIN_PURITY:
        cautions.append(caution_reason(f"the rule's leaf is mixed ({purity:.0%} majority)."))
    if val_acc is not None and val_acc < MIN_ACCURACY:
        cautions.append(
            caution_reason(
                f"the rule often misjudges a pruning method left out of fitting "
                f"(leave-one-method-out accuracy {val_acc:.0%})."
            )
        )
    if transfer is not None and transfer < MIN_ACCURACY:
        cautions.append(
            caution_reason(
                f"the rule carries over poorly to models it was not fitted on "
                f"({transfer:.0%} right on the held-out model)."
            )
        )
    reasons += cautions
    verdict = CAUTION if cautions else node["outcome"]
    confidence = purity
    for acc in (val_acc, transfer):
        confidence *= acc if acc is not None else 1.0
    return Verdict(verdict, round(confidence, 4), reasons, path)
