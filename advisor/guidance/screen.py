"""Screening a unit out of a plan: stop reading once it can no longer be go alone.

The sensitivity map serves the plan, which takes only units whose removal alone is go
(:func:`advisor.guidance.plan.alone_go`). A unit read in looks (:mod:`advisor.rules.looks`)
whose verdict is still caution would read more items; but for evidence that is a count of
surviving answers (``survival``), the best every unread item can do is survive, and when
even that best case is not go at any later look, no reading of the rest can make the unit
go. It stops there, and the best case is checked every few items inside a look as well
(:data:`STEP`): its cell keeps what it read (with the interval at that look's level) and
says ``screened``. This is exact, not a looser test: the verdict a full reading would
give is caution or no-go either way (more losses only lower the bounds:
``tests/test_guidance.py::test_screening_is_exact``), so the plan's candidates are the
same. Evidence that can rise above the dense model's (``reference`` log-likelihoods) has no
best case and is read in full.

Inside a look the new items are read narrowest dense margin first
(:func:`likeliest_losses_first`): the answers the dense model barely gives are the ones a
removed unit loses first, and one loss often settles the unit, so most units stop after a
step or two. A look still reads the same items in any order, so the order moves only where
a reading stops, never a verdict or a candidate (the margins, read in the precision the
map runs in, may order items differently on another CPU: the candidates stay the same).
The plan checks its sets with the same reading (:func:`advisor.guidance.plan.check`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from advisor.measure.calibration_items import look_order
from advisor.measure.loss import loss_stats
from advisor.rules.looks import look_schedule
from advisor.rules.predict import predict_from
from advisor.verdicts import CAUTION, GO

# Evidence whose unread items have a best case: survival of the dense model's answers.
SCREENED_KINDS = ("survival",)
# Items read between two checks of the screen inside a look. A check is no look: it never
# commits a verdict, it only stops a reading that can no longer be go, so it spends no
# error (the looks' z are unchanged); one lost answer often settles it.
STEP = 2


def best_case(
    dense: Sequence[float], read: dict[int, float], size: int, order: Sequence[int]
) -> list[float]:
    """The pruned scores at a look of ``size`` items (the first ``size`` of ``order``)
    when every item not read yet keeps its dense score; ``read``: position -> pruned score."""
    return [read.get(n, dense[n]) for n in sorted(order[:size])]


def could_go(
    rule: dict[str, Any],
    kind: str,
    tolerance: float,
    dense: Sequence[float],
    read: dict[int, float],
    later: Sequence[tuple[int, float]],
    order: Sequence[int],
) -> bool:
    """Whether any of the ``later`` looks ((items, z) each) could still be go: its best
    case (:func:`best_case`) predicted go. Always True for a kind with no best case."""
    if kind not in SCREENED_KINDS:
        return True
    for size, z in later:
        picks = sorted(order[:size])
        stats = loss_stats(kind, [dense[n] for n in picks], best_case(dense, read, size, order))
        if predict_from(rule, stats, tolerance, z).verdict == GO:
            return True
    return False


def likeliest_losses_first(
    positions: Sequence[int], dense: Sequence[float], margins: Sequence[float] | None
) -> list[int]:
    """``positions`` in the order a screened reading takes them: the dense model's scoring
    answers by their margin, narrowest first (the likeliest to be lost, and one loss often
    settles a unit), then the items it gets wrong (they score 0 whatever the unit does).
    Without margins, as given."""
    if margins is None:
        return list(positions)
    return sorted(positions, key=lambda n: (dense[n] <= 0, margins[n]))


def screened_reading(
    rule: dict[str, Any],
    kind: str,
    dense: Sequence[float],
    tolerance: float,
    margins: Sequence[float] | None = None,
) -> Generator[list[int], Any, Any]:
    """A unit's evidence read in looks as :func:`advisor.rules.looks.read_in_looks` reads
    it, stopping also where it can no longer be go (:func:`could_go`); ``dense``: the dense
    model's score on each item; ``margins``: the dense model's margin on each
    (:func:`likeliest_losses_first` orders each look's new items by it).

    A generator: it yields the item positions to read next and is sent their evidence (an
    :class:`~advisor.measure.evidence.TaskEvidence`); it returns the last evidence with its
    ``look`` set (``screened`` True where it stopped for that reason). Every unit of a row
    yields the same positions in the same order until it stops, which lets a row read its
    units in lockstep (:func:`advisor.guidance.rows.task_row`). The order within a look
    changes only where a reading stops, never a verdict: each look reads the same items
    whatever their order."""
    n = len(dense)
    order, schedule = look_order(n), look_schedule(kind, n)
    done = 0
    for number, (size, z) in enumerate(schedule, start=1):
        look = {"look": number, "looks": len(schedule), "of": n, "z": z}
        new = likeliest_losses_first(order[done:size], dense, margins)
        for part in range(STEP, len(new), STEP) if kind in SCREENED_KINDS else ():
            picks = sorted([*order[:done], *new[:part]])  # a check, not a look: no verdict
            found = yield picks
            read = dict(zip(picks, found.pruned, strict=True))
            if not could_go(rule, kind, tolerance, dense, read, schedule[number - 1 :], order):
                found.look = look | {"items": len(picks), "screened": True}
                return found
        done = size
        picks = sorted(order[:size])
        found = yield picks
        verdict = predict_from(rule, found.stats, tolerance, z).verdict
        look["items"] = size
        if verdict != CAUTION or number == len(schedule):
            found.look = look
            return found
        read = dict(zip(picks, found.pruned, strict=True))
        if not could_go(rule, kind, tolerance, dense, read, schedule[number:], order):
            found.look = look | {"screened": True}
            return found
    raise AssertionError("unreachable: the last look always returns")


def read_screened(
    rule: dict[str, Any],
    kind: str,
    dense: Sequence[float],
    tolerance: float,
    measure_on: Callable[[list[int]], Any],
    margins: Sequence[float] | None = None,
) -> Any:
    """:func:`screened_reading` driven to its end by ``measure_on`` (positions -> their
    evidence): the last evidence, its ``look`` set."""
    reading = screened_reading(rule, kind, dense, tolerance, margins)
    picks = next(reading)
    while True:
        try:
            picks = reading.send(measure_on(picks))
        except StopIteration as stop:
            return stop.value
