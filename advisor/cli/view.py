"""What `assess`, `sweep` and `plan` print: a short answer that fits a CI log.

At most 100 columns, one line per task type (task, verdict, predicted retention with its
interval, items read, one short reason), then the speed and the gate. Lines are printed
as written (never wrapped or cut by rich), so a label is never truncated. The long
evidence is in ``-v``, ``--json`` and the report; every number here is the report's.
"""

from __future__ import annotations

import textwrap
from typing import Any

from rich.text import Text

from advisor.cli.app import line, out
from advisor.gate import gate_sentence, gate_state
from advisor.notes import blame_sentence, items_read, plan_headline, short_reason, speed_note
from advisor.provenance import detected_lines
from advisor.verdicts import style

WIDTH = 100
GATE_STYLE = {"failed": "red", "passed": "green", "unchecked": "yellow"}
# task, verdict, retention [bounds], items: the widest value of each, then the reason.
COLUMNS = (15, 14, 18, 7)


def _say(console: Any, text: str | Text, style_name: str = "") -> None:
    """Print ``text`` wrapped at WIDTH by us, never by rich (which would cut labels)."""
    plain = text.plain if isinstance(text, Text) else text
    for part in textwrap.wrap(plain, WIDTH, subsequent_indent="  ") or [""]:
        console.print(line((part, style_name)) if style_name else part, soft_wrap=True)


def _row(cells: list[str], verdict: str | None = None) -> Text:
    """One line of the verdict table: fixed-width cells, the verdict in its colour."""
    padded = [c.ljust(w) for c, w in zip(cells, COLUMNS, strict=False)] + cells[len(COLUMNS) :]
    parts: list[str | tuple[str, str]] = []
    for n, cell in enumerate(padded):
        text = cell + ("  " if n < len(padded) - 1 else "")
        parts.append((text, style(verdict)) if n == 1 and verdict and style(verdict) else text)
    return line(*parts)


def print_verdicts(result: dict[str, Any], console: Any = out, verbose: bool = False) -> None:
    """The verdicts, one line per task type, the speed with why, and (``verbose``) every
    reason behind each verdict."""
    pruning, settings = result["pruning"], result["settings"]
    tolerance = settings.get("tolerance")
    label = pruning.get("label") or pruning["amount"]
    _say(
        console,
        f"{result['model']['name']}, {pruning['method']} {label}: go needs a predicted "
        f"retention of at least {tolerance:.2f} of the dense model's quality",
    )
    console.print(
        _row(["task", "verdict", "retention [bounds]", "items", "reason"]), soft_wrap=True
    )
    for task, record in result["tasks"].items():
        pred = record.get("prediction")
        retention = (
            "—"
            if pred is None
            else f"{pred['retention']:.2f} [{pred['interval'][0]:.2f}, {pred['interval'][1]:.2f}]"
        )
        cells = [task, record["verdict"], retention, items_read(record)]
        row = _row([*cells, short_reason(record, tolerance)], record["verdict"])
        console.print(row, soft_wrap=True)
        if verbose:
            for reason in record["reasons"]:
                _say(console, f"  · {reason}")
    for task, record in result["tasks"].items():  # your suite, read for the usual causes
        for hint in [] if verbose else record.get("hints", []):
            _say(console, f"hint ({task}): {hint}")
    for found in detected_lines(pruning.get("detected")):  # pruned elsewhere: §9b
        _say(console, found)
    parameters = result["model"]["parameters"]
    speed = result["speed"]
    _say(
        console,
        f"parameters {parameters:,} → {pruning['parameters']:,}; decoding "
        f"{speed['dense_ms_per_token']:.1f} → {speed['pruned_ms_per_token']:.1f} ms/token",
    )
    _say(console, f"speed {speed_note(result)}")


def print_gate(result: dict[str, Any], console: Any) -> None:
    """The gate's sentence, in the colour of its state."""
    _say(console, gate_sentence(result), GATE_STYLE[gate_state(result)])


def print_blame(result: dict[str, Any], console: Any = out) -> None:
    """With --blame: one sentence per task type blamed (or why nothing was)."""
    blamed = result.get("blame")
    if blamed is None:
        return
    if not blamed["available"]:
        _say(console, f"Blame: {blamed['reason']}")
        return
    for task, record in blamed["tasks"].items():
        verdict = result["tasks"][task]["verdict"]
        restores = blamed.get("restores", "units")
        _say(console, "Blame: " + blame_sentence(task, verdict, record, restores))


def print_sweep(summary: dict[str, Any], method: str, console: Any = out) -> None:
    """Every amount's verdicts (one line per amount), then each task type's largest go."""
    rows, tasks = summary["steps"], list(summary["largest_go"])
    width = max(len("amount"), *(len(str(r["amount"])) for r in rows)) if rows else 6
    _say(console, f"{method}: verdict per amount and task type")
    for start in range(0, len(tasks), 4):  # at most 4 task types (columns) per block
        block = tasks[start : start + 4]
        header = "amount".ljust(width) + "".join(f"  {t:<15}" for t in block)
        console.print(header.rstrip(), soft_wrap=True)
        for row in rows:
            parts: list[str | tuple[str, str]] = [str(row["amount"]).ljust(width)]
            for n, t in enumerate(block):
                v = row["verdicts"].get(t, "")
                cell = v if n == len(block) - 1 else f"{v:<15}"
                parts += ["  ", (cell, style(v)) if style(v) else cell]
            console.print(line(*parts), soft_wrap=True)
    largest = ", ".join(
        f"{t} {'none' if a is None else f'{a:g}'}" for t, a in summary["largest_go"].items()
    )
    _say(console, f"largest go amount: {largest}")


def plan_verdicts(checked: dict[str, Any]) -> str:
    """A verified set's verdicts, each with its predicted retention and interval."""
    parts = []
    for task, verdict in checked["verdicts"].items():
        p = checked["predictions"].get(task)
        shown = (
            f" {p['retention']:.2f} [{p['interval'][0]:.2f}, {p['interval'][1]:.2f}]" if p else ""
        )
        parts.append(f"{task} {verdict}{shown}")
    return "; ".join(parts)


def print_plan(plan: dict[str, Any], report: Any, saved: Any = None) -> None:
    """The plan in a few lines (at most WIDTH columns, paths aside)."""
    layers = plan["map"]["layers"]
    out.print(line(("Plan", "bold"), f" for {plan['model']}, {plan['method']}:"), soft_wrap=True)
    _say(out, f"  {plan_headline(plan)}")
    verified = plan["verified"]
    if verified:
        _say(out, f"  {len(plan['units'])} of {layers} units; verified: {plan_verdicts(verified)}")
        out.print(
            f"  parameters {plan['parameters_before']:,} -> {verified['parameters']:,}; "
            f"decoding x{verified['speedup']:.2f} here",
            soft_wrap=True,
        )
    out.print(
        f"  map: {layers} units x {len(plan['tasks'])} task type(s); "
        f"{len(plan['candidates'])} go alone; {len(plan['checked'])} set(s) checked",
        soft_wrap=True,
    )
    # Measured against ground truth (docs/guidance.md): on free text the method's own
    # ranking kept as much quality as the plan or more, so say so where the user reads.
    free_text = [t for t, row in plan["map"]["tasks"].items() if row.get("evidence") == "reference"]
    if free_text:
        _say(
            out,
            f"  note: on free text ({', '.join(free_text)}) the method's own ranking kept as "
            "much quality as a plan or more in every case measured; compare `prune-advisor "
            "sweep` (docs/guidance.md).",
        )
    out.print(f"Report: {report}", soft_wrap=True)
    if saved is not None:
        out.print(f"Saved: {saved}", soft_wrap=True)
