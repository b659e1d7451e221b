"""What a sweep shares between its amounts, and where it may stop (docs/design.md §5d).

* **Once per sweep**: the dense model, its cached side, the rules. For structural methods
  every amount is pruned up front (the copies share the dense tensors, so that costs no
  weights) and one :class:`advisor.forward.prefix.PrefixShare` replays, for each amount,
  the layers it shares with an amount already run.
* **Early stop**: once a task type was no-go with a decisive margin at two consecutive
  amounts, larger amounts are not assessed for it (recorded as ``stopped``). This assumes
  that a larger amount of the same method is no better, which nested drop sets and growing
  sparsity make the rule; ``early_stop=False`` assesses every amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from advisor.verdicts import GO, NO_GO

# A no-go is decisive when its predicted interval ends this far below the tolerance
# (or the model is broken outright: no interval, certain).
DECISIVE_MARGIN = 0.05
STOP_AFTER = 2
STOPPED = "stopped"


def decisive_no_go(record: dict[str, Any], tolerance: float) -> bool:
    """Whether a task's verdict record is no-go with a decisive margin."""
    if record.get("verdict") != NO_GO:
        return False
    prediction = record.get("prediction")
    if not prediction:
        return True  # a broken model: no-go with certainty
    return float(prediction["interval"][1]) <= tolerance - DECISIVE_MARGIN


class EarlyStop:
    """Which task types are still assessed as the amount grows."""

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


def largest_go(rows: list[dict[str, Any]], tasks: Sequence[str]) -> dict[str, float | None]:
    """The largest amount whose verdict is go, per task type (None: no amount is)."""
    frontier = {}
    for t in tasks:
        go = [float(r["amount"]) for r in rows if r["verdicts"].get(t) == GO]
        frontier[t] = max(go) if go else None
    return frontier


def pruned_up_front(dense: Any, plan: Any, console: Any = None) -> tuple[list[Any], Any]:
    """For a structural method: every amount's pruned model and the prefix share between
    them; otherwise ``([], None)`` (each amount is pruned when it runs, one copy at a time)."""
    from advisor.forward.prefix import PrefixShare, dense_tensors
    from advisor.pruning import get_method, prune_model

    if get_method(plan.method).kind != "structural":
        return [], None
    models = [
        prune_model(dense, plan.method, pattern=plan.pattern, seed=plan.seed, console=console, **s)
        for s in plan.steps
    ]
    share = PrefixShare([m.loaded.model for m in models], dense_tensors(dense.model))
    return models, share
