"""sweep: the largest pruning amount that is still go, per task type.

Each amount is pruned and assessed in turn (the dense side is measured once and reused),
written as its own report, and marked finished by a step file holding everything that made
its result: a rerun into the same folder reuses finished steps whose inputs are unchanged
and runs the rest, so an interrupted sweep resumes where it stopped. The frontier (largest
go amount per task type) is drawn and linked from an ``index.html``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.assess import assess, load_rules
from advisor.errors import AdvisorError
from advisor.files import atomic_write, writable_dir, write_json
from advisor.verdicts import NO_GO

STEP_FILE = "sweep_step.json"


@dataclass(frozen=True)
class SweepPlan:
    """What to sweep: a method, its amounts (each ``{"layers": n}``, ``{"ratio": r}`` or
    ``{"sparsity": s}``, see :func:`sweep_steps`) and how to assess each: ``early_stop``
    a task type after two decisive no-gos, measure the report's ``hierarchy`` per amount
    (docs/design.md §5d)."""

    method: str
    steps: list[dict[str, Any]]
    tasks: list[str]
    pattern: str = "unstructured"
    temperature: float = 1.0
    rules_path: str | Path | None = None
    seed: int = 0
    early_stop: bool = True
    hierarchy: bool = False


def sweep_steps(method: str, text: str) -> list[dict[str, Any]]:
    """``--amounts`` as pruning amounts: sparsities, or for drop methods layer ratios (< 1)
    or layer counts (whole numbers)."""
    from advisor.rules.grid import STRUCTURAL

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise AdvisorError(f"--amounts must be comma-separated numbers, got '{text}'.") from exc
    if not values:
        raise AdvisorError("--amounts needs at least one amount.")
    if method in STRUCTURAL:
        if all(v >= 1 and v.is_integer() for v in values):
            return [{"layers": int(v)} for v in values]
        return [{"ratio": v} for v in values]
    return [{"sparsity": v} for v in values]


def _finished_step(step_dir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a step finished by an earlier run with the same ``key``, else None."""
    try:
        if json.loads((step_dir / STEP_FILE).read_text()) != json.loads(json.dumps(key)):
            return None
        return json.loads((step_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Run:
    """What every step of one sweep shares."""

    dense: Any
    plan: SweepPlan
    folder: Path
    rules_sha: str
    console: Any
    assessor: Callable[..., dict[str, Any]]
    pruned: dict[int, Any]
    share: Any


def _step(run: _Run, n: int, tasks: list[str]) -> tuple[dict[str, Any], str]:
    """One amount's result, assessed now or reused from an earlier run; and which."""
    from advisor.pruning import prune_model
    from advisor.report import write_report

    dense, plan, step = run.dense, run.plan, run.plan.steps[n]
    step_dir = run.folder / f"{plan.method}-{next(iter(step.values())):g}"
    # Everything that makes a step's result what it is: a rerun may reuse it only if all
    # of it is unchanged.
    key = {
        "dense": dense.fingerprint,
        "method": plan.method,
        "step": step,
        "pattern": plan.pattern,
        "tasks": tasks,
        "hierarchy": plan.hierarchy,
        "temperature": plan.temperature,
        "seed": plan.seed,
        "rules_sha256": run.rules_sha,
    }
    result = _finished_step(step_dir, key)
    if result is not None:
        return result, "resumed"
    pruned = run.pruned.pop(n, None) or prune_model(
        dense, plan.method, pattern=plan.pattern, seed=plan.seed, console=run.console, **step
    )
    result = run.assessor(
        dense,
        pruned,
        tasks,
        hierarchy=plan.hierarchy,
        share=run.share,
        temperature=plan.temperature,
        rules_path=plan.rules_path,
        seed=plan.seed,
        fail_on=NO_GO,
        timings={},
    )
    if run.share is not None:
        run.share.finished(pruned.loaded.model)
    write_report(result, step_dir)
    write_json(step_dir / STEP_FILE, key, sort_keys=True)  # last: marks it complete
    return result, result["manifest"]["measurement"]["dense_cache"]


def sweep(
    dense: Any,
    plan: SweepPlan,
    folder: str | Path,
    *,
    console: Any = None,
    on_step: Callable[[str, float, str], None] | None = None,
    assessor: Callable[..., dict[str, Any]] = assess,
) -> dict[str, Any]:
    """Assess every amount of ``plan`` against ``dense`` into ``folder``; return the summary
    (also written as ``sweep.json``): per amount the verdicts, speed-up and time, and the
    largest go amount per task type. ``on_step(label, seconds, state)`` reports each
    amount; ``console`` shows pruning progress; ``assessor`` runs one assessment (default
    :func:`advisor.assess.assess`; the CLI wraps it in a status display)."""
    from advisor.frontier import STOPPED, EarlyStop, largest_go, pruned_up_front
    from advisor.report import figures, render_sweep_index

    rules_sha = load_rules(plan.rules_path)[2]
    folder = writable_dir(folder)
    models, share = pruned_up_front(dense, plan, console)
    run = _Run(dense, plan, folder, rules_sha, console, assessor, dict(enumerate(models)), share)
    rows, stop = [], EarlyStop(plan.tasks, plan.early_stop)
    for n, step in enumerate(plan.steps):
        start = time.perf_counter()
        label = f"{next(iter(step.values())):g}"
        result, state = _step(run, n, stop.active())
        stop.update(label, result)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "amount": label,
                "seconds": round(seconds, 1),
                "verdicts": {
                    t: result["tasks"].get(t, {}).get("verdict", STOPPED) for t in plan.tasks
                },
                "speedup": result["speed"]["speedup"],
                "dense_cache": result["manifest"]["measurement"]["dense_cache"],
            }
        )
        if on_step:
            on_step(label, seconds, state)
    frontier = largest_go(rows, plan.tasks)
    png = figures.frontier(
        [float(r["amount"]) for r in rows],
        {t: [r["verdicts"][t] for r in rows] for t in plan.tasks},
        plan.method,
    )
    html = render_sweep_index(plan.method, rows, frontier, png)
    atomic_write(run.folder / "index.html", html)
    summary = {
        "method": plan.method,
        "model": dense.name,
        "steps": rows,
        "largest_go": frontier,
        "early_stop": {"enabled": plan.early_stop, "stopped_after": stop.stopped},
        "prefix_sharing": share.stats if share is not None else None,
        "index": str(run.folder / "index.html"),
    }
    write_json(run.folder / "sweep.json", summary, indent=1, sort_keys=True)
    return summary
