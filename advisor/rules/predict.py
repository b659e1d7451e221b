"""Predicted retention: from a task type's direct evidence to an interval and a verdict.

The evidence of :mod:`advisor.measure.evidence` gives, per task type, a *loss* u ≥ 0 that is 0 for
the dense model itself: 1 − the retention measured on the calibration items (answers and
answer survival), or the mean excess NLL of the reference text in nats per token
(open text). Both mean the same on any model, which is what lets a rule fitted on one
model family judge another (docs/design.md §5c). Per task type the rule is one line and
one spread, fitted on the grid's ground truth:

    predicted retention  R̂ = 1 − b·u
    its uncertainty      σ² = (b·s)² + (c·u)²

``s`` is u's sampling SD on this run's calibration items (a larger user suite narrows
it), ``c·u`` the rule's own misfit, which grows with the distance from the dense model
(an unpruned copy is predicted exactly). The sampling part of the interval is not
``z·b·s`` where the evidence is a share of kept answers: there u's bounds are exact
binomial ones (:mod:`advisor.rules.bounds`), asymmetric near 0 and 1, and each side of
the interval is R̂ minus or plus hypot(b·(u's bound − u), z·c·u), clipped to [0, 1]. Each
committed side is a one-sided 95% bound: **go** when the lower end is at or above the
tolerance by at least the rounding margin, **no-go** when the upper end is below it by at
least that margin, **caution** otherwise — and then the reasons say what would settle it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from advisor.rules.bounds import Counts, loss_bounds
from advisor.verdicts import CAUTION, GO, NO_GO, caution_reason

Z = 1.645
# A committed verdict keeps this far (in retention) from the tolerance: an interval edge
# closer than that is within what CPU rounding can move (bf16 kernels move a reference
# ΔNLL by ~0.003 nats/token, ~0.001 of retention through the fitted slopes), so it reads
# caution on every machine instead of go on one and caution on another (§5h).
ROUNDING_MARGIN = 0.005


def counts_of(stats: dict[str, Any]) -> Counts | None:
    """The counts of a share kind's evidence stats, None where they hold none."""
    if "kept" in stats and "of" in stats:
        return Counts(
            float(stats["kept"]),
            float(stats["of"]),
            float(stats.get("gained", 0.0)),
            float(stats.get("others", 0.0)),
        )
    return None


@dataclass(frozen=True)
class Prediction:
    """A predicted retention with its interval and the verdict it implies."""

    retention: float
    low: float
    high: float
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (rounded: these are estimates)."""
        return {
            "retention": round(self.retention, 4),
            "interval": [round(self.low, 4), round(self.high, 4)],
            "verdict": self.verdict,
        }


def predict(
    rule: dict[str, float],
    loss: float,
    loss_sd: float,
    tolerance: float,
    z: float = Z,
    counts: Counts | None = None,
) -> Prediction:
    """The predicted retention, its interval and verdict for one measured loss.

    ``z`` sets the level of the sampling part (an earlier sequential look reads with a
    larger one, :mod:`advisor.rules.looks`); the misfit part keeps Z. ``counts``: where
    the evidence is a share, what it is made of, for exact binomial bounds on u."""
    slope, misfit = rule["slope"], Z * rule["misfit"] * loss
    u_low, u_high = loss_bounds(loss, loss_sd, z, counts)
    point = 1.0 - slope * loss
    low = point - math.hypot(slope * max(0.0, u_high - loss), misfit)
    high = point + math.hypot(slope * max(0.0, loss - u_low), misfit)
    point, low, high = (min(1.0, max(0.0, x)) for x in (point, low, high))
    if low >= min(1.0, tolerance + ROUNDING_MARGIN):  # tolerance 1: only an exact copy
        verdict = GO
    elif high < tolerance - ROUNDING_MARGIN:
        verdict = NO_GO
    else:
        verdict = CAUTION
    return Prediction(point, low, high, verdict)


def predict_from(
    rule: dict[str, float], stats: dict[str, Any], tolerance: float, z: float = Z
) -> Prediction:
    """:func:`predict` on an evidence record's ``stats`` (loss, loss_sd, and the counts
    of a share kind)."""
    return predict(rule, stats["loss"], stats["loss_sd"], tolerance, z, counts_of(stats))


def rate(record: dict[str, Any]) -> str:
    """'right/committed of decisive' as text, e.g. '19/20 right, 20 of 24 committed'."""
    return (
        f"{record.get('right', 0)}/{record.get('committed', 0)} right, "
        f"{record.get('committed', 0)} of {record.get('decisive', 0)} decisive committed"
    )


# --------------------------------------------------------------------------- applying

EVIDENCE_WORDS = {
    "answers": "the pruned model's own answers on the calibration items, scored as ground "
    "truth scores them",
    "ranking": "the pruned model's own rankings of the calibration corpus (reciprocal rank "
    "of the gold passage)",
    "survival": "answer survival: on the items the dense model answers right, whether the "
    "pruned model's greedy decoding reproduces the dense answer (read teacher-forced "
    "along the dense tokens, no free decoding)",
    "reference": "the pruned model's excess negative log-likelihood of the reference texts "
    "(ΔNLL, nats per token)",
}


def confidence(prediction: Prediction, tolerance: float) -> float:
    """The normal-model probability that the verdict's side of the tolerance is right
    (for caution: of the more likely side)."""
    sigma = (prediction.high - prediction.low) / (2 * Z)
    if sigma <= 0:
        return 1.0
    gap = abs(prediction.retention - tolerance) / sigma
    return round(0.5 * (1 + math.erf(gap / math.sqrt(2))), 4)


def items_to_settle(
    rule: dict[str, float],
    loss: float,
    loss_sd: float,
    n: int,
    tolerance: float,
    counts: Counts | None = None,
) -> int | None:
    """How many calibration items would make this interval decisive, if more evidence of
    the same kind could: the same loss read on m items (its SD shrinking as 1/√m, a share's
    counts growing with m), the smallest m up to 20·n that commits (None when none does,
    e.g. where the rule's own misfit alone straddles the tolerance)."""

    def commits(m: int) -> bool:
        f = m / n
        scaled = None if counts is None else Counts(*(f * x for x in vars(counts).values()))
        return predict(rule, loss, loss_sd / math.sqrt(f), tolerance, Z, scaled).verdict != CAUTION

    if n <= 0 or not commits(20 * n):
        return None
    low, high = n, 20 * n  # commits(high); not known for low
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if commits(mid) else (mid, high)
    return high


def explain(
    task: str,
    rule: dict[str, Any],
    evidence: dict[str, Any],
    tolerance: float,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """The verdict for one task type with its prediction, confidence and reasons."""
    stats = evidence["stats"]
    loss, loss_sd = stats["loss"], stats["loss_sd"]
    look = evidence.get("look") or {}
    pred = predict_from(rule, stats, tolerance, look.get("z", Z))
    kind = evidence["kind"]
    kept = "n/a" if evidence["retention"] is None else f"{evidence['retention']:.2f}"
    if kind == "reference":
        measured = f"ΔNLL {stats['delta_nll']:.3f} nats/token on {evidence['n']} references"
    elif kind == "survival":
        measured = (
            f"{stats['survival']:.0%} of the {stats.get('scoring_answers', evidence['n']):.0f} "
            f"scoring dense answers (of {evidence['n']} items) survive (retention {kept})"
        )
    else:
        measured = (
            f"retention {kept} on {evidence['n']} items (same answer as the dense model on "
            f"{stats['answer_agreement']:.0%})"
        )
    if stats.get("identical_weights"):
        measured += "; the pruned model holds exactly the dense model's weights"
    models = ", ".join(m["name"] for m in provenance.get("training_models", [])) or "?"
    reasons = [
        f"Evidence: {EVIDENCE_WORDS[kind]}: {measured}; loss u = {loss:.4f} ± {loss_sd:.4f}.",
        f"Rule (fitted on {models}, {rule.get('n_cases', '?')} configurations): predicted "
        f"retention 1 − {rule['slope']:.3g}·u = {pred.retention:.3f}, one-sided 95% bounds "
        f"[{pred.low:.3f}, {pred.high:.3f}] against the tolerance {tolerance:g}"
        + (
            f" ({stats['kept']:.3g} of {stats['of']:.3g} kept: exact binomial bounds)."
            if counts_of(stats)
            else "."
        ),
    ]
    if look.get("items", 0) < look.get("of", 0):
        reasons.append(
            f"Settled at look {look['look']} of {look['looks']}: {look['items']} of the "
            f"{look['of']} calibration items already cleared the bound of an early look "
            f"(sampling part at z = {look['z']:g}, stricter than a later look's), so the rest "
            f"were not run."
        )
    held = rule.get("validation", {}).get("leave_one_model_out")
    if held:
        reasons.append(f"On a model left out of fitting this rule was {rate(held)}.")
    record: dict[str, Any] = {
        "verdict": pred.verdict,
        "summary": f"{measured}; loss u = {loss:.3f} ± {loss_sd:.3f}",
        "confidence": confidence(pred, tolerance),
        "reasons": reasons,
        "path": [],
        "prediction": pred.to_dict(),
        "evidence": evidence,
    }
    if pred.verdict == CAUTION:
        more = items_to_settle(rule, loss, loss_sd, evidence["n"], tolerance, counts_of(stats))
        settle = (
            f"run `prune-advisor evaluate --task {task}` (ground truth) on this pruned model"
            + (
                f", or assess with a suite of at least {more} items of your own (--data)"
                if more is not None and more <= 20 * evidence["n"]
                else ""
            )
        )
        record["settle"] = settle
        reasons.append(
            caution_reason(f"the interval straddles the tolerance; to settle it, {settle}.")
        )
    return record
