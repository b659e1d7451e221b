"""The fitted rule as a scikit-learn estimator (docs/design.md §5c).

Per task type the rule is one line and one spread: predicted retention 1 − slope·u with
a misfit c·u (:mod:`advisor.rules.predict` applies it). :class:`RetentionRule` fits it on
:class:`Case` s — ``fit(cases, labels)``, the labels being the cases' ground-truth
retentions — and ``predict`` gives their verdicts; ``slope_`` and ``misfit_`` are what it
learned and :meth:`RetentionRule.to_rule` is the serialized form a rules file holds.
Being a scikit-learn estimator (``get_params`` / ``set_params``, clonable), it is validated
with scikit-learn's model selection (:mod:`advisor.fitting.validation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sklearn.base import BaseEstimator

from advisor.rules.bounds import Counts
from advisor.rules.predict import predict
from advisor.truth.retention import DEFAULT_TOLERANCE
from advisor.verdicts import GO, NO_GO

MIN_CASES = 4


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


class RetentionRule(BaseEstimator):
    """One task type's rule as an estimator: ``evidence`` is the task type's evidence kind
    (how the slope is fitted, :func:`fit_line`), ``tolerance`` the retention a go needs.
    Fitted: ``slope_`` and ``misfit_``."""

    def __init__(self, evidence: str = "reference", tolerance: float = DEFAULT_TOLERANCE):
        self.evidence = evidence
        self.tolerance = tolerance

    def fit(self, cases: Sequence[Case], labels: Sequence[float] | None = None) -> RetentionRule:
        """Fit the line on ``cases``; ``labels``: their ground-truth retentions (None: each
        case's own ``retention``)."""
        cases = list(cases)
        if labels is not None:
            cases = [replace(c, retention=float(y)) for c, y in zip(cases, labels, strict=True)]
        rule = fit_line(cases, self.evidence)
        self.slope_, self.misfit_ = rule["slope"], rule["misfit"]
        return self

    def to_rule(self) -> dict[str, float]:
        """The fitted rule as a rules file holds it: ``{"slope": …, "misfit": …}``."""
        return {"slope": self.slope_, "misfit": self.misfit_}

    def predict(self, cases: Sequence[Case]) -> list[str]:
        """The verdict (go / caution / no-go) of each case's evidence at ``tolerance``."""
        rule = self.to_rule()
        return [
            predict(rule, c.loss, c.loss_sd, self.tolerance, counts=c.counts).verdict for c in cases
        ]
