"""The loss u a verdict reads, and its sampling SD, from paired per-item scores.

u is what the evidence says was lost (docs/design.md §5c): 1 − retention (floored at 0)
for a count of answers (choice, ranking, short-answer survival), the mean excess NLL per
token for free text. Its SD is the paired bootstrap's, with a Jeffreys floor for counts
(so that "nothing lost on 12 items" is not read as certainty); a count also carries the
numbers the exact binomial bounds read (:mod:`advisor.rules.bounds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# The kinds whose loss is 1 − a kept share: their stats carry the counts ("kept", "of")
# that exact binomial bounds read (advisor/rules/bounds.py).
SHARE_KINDS = ("answers", "survival", "ranking")

BOOTSTRAP = 1000


def _loss_answers(dense: list[float], pruned: list[float]) -> tuple[float, float]:
    """Loss u = 1 − min(retention, 1) and its sampling SD: the paired bootstrap SD, but no
    less than the SD of the Jeffreys Beta(k+½, n−k+½) posterior for k lost of n dense
    successes, so that "nothing lost on 12 items" is not read as certainty."""
    d, p = np.asarray(dense, dtype=np.float64), np.asarray(pruned, dtype=np.float64)
    if d.sum() <= 0:
        return 0.0, 1.0
    u = max(0.0, 1.0 - min(p.sum() / d.sum(), 1.0))
    picks = np.random.default_rng(0).integers(0, d.size, size=(BOOTSTRAP, d.size))
    ds, ps = d[picks].sum(1), p[picks].sum(1)
    ratios = np.divide(ps, ds, out=np.ones_like(ps), where=ds > 0)
    boot = float(np.std(1.0 - np.minimum(ratios, 1.0)))
    n, k = float(d.sum()), u * float(d.sum())
    floor = math.sqrt((k + 0.5) * (n - k + 0.5) / ((n + 1) ** 2 * (n + 2)))
    return u, max(boot, floor)


def _loss_reference(delta: list[float]) -> tuple[float, float]:
    """Loss u = mean ΔNLL (floored at 0) and the bootstrap SD of that mean over items."""
    x = np.asarray(delta, dtype=np.float64)
    picks = np.random.default_rng(0).integers(0, x.size, size=(BOOTSTRAP, x.size))
    return max(0.0, float(x.mean())), float(np.std(x[picks].mean(1)))


def loss_of(kind: str, dense: Sequence[float], pruned: Sequence[float]) -> tuple[float, float]:
    """The loss u and its sampling SD from paired per-item scores (``TaskEvidence.dense`` /
    ``.pruned``; for "reference" these are exp(−NLL), so ΔNLL = log dense − log pruned)."""
    if kind == "reference":
        return _loss_reference(
            [math.log(d) - math.log(p) for d, p in zip(dense, pruned, strict=True)]
        )
    return _loss_answers(list(dense), list(pruned))


def loss_stats(kind: str, dense: Sequence[float], pruned: Sequence[float]) -> dict[str, float]:
    """The stats a verdict reads from paired per-item scores: ``loss``, ``loss_sd`` and,
    for a share kind, the counts of exact binomial bounds (``kept``, ``of``, ``gained``,
    ``others``: :class:`advisor.rules.bounds.Counts`)."""
    loss, loss_sd = loss_of(kind, dense, pruned)
    stats = {"loss": loss, "loss_sd": loss_sd}
    if kind in SHARE_KINDS:
        pairs = list(zip(dense, pruned, strict=True))
        stats |= {
            "kept": math.fsum(min(d, p) for d, p in pairs),
            "of": math.fsum(dense),
            "gained": math.fsum(max(p - d, 0.0) for d, p in pairs),
            "others": math.fsum(1.0 - d for d in dense),
        }
    return stats
