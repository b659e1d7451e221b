"""Sequential looks: the evidence read on a quarter, a half, then all calibration items.

Most configurations are far from the tolerance: a model that lost its arithmetic, or one
whose only change is rounding, is plain from a few items. A group-sequential reading
(docs/design.md §5f) measures the pruned model on a stratified quarter of a task type's
calibration items first and stops there when the verdict is already committed; otherwise
on half, then on all. Each look's bound on the *sampling* part of the interval has the
O'Brien–Fleming shape z = c/√t at the fraction t of the items, with c = 1.68 chosen so
that the three looks together keep the one-sided error at 5% (a single look at 1.645
would, with two looks before it, spend 5.4%): 3.36 at a quarter, 2.376 at a half, 1.68
at the last. The rule's own misfit is not a sampling error and keeps z = 1.645.
``benchmarks/interval_coverage.py`` checks the whole procedure by simulation.

Looks apply to the evidence read from teacher-forced answers and references ("survival",
"reference"). Choice answers are read at once: the spread of an answer count on a
quarter of the items (the Jeffreys floor) almost never clears an early bound (on the
grid, 1 of the 120 held-out choice pairs stopped early), so their looks only cost extra
batches; retrieval's ranking is read within the calibration corpus as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from advisor.measure.calibration_items import look_order
from advisor.rules.predict import Prediction, Z, predict_from
from advisor.verdicts import CAUTION

# (fraction of the items, z of the sampling part) of each look before the last, and the
# last look's z when looks came before it: c/√t with c = 1.68, which spends 4.99% over
# looks at a quarter, a half and all (multivariate normal); a reading of one look keeps Z.
LOOKS = ((0.25, 3.36), (0.5, 2.376))
Z_LAST_LOOK = 1.68
# Fewer items than this say too little about their own spread (a bootstrap SD of four
# items can be near zero by chance): such a look is skipped.
MIN_LOOK_ITEMS = 6
LOOKED_KINDS = ("survival", "reference")

E = TypeVar("E")


def look_schedule(kind: str, n: int) -> list[tuple[int, float]]:
    """(items, z of the sampling part) of each look for ``n`` items of evidence ``kind``;
    the last is (n, Z_LAST_LOOK) after earlier looks, else (n, Z)."""
    plan: list[tuple[int, float]] = []
    if kind in LOOKED_KINDS:
        for fraction, z in LOOKS:
            size = math.ceil(fraction * n)
            if MIN_LOOK_ITEMS <= size < n and all(size > k for k, _ in plan):
                plan.append((size, z))
    return [*plan, (n, Z_LAST_LOOK if plan else Z)]


def read_in_looks(
    rule: dict[str, float],
    kind: str,
    n: int,
    tolerance: float,
    measure: Callable[[list[int]], E],
    stats_of: Callable[[E], dict[str, Any]],
) -> tuple[E, Prediction, dict[str, Any]]:
    """Measure look by look until the verdict commits (or all ``n`` items are read).

    ``measure(picks)``: the evidence on the items at positions ``picks``; ``stats_of``:
    its stats (loss u, its sampling SD ``loss_sd``, and a share kind's ``kept`` and
    ``of``). Returns the last look's evidence, its prediction and a
    record of the look: ``{"look", "looks", "items", "of", "z"}``.
    """
    order = look_order(n)
    plan = look_schedule(kind, n)
    for number, (size, z) in enumerate(plan, start=1):
        evidence = measure(sorted(order[:size]))
        prediction = predict_from(rule, stats_of(evidence), tolerance, z)
        if prediction.verdict != CAUTION or number == len(plan):
            look = {"look": number, "looks": len(plan), "items": size, "of": n, "z": z}
            return evidence, prediction, look
    raise AssertionError("unreachable: the last look always returns")


def evidence_in_looks(
    rule: dict[str, Any],
    kind: str,
    n: int,
    tolerance: float,
    measure_on: Callable[[list[int] | None], Any],
) -> Any:
    """A task type's evidence (an :class:`~advisor.measure.evidence.TaskEvidence`: its
    ``stats`` hold the loss and its SD) read in looks, its ``look`` set; read on every item
    at once (``measure_on(None)``) where ``rule`` has no line to read it with."""
    if "slope" not in rule:
        return measure_on(None)
    found, _, look = read_in_looks(rule, kind, n, tolerance, measure_on, lambda e: e.stats)
    found.look = look
    return found
