"""The task-aware plan against the task-agnostic frontier, with ground truth for both.

    .venv/bin/python benchmarks/guidance_truth.py --model smollm2-135m [--model gemma3-270m]
    .venv/bin/python benchmarks/guidance_truth.py --table

Run on demand (not a unit test; tens of minutes per model on two CPU cores). Per model,
structural method and task type (each row):

* the task-agnostic frontier that `sweep` finds today: `sweep --method M --amounts
  1,...,K --task T` (the method's own importance ranking; its largest go amount);
* the task-aware plan: `plan --method M --task T` (its largest verified go set);
* ground truth (`evaluate`: float32, the built-in evaluation split, sequential from 32
  questions, decisive labels) at the plan's amount k for both: the plan's k units removed,
  and the k units the method's ranking removes (what `--layers k` prunes).

Rows are appended to benchmarks/results/guidance_truth.jsonl as each finishes; a rerun
skips the rows there (resumable; an interrupted row is measured again); with ``--again``
it measures a row again unless it was measured on today's calibration suite (each row
records its suite's id), appending it. ``--table`` prints the Markdown table of the latest
row of each model, method and task type.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth_rows import SEED, Models, append_row, cell, command_line, dropped_truth, read_rows

ROWS = Path(__file__).resolve().parent / "results" / "guidance_truth.jsonl"
SWEEPS = Path("reports/guidance-truth")
TASKS = "math,rag,multiple-choice,classification"
METHODS = "attn-drop,mlp-drop"
# the sweep's amounts: 1..K layers, a third of the model's layers at most
MAX_SHARE = 3


def frontier(models: Models, method: str, tasks: list[str]) -> dict[str, int]:
    """The task-agnostic sweep's largest go layer count per task type (0: none is go);
    resumable through its folder."""
    from advisor.models.anatomy import decoder_layers
    from advisor.sweep.plan import SweepRequest
    from advisor.sweep.run import sweep

    dense = models.get("auto")
    top = len(decoder_layers(dense.model)) // MAX_SHARE
    plan = SweepRequest(method, [{"layers": k} for k in range(1, top + 1)], tasks, seed=SEED)
    summary = sweep(dense, plan, SWEEPS / f"{models.name}-{method}")
    return {t: int(summary["largest_go"][t] or 0) for t in tasks}


def agnostic_units(models: Models, method: str, k: int) -> list[int]:
    """The k units the method's own ranking removes (``--layers k``)."""
    from advisor.guidance.blame import removed_units
    from advisor.pruning import prune_model
    from advisor.pruning.pruned import RECORD_KEY

    if k == 0:
        return []
    pruned = prune_model(models.get("auto"), method, layers=k, seed=SEED)
    found = removed_units(getattr(pruned.loaded.model.config, RECORD_KEY))
    return found[1] if found else []


def measure_row(models: Models, method: str, task: str, agnostic_go: int) -> dict[str, Any]:
    """One row: the plan, the frontier and the ground truth of both at the plan's amount."""
    from advisor.assess import assess
    from advisor.guidance.plan import make_plan
    from advisor.guidance.sensitivity import MapRequest

    start = time.perf_counter()
    plan = make_plan(models.get("auto"), MapRequest(method, [task], seed=SEED), assess)
    units = plan["units"]
    other = agnostic_units(models, method, len(units))
    dense32 = models.get("float32")
    plan_truth = dropped_truth(dense32, method, units, task) if units else None
    same = sorted(other) == sorted(units)
    other_truth = plan_truth if same else dropped_truth(dense32, method, other, task)
    return {
        "model": models.name,
        "method": method,
        "task": task,
        "go_alone": plan["candidates"],
        "plan_units": units,
        "plan_amount": len(units),
        "plan_verdicts": plan["verified"]["verdicts"] if plan["verified"] else None,
        "agnostic_frontier": agnostic_go,
        "agnostic_units": other,
        "same_units": same,
        "truth_plan": plan_truth,
        "truth_agnostic": other_truth if units else None,
        "calibration": calibration_hash(task),
        "seconds": round(time.perf_counter() - start, 1),
    }


def calibration_hash(task: str) -> str:
    """The id of the calibration suite a row's plan read (rows before 2026-12-05 lack it:
    their choice rows read the earlier, smaller choice suites)."""
    from advisor.measure.calibration_items import calibration_suites
    from advisor.suites.items import items_hash

    return items_hash(calibration_suites([task], SEED)[task])


def better(row: dict[str, Any]) -> str:
    """Which pruning kept more quality at the plan's amount, by ground truth."""
    a, b = row["truth_plan"], row["truth_agnostic"]
    if not a or row["same_units"]:
        return "same units" if a else "no plan"
    rank = {"go": 2, "caution": 1, "no-go": 0}
    key_a, key_b = (
        (rank.get(a["outcome"], 0), a["retention"]),
        (rank.get(b["outcome"], 0), b["retention"]),
    )
    return "plan" if key_a > key_b else "agnostic" if key_b > key_a else "tie"


def latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row of each model, method and task type, in the order they first appear."""
    last = {(r["model"], r["method"], r["task"]): r for r in rows}
    return list(last.values())


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the latest of ``rows`` (:func:`latest`)."""
    rows = latest(rows)
    lines = [
        "| model | method | task | sweep: largest go | plan: largest go (units) "
        "| truth, plan | truth, ranking at same amount (units) | better |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    for r in rows:
        plan = ", ".join(map(str, r["plan_units"])) or "none"
        other = ", ".join(map(str, r["agnostic_units"]))
        lines.append(
            f"| {r['model']} | {r['method']} | {r['task']} | {r['agnostic_frontier']} "
            f"| {r['plan_amount']} ({plan}) | {cell(r['truth_plan'])} "
            f"| {cell(r['truth_agnostic'])}{f' ({other})' if other else ''} | {better(r)} |"
        )
    return "\n".join(lines)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument(
        "--again", action="store_true", help="measure rows of an earlier suite again"
    )


def main() -> None:
    args = command_line(__doc__, ROWS, table, _options)
    if args is None:
        return
    tasks = args.tasks.split(",")
    for name in args.model:
        models = Models(name)
        for method in args.methods.split(","):
            rows = read_rows(ROWS)
            done = {
                (r["model"], r["method"], r["task"])
                for r in rows
                if not args.again or r.get("calibration") == calibration_hash(r["task"])
            }
            todo = [t for t in tasks if (name, method, t) not in done]
            if not todo:
                continue
            go = frontier(models, method, todo)
            for task in todo:
                row = measure_row(models, method, task, go[task])
                append_row(ROWS, row)
                print(table([row]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
