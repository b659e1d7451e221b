"""What a sweep runs: a method, its amounts (``--amounts`` read and checked before any model
loads) and how each amount is assessed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.pruning import PruneRequest, check_amount, get_method


@dataclass(frozen=True)
class SweepRequest:
    """What to sweep: a method, its amounts (each ``{"layers": n}``, ``{"ratio": r}`` or
    ``{"sparsity": s}``, see :func:`sweep_amounts`) and how to assess each: ``search`` the
    frontier from the largest amount down (a task type settled at its first go) or assess
    ``"every"`` amount from the smallest up (with ``early_stop``, a task type stops after
    two decisive no-gos), measure the report's ``hierarchy`` per amount (docs/design.md
    §5d); ``data``: the user's own suites, task type -> file (:mod:`advisor.suites.own`);
    ``sensitivity``: also measure the method's sensitivity map for the index page
    (:mod:`advisor.guidance.sensitivity`; structural methods)."""

    method: str
    steps: list[dict[str, Any]]
    tasks: list[str]
    pattern: str = "unstructured"
    temperature: float = 1.0
    rules_path: str | Path | None = None
    seed: int = 0
    early_stop: bool = True
    hierarchy: bool = False
    search: str = "frontier"
    data: dict[str, Path] | None = None
    sensitivity: bool = False


def sweep_amounts(method: str, text: str, pattern: str = "unstructured") -> list[dict[str, Any]]:
    """``--amounts`` as pruning amounts: sparsities, or for drop methods layer ratios (< 1)
    or layer counts (whole numbers). Each amount is checked here, before any model loads,
    and a bad one is named as given in ``--amounts`` (the --ratio / --sparsity it becomes
    were never typed); a count too large for the model is caught once it is loaded."""
    spec = get_method(method)  # an unknown method is named as such, not as a bad amount
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise AdvisorError(f"--amounts must be comma-separated numbers, got '{text}'.") from exc
    if not values:
        raise AdvisorError("--amounts needs at least one amount.")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise AdvisorError(f"--amounts lists {twice[0]:g} more than once; give each amount once.")
    if spec.structural:
        counts = all(v >= 1 and v.is_integer() for v in values)
        valid = "whole numbers of layers (1 or more) or fractions of the layers in (0, 1)"
        example = "1,2,4"
        ok = lambda v: counts or 0 < v < 1  # noqa: E731
        steps = [{"layers": int(v)} if counts else {"ratio": v} for v in values]
    else:
        valid = "sparsities in [0, 1)"
        example = "0.1,0.3,0.5"
        ok = lambda v: 0 <= v < 1  # noqa: E731
        steps = [{"sparsity": v} for v in values]
    bad = [v for v in values if not ok(v)]
    if bad:
        raise AdvisorError(
            f"--amounts {text}: {bad[0]:g} is not an amount of {method}; give {valid}, "
            f"all of one kind (e.g. --amounts {example})."
        )
    for step in steps:  # the method's other rules (e.g. --pattern), as assess checks them
        try:
            check_amount(PruneRequest(method, pattern=pattern, **step))
        except AdvisorError as exc:
            raise AdvisorError(f"--amounts {text} with --pattern {pattern}: {exc}") from None
    return steps
