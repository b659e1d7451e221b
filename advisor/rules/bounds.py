"""Sampling bounds of a loss u: exact binomial bounds where the evidence is a share.

docs/design.md §5h. A normal interval ``u ± z·s`` is anti-conservative exactly where the
evidence is cleanest: "16 of 16 answers survived" has s ≈ 0 (or a floored Jeffreys SD),
while the exact one-sided 1% lower bound of the survival rate is 0.75 (Clopper–Pearson).
So for the evidence kinds whose loss is a share of kept answers ("answers", "survival",
"ranking") the bounds on u are the wider, on each side, of

* the exact Clopper–Pearson bounds of the shares at the one-sided level of ``z``
  (asymmetric, never outside [0, 1]; for fractional counts — reciprocal ranks — the same
  beta-quantile form), counting kept and gained answers apart (:class:`Counts`), and
* the normal bound with the evidence's own sampling SD (the paired bootstrap, which also
  carries what a share cannot: answers the pruned model gains).

Reference evidence (mean ΔNLL, a continuous mean) keeps the normal bound. Every bound is
clipped to the loss's range, u ≥ 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from scipy.special import betaincinv


@dataclass(frozen=True)
class Counts:
    """What a share kind's loss is made of, in units of answers (or reciprocal ranks).

    ``kept``: the dense model's successes the pruned model keeps (Σ min(pruned, dense));
    ``of``: the dense model's successes (Σ dense); ``gained``: successes the pruned model
    has where the dense one had none (Σ max(pruned − dense, 0)), out of ``others`` items
    the dense model missed. Retention is (kept + gained) / of. Gains never count towards
    go (the lower bound is the kept share's), and count towards no-go only through their
    own exact upper bound: a loss hidden by a lucky gain must not read as nothing lost.
    """

    kept: float
    of: float
    gained: float = 0.0
    others: float = 0.0


def tail(z: float) -> float:
    """The one-sided level a normal quantile ``z`` stands for (z = 1.645 → 0.05)."""
    return 1.0 - NormalDist().cdf(z)


def clopper_pearson(kept: float, of: float, alpha: float) -> tuple[float, float]:
    """Exact one-sided bounds (each at level ``alpha``) of a share ``kept`` of ``of``.

    The lower bound is the ``alpha`` quantile of Beta(kept, of − kept + 1) (0 when nothing
    was kept), the upper the 1 − ``alpha`` quantile of Beta(kept + 1, of − kept) (1 when
    everything was). Real-valued counts use the same form.
    """
    if of <= 0:
        return 0.0, 1.0
    kept = min(max(kept, 0.0), of)
    low = 0.0 if kept <= 0 else float(betaincinv(kept, of - kept + 1, alpha))
    high = 1.0 if kept >= of else float(betaincinv(kept + 1, of - kept, 1 - alpha))
    return low, high


def loss_bounds(
    loss: float,
    loss_sd: float,
    z: float,
    counts: Counts | None = None,
) -> tuple[float, float]:
    """(lower, upper) bound of the loss u at the one-sided level of ``z``.

    ``counts`` for a share kind (see :class:`Counts`); None for reference evidence, which
    keeps the normal bound.
    """
    low, high = loss - z * loss_sd, loss + z * loss_sd
    if counts is not None and counts.of > 0:
        alpha = tail(z)
        kept_low, _ = clopper_pearson(counts.kept, counts.of, alpha)
        if counts.gained > 0 and counts.others > 0:
            # two upper bounds, each at half the level: kept share plus gained answers
            _, kept_high = clopper_pearson(counts.kept, counts.of, alpha / 2)
            _, gain_high = clopper_pearson(counts.gained, counts.others, alpha / 2)
            retained_high = kept_high + gain_high * counts.others / counts.of
        else:
            _, retained_high = clopper_pearson(counts.kept, counts.of, alpha)
        low = min(low, 1.0 - min(1.0, retained_high))
        high = max(high, 1.0 - kept_low)
    return max(0.0, low), max(0.0, high)
