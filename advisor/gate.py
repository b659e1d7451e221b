"""The CI gate: which verdicts fail it (``--fail-on``), and what it says it checked.

A gate must never pass on what it did not check. A task type whose dense model is not
competent gets ``not-assessable``: nothing was measured about the pruned model there.
``--fail-on not-assessable`` (README recommends it for CI) fails the gate on such a task
type, so a run that checked nothing cannot pass; under any threshold, the sentence that
the terminal and the report print names the task types that were checked and those that
were not, and never says "passed" for one that was not.
"""

from __future__ import annotations

from typing import Any

from advisor.errors import AdvisorError
from advisor.verdicts import CAUTION, NO_GO, NOT_ASSESSABLE

# Each --fail-on threshold and the verdicts it fails on; no-go always fails.
THRESHOLDS = {
    NO_GO: (NO_GO,),
    CAUTION: (CAUTION, NO_GO),
    NOT_ASSESSABLE: (NOT_ASSESSABLE, NO_GO),
}
# The gate README recommends for CI: fail on no-go and on anything not checked.
RECOMMENDED = NOT_ASSESSABLE


def parse_fail_on(value: str) -> str:
    """``--fail-on``'s value in its canonical form ("caution,not-assessable"), checked.

    One threshold (no-go, caution, not-assessable) or a comma-separated combination."""
    names = {part.strip() for part in str(value).split(",") if part.strip()}
    unknown = sorted(names - set(THRESHOLDS))
    if unknown or not names:
        raise AdvisorError(
            "--fail-on takes no-go, caution or not-assessable, or a comma-separated "
            f"combination such as caution,not-assessable; got '{value}'."
        )
    return ",".join(t for t in THRESHOLDS if t in names)


def failing_verdicts(fail_on: str) -> set[str]:
    """The verdicts that fail the gate under ``fail_on`` (see :func:`parse_fail_on`)."""
    return {v for t in parse_fail_on(fail_on).split(",") for v in THRESHOLDS[t]}


def gate_record(verdicts: dict[str, str], fail_on: str) -> dict[str, Any]:
    """The result's ``gate``: the threshold, whether it failed, the failing task types, and
    which task types were checked (got go, caution or no-go) and which were not."""
    fail_on = parse_fail_on(fail_on)
    failing = failing_verdicts(fail_on)
    return {
        "fail_on": fail_on,
        "failed": any(v in failing for v in verdicts.values()),
        "failing_tasks": [t for t, v in verdicts.items() if v in failing],
        "checked": [t for t, v in verdicts.items() if v != NOT_ASSESSABLE],
        "not_checked": [t for t, v in verdicts.items() if v == NOT_ASSESSABLE],
    }


def gate_state(result: dict[str, Any]) -> str:
    """ "failed", "passed" (every task type checked, none failing) or "unchecked" (did not
    fail, but some task type was not checked: it passed for none of those)."""
    gate = result["gate"]
    if gate["failed"]:
        return "failed"
    verdicts = [t["verdict"] for t in result["tasks"].values()]
    return "unchecked" if NOT_ASSESSABLE in verdicts else "passed"


def gate_sentence(result: dict[str, Any]) -> str:
    """What the gate decided, in one or two sentences: the same words in the terminal and
    the report. Reads the verdicts, so a result.json written before the ``checked`` field
    existed says the same."""
    gate, tasks = result["gate"], result["tasks"]
    fail_on = gate["fail_on"]
    checked = [t for t, r in tasks.items() if r["verdict"] != NOT_ASSESSABLE]
    unchecked = [t for t, r in tasks.items() if r["verdict"] == NOT_ASSESSABLE]
    failing = gate["failing_tasks"]
    silent = [t for t in unchecked if t not in failing]  # not checked, and not failing
    not_checked = (
        f"Not checked (not assessable): {', '.join(silent)}; the gate says nothing about "
        f"{'it' if len(silent) == 1 else 'them'}."
        if silent
        else ""
    )
    if gate["failed"]:
        why = ", ".join(f"{t} {tasks[t]['verdict']}" for t in failing)
        head = f"CI gate failed (--fail-on {fail_on}): {why}."
        return " ".join(filter(None, (head, not_checked)))
    if not checked:
        return (
            f"CI gate checked nothing: no requested task type is assessable with this "
            f"model/suite ({', '.join(unchecked)}). It did not fail only because --fail-on "
            f"{fail_on} ignores that; --fail-on {RECOMMENDED} fails closed."
        )
    head = f"CI gate passed (--fail-on {fail_on}) for the task types checked: {', '.join(checked)}."
    return " ".join(filter(None, (head, not_checked)))
