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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.rules.bounds import Counts, loss_bounds
from advisor.verdicts import CAUTION, GO, NO_GO, caution_reason

Z = 1.645
MIN_CASES = 4
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
class Case:
    """One configuration's evidence and ground truth for one task type."""

    loss: float
    loss_sd: float
    retention: float  # ground truth (pruned / dense score on the evaluation split)
    outcome: str  # ground truth's go / caution / no-go at its tolerance
    label_sd: float = 0.0  # the ground truth's own sampling SD, from its interval
    model: str = ""
    method: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    counts: Counts | None = None  # a share kind's counts, for exact bounds

    @property
    def decisive(self) -> bool:
        """Whether the ground truth's interval lies wholly on one side of the tolerance."""
        return self.outcome in (GO, NO_GO)


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


def fit_line(cases: Sequence[Case], kind: str = "reference") -> dict[str, float]:
    """Slope b and misfit c of ``1 − min(retention, 1) = b·u`` on ``cases``.

    b: for "answers" evidence 1 (the calibration items are scored exactly as ground truth
    scores its items: the same quantity on other items); for "ranking" least squares
    through the origin, at least 1 (ranking within a small calibration corpus loses no
    more than within the evaluation's larger one); for "survival" least squares, at most
    1 (a lost answer may still be right after the texts part, never the other way); for
    "reference" least squares (nats of excess NLL to retention). c: the residual variance
    beyond the evidence's sampling noise, fitted as (c·u)² by least squares on u² — the
    ground truth's own noise is left in (its labels are measurements too), which widens
    the interval where labels are noisy.
    """
    if len(cases) < MIN_CASES:
        raise ValueError(f"Need at least {MIN_CASES} cases to fit, got {len(cases)}.")
    us = [c.loss for c in cases]
    ys = [1.0 - min(c.retention, 1.0) for c in cases]
    uu = sum(u * u for u in us)
    if kind == "answers" or uu == 0:
        b = 1.0
    else:
        b = max(0.0, sum(u * y for u, y in zip(us, ys, strict=True)) / uu)
        b = min(b, 1.0) if kind == "survival" else max(b, 1.0) if kind == "ranking" else b
    excess = [(y - b * c.loss) ** 2 - (b * c.loss_sd) ** 2 for y, c in zip(ys, cases, strict=True)]
    u4 = sum(u**4 for u in us)
    c2 = sum(e * u * u for e, u in zip(excess, us, strict=True)) / u4 if u4 > 0 else 0.0
    return {"slope": round(b, 6), "misfit": round(math.sqrt(max(0.0, c2)), 6)}


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


def score(rule: dict[str, float], cases: Sequence[Case], tolerance: float) -> dict[str, Any]:
    """How a rule's verdicts fare against ground truth on ``cases``.

    decisive: cases whose ground truth is go or no-go; committed: those given go or no-go;
    right: committed verdicts equal to the ground truth. Borderline ground truth (its
    interval straddles the tolerance) is counted apart: how many got caution.
    """
    decisive = [c for c in cases if c.decisive]
    verdicts = [
        predict(rule, c.loss, c.loss_sd, tolerance, counts=c.counts).verdict for c in decisive
    ]
    committed = [(v, c) for v, c in zip(verdicts, decisive, strict=True) if v != CAUTION]
    right = sum(v == c.outcome for v, c in committed)
    border = [c for c in cases if not c.decisive]
    border_caution = sum(
        predict(rule, c.loss, c.loss_sd, tolerance, counts=c.counts).verdict == CAUTION
        for c in border
    )
    return {
        "cases": len(cases),
        "decisive": len(decisive),
        "committed": len(committed),
        "right": right,
        "borderline": len(border),
        "borderline_caution": border_caution,
    }


def add_scores(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum of two :func:`score` records (for totals over folds or task types)."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def held_out(
    cases: Sequence[Case],
    key: Callable[[Case], str],
    tolerance: float,
    kind: str = "reference",
) -> dict[str, Any]:
    """Score each group (by ``key``: model or method) with a rule fitted on the others."""
    total: dict[str, Any] = {}
    per_group = {}
    for group in sorted({key(c) for c in cases}):
        train = [c for c in cases if key(c) != group]
        test = [c for c in cases if key(c) == group]
        if len(train) < MIN_CASES:
            continue
        record = score(fit_line(train, kind), test, tolerance)
        per_group[group] = record
        total = add_scores(total, record)
    return {"total": total, "per_group": per_group}


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
