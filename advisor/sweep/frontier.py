"""What a sweep shares between its amounts, and where it may stop (docs/design.md §5d).

* **Once per sweep**: the dense model, its cached side, the rules. For structural methods
  every amount is pruned up front (the copies share the dense tensors, so that costs no
  weights) and one :class:`advisor.forward.layer_replay.LayerReplay` replays, for each amount,
  the layers it shares with an amount already run.
* **Frontier search** (the default): the largest amount first, then down; a task type is
  settled at its first go, and smaller amounts are not assessed for it (recorded as
  ``skipped``). Every larger amount was assessed and was not go, so that amount is the
  largest go of the plain per-amount loop whatever the verdicts below it: exact, with no
  assumption about how quality falls with the amount. A task type with no go anywhere is
  assessed at every amount.
* **Every amount** (``search="every"``): smallest first, with an early stop: once a task
  type was no-go with a decisive margin at two consecutive amounts, larger amounts are not
  assessed for it (recorded as ``stopped``). This assumes that a larger amount of the same
  method is no better, which nested drop sets and growing sparsity make the rule;
  ``early_stop=False`` assesses every amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from advisor.forward.layer_replay import LayerReplay, dense_tensors
from advisor.models.loading import LoadedModel
from advisor.pruning import get_method, prune_model
from advisor.verdicts import GO, NO_GO, SKIPPED, STOPPED

# A no-go is decisive when its predicted interval ends this far below the tolerance
# (or the model is broken outright: no interval, certain).
DECISIVE_MARGIN = 0.05
STOP_AFTER = 2
SEARCHES = ("frontier", "every")


def amount_of(step: dict[str, Any]) -> float:
    """A sweep step's amount as a number (its one value: layers, ratio or sparsity)."""
    return float(next(iter(step.values())))


def decisive_no_go(record: dict[str, Any], tolerance: float) -> bool:
    """Whether a task's verdict record is no-go with a decisive margin."""
    if record.get("verdict") != NO_GO:
        return False
    prediction = record.get("prediction")
    if not prediction:
        return True  # a broken model: no-go with certainty
    return float(prediction["interval"][1]) <= tolerance - DECISIVE_MARGIN


class EarlyStop:
    """Which task types are still assessed as the amount grows (``search="every"``)."""

    marker = STOPPED

    def __init__(self, tasks: Sequence[str], enabled: bool = True) -> None:
        self.tasks, self.enabled = list(tasks), enabled
        self.run = {t: 0 for t in tasks}  # consecutive decisive no-gos
        self.stopped: dict[str, str] = {}  # task -> the amount after which it stopped

    def active(self) -> list[str]:
        """The task types to assess at the next amount."""
        return [t for t in self.tasks if t not in self.stopped]

    def update(self, label: str, result: dict[str, Any]) -> None:
        """Take one amount's result into account."""
        tolerance = float(result["settings"]["tolerance"])
        for task, record in result["tasks"].items():
            decisive = decisive_no_go(record, tolerance)
            self.run[task] = self.run[task] + 1 if decisive else 0
            if self.enabled and self.run[task] >= STOP_AFTER:
                self.stopped.setdefault(task, label)


class FrontierSearch:
    """Which task types are still assessed as the amount shrinks (``search="frontier"``)."""

    marker = SKIPPED

    def __init__(self, tasks: Sequence[str]) -> None:
        self.tasks = list(tasks)
        self.stopped: dict[str, str] = {}  # task -> the amount it was settled at (its go)

    def active(self) -> list[str]:
        """The task types to assess at the next (smaller) amount."""
        return [t for t in self.tasks if t not in self.stopped]

    def update(self, label: str, result: dict[str, Any]) -> None:
        """Take one amount's result into account."""
        for task, record in result["tasks"].items():
            if record.get("verdict") == GO:
                self.stopped.setdefault(task, label)


def search_order(steps: Sequence[dict[str, Any]], search: str) -> list[int]:
    """The order a sweep runs its steps in (indices into ``steps``): largest amount first
    for the frontier search, smallest first for every amount."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, not {search!r}")
    return sorted(
        range(len(steps)), key=lambda k: amount_of(steps[k]), reverse=search == "frontier"
    )


def largest_go(rows: list[dict[str, Any]], tasks: Sequence[str]) -> dict[str, float | None]:
    """The largest amount whose verdict is go, per task type (None: no amount is)."""
    frontier = {}
    for t in tasks:
        go = [float(r["amount"]) for r in rows if r["verdicts"].get(t) == GO]
        frontier[t] = max(go) if go else None
    return frontier


def pruned_up_front(
    dense: LoadedModel, plan: Any, steps: Sequence[dict[str, Any]], console: Any = None
) -> tuple[list[Any], Any]:
    """For a structural method: the pruned model of every one of ``steps`` (in the order
    they will run) and the prefix share between them; otherwise ``([], None)`` (each
    amount is pruned when it runs, one copy at a time)."""

    if not get_method(plan.method).structural:
        return [], None
    models = [
        prune_model(dense, plan.method, pattern=plan.pattern, seed=plan.seed, console=console, **s)
        for s in steps
    ]
    share = LayerReplay([m.loaded.model for m in models], dense_tensors(dense.model))
    return models, share
