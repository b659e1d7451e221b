"""Competence gate: is the dense model good enough at a task for a verdict to mean anything?

docs/design.md §5a: a small dense model can sit at chance (knowledge-heavy multiple choice) or
be degenerate (answering "A" to every lettered question). Then dense-vs-pruned agreement
is high for any pruning and says nothing. A task type is *assessable* only when the dense
model is

* **clearly above chance**: a one-sided exact binomial test of its number of successes
  against the chance rate rejects "no better than chance" at ``alpha`` (default 0.05).
  Where items have different chance rates (mixed sources), the exact Poisson-binomial
  tail is used instead; and
* **not degenerate**: its most common answer covers at most ``max_share`` of the items
  (default 0.75; a balanced suite never needs one answer that often).

Both tests need at least ``min_items`` items (default 10). For continuous scores (chrF),
successes are paired wins against a mismatched reference (chance 0.5), see
:func:`paired_wins`; ``assess`` reads them prefill-only, as likelihoods
(:mod:`advisor.measure.assessable`). Every decision records its ``margin``: how many
successes it could lose and still pass (or, failed, how many more it needed), so a
decision at its edge is visible as one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advisor.suites import DEFAULT_MIN_ITEMS
from advisor.verdicts import NOT_COMPETENT

DEFAULT_ALPHA = 0.05
DEFAULT_MAX_SHARE = 0.75


@dataclass(frozen=True)
class Competence:
    """The gate's decision for one task type, with the numbers behind it."""

    task: str
    assessable: bool
    reason: str
    n: int
    successes: int
    score: float
    chance: float
    p_value: float
    test: str
    top_answer: str
    top_share: float
    alpha: float
    max_share: float
    min_items: int
    margin: int = 0
    decided_in: str = ""  # the precision the dense model was run in to decide it
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def _success_counts(probabilities: Sequence[float]) -> np.ndarray:
    """P(X = k), k = 0..n, for X a sum of independent Bernoulli(p_i) (exact convolution)."""
    dist = np.zeros(len(probabilities) + 1)
    dist[0] = 1.0
    for p in probabilities:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return dist


def poisson_binomial_sf(successes: int, probabilities: Sequence[float]) -> float:
    """P(X >= successes) for X a sum of independent Bernoulli(p_i) (exact, by convolution)."""
    return float(min(1.0, _success_counts(probabilities)[successes:].sum()))


def above_chance_p_value(successes: int, chance: Sequence[float]) -> tuple[float, str]:
    """One-sided exact p-value of ``successes`` under per-item chance rates, and the test."""
    rates = [float(c) for c in chance]
    # Equal rates make the convolution the binomial tail: one exact routine for both,
    # without importing scipy (~0.5 s of every run) for it.
    test = "binomial" if len(set(rates)) == 1 else "poisson-binomial"
    return poisson_binomial_sf(successes, rates), test


def passing_successes(rates: Sequence[float], alpha: float) -> int | None:
    """The fewest successes whose above-chance p-value is below ``alpha`` under the per-item
    chance ``rates`` (None when even all of them would not be)."""
    dist = _success_counts(rates)
    passing = [k for k in range(len(rates) + 1) if min(1.0, dist[k:].sum()) < alpha]
    return passing[0] if passing else None


def paired_wins(own: Sequence[float], mismatched: Sequence[float]) -> list[bool]:
    """Per item: does the output score strictly higher against its own reference?

    ``mismatched[i]`` is the score of output ``i`` against another item's reference; with
    no real relation to the input, a win happens half the time (chance 0.5; ties lose).
    """
    if len(own) != len(mismatched):
        raise ValueError("own and mismatched must have the same length")
    return [a > b for a, b in zip(own, mismatched, strict=True)]


def competence_gate(
    task: str,
    correct: Sequence[bool],
    answers: Sequence[Hashable],
    chance: float | Sequence[float],
    *,
    score: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    max_share: float = DEFAULT_MAX_SHARE,
    min_items: int = DEFAULT_MIN_ITEMS,
) -> Competence:
    """Decide whether ``task`` is informative for this dense model on this suite.

    ``correct[i]``: whether the dense model's answer to item ``i`` is right (or a paired
    win); ``answers[i]``: the answer it gave (option index, extracted number, text...);
    ``chance``: the chance rate of a success, one for all items or one per item.
    ``score``: the task's own summary score to report (defaults to the success rate).
    """
    n = len(correct)
    if len(answers) != n:
        raise ValueError("correct and answers must have the same length")
    rates = [float(chance)] * n if isinstance(chance, (int, float)) else list(chance)
    if len(rates) != n:
        raise ValueError("one chance rate per item, or a single one")
    if any(not 0 <= r <= 1 for r in rates):
        raise ValueError("chance rates must lie in [0, 1]")
    successes = int(sum(bool(c) for c in correct))
    rate = successes / n if n else 0.0
    mean_chance = sum(rates) / n if n else 0.0
    top, top_count = Counter(answers).most_common(1)[0] if n else ("", 0)
    top_share = top_count / n if n else 0.0
    p_value, exact = above_chance_p_value(successes, rates) if n else (1.0, "none")
    needed = passing_successes(rates, alpha) if n else None
    margin = successes - (needed if needed is not None else n + 1)

    if n < min_items:
        ok, why = False, f"only {n} items; at least {min_items} are needed to test competence"
    elif top_share > max_share:
        ok, why = (
            False,
            (
                f"degenerate: the dense model gives the same answer ({str(top)[:40]!r}) on "
                f"{top_share:.0%} of items (limit {max_share:.0%})"
            ),
        )
    elif p_value >= alpha:
        ok, why = (
            False,
            (
                f"not clearly above chance: {successes}/{n} = {rate:.2f} vs chance "
                f"{mean_chance:.2f} (one-sided p = {p_value:.3g}, needs < {alpha}"
                + (f"; {-margin} more needed)" if needed is not None else ")")
            ),
        )
    else:
        ok, why = (
            True,
            (
                f"above chance: {successes}/{n} = {rate:.2f} vs chance {mean_chance:.2f} "
                f"(one-sided p = {p_value:.3g}; still passes with {margin} fewer); most "
                f"common answer on {top_share:.0%} of items"
            ),
        )
    return Competence(
        task=task,
        assessable=ok,
        reason=why if ok else f"{NOT_COMPETENT}: {why}",
        n=n,
        successes=successes,
        score=float(score) if score is not None else rate,
        chance=mean_chance,
        p_value=p_value,
        test=exact,
        top_answer=str(top),
        top_share=top_share,
        alpha=alpha,
        max_share=max_share,
        min_items=min_items,
        margin=margin,
    )
