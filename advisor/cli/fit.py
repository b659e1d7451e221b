"""`fit`: run the pruning grid, collect ground truth, and write the rules file."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from advisor.cli.app import (
    EvalItemsOpt,
    ModelOpt,
    PickleFlag,
    SeedOpt,
    TaskOpt,
    ToleranceOpt,
    app,
    err,
    out,
    resolve_tasks,
)


def print_validation(rules: dict) -> None:
    """The validation table README shows: per task type, accuracies and case counts."""
    table = Table(title=f"Rules (tolerance {rules['tolerance']})")
    for column in ("task", "cases (go)", "leave-one-method-out", "held-out model (go)", "rule"):
        table.add_column(column)
    for task, entry in rules["tasks"].items():
        if not entry["assessable"]:
            table.add_row(task, str(entry["n_cases"]), "—", "—", "not assessable")
            continue
        lomo = entry["validation"]["leave_one_method_out"]["accuracy"]
        held = entry["validation"]["held_out_model"]
        tree = entry["tree"]
        rule = (
            f"{tree['feature']} ≤ {tree['threshold']:.3g} …"
            if "feature" in tree
            else f"always {tree['outcome']}"
        )
        table.add_row(
            task,
            f"{entry['n_cases']} ({entry['n_go']})",
            "—" if lomo is None else f"{lomo:.0%}",
            "—"
            if held["accuracy"] is None
            else f"{held['accuracy']:.0%} of {held['n']} ({held['n_go']})",
            rule,
        )
    out.print(table)


@app.command()
def fit(
    model: ModelOpt = "smollm2-135m",
    held_out_model: Annotated[
        str | None,
        typer.Option(
            "--held-out-model",
            help="A model never used in fitting, to validate "
            "the rules on another family. 'none' to skip.",
        ),
    ] = "gemma3-270m",
    task: TaskOpt = None,
    tolerance: ToleranceOpt = 0.9,
    seed: SeedOpt = 0,
    out_file: Annotated[
        Path, typer.Option("--out", help="Where to write the rules (JSON).")
    ] = Path("data/rules/default.json"),
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            help="JSONL of finished grid points; a killed fit resumes "
            "from it. Default: in the cache.",
        ),
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(
            "--grid",
            help="Grid points as method@amount, comma-separated (e.g. "
            "attn-drop@1,wanda@0.1); default: the full grid below.",
        ),
    ] = None,
    held_out_grid: Annotated[
        str | None,
        typer.Option(
            "--held-out-grid",
            help="Grid points for the held-out model (default: "
            "1 and 3 layers, 10% and 30% sparsity, every method).",
        ),
    ] = None,
    eval_items: EvalItemsOpt = 0,
    allow_pickle: PickleFlag = False,
) -> None:
    """Fit the rules: prune over a grid, measure, evaluate, fit one tree per task type.

    The grid: attn-drop, mlp-drop and block-drop at 1, 2, 3, 4 and 6 layers; magnitude,
    wanda and sparsegpt at 5, 10, 20, 30 and 50% sparsity — gentle first, because on
    SmolLM2-135M four dropped attention sublayers already break every competent task.
    Each grid point is measured on the calibration split (what `assess` runs) and
    evaluated on the evaluation split (the ground truth). Each tree's depth (1-3) is the
    one that best predicts a pruning method left out of fitting; rules are validated
    leave-one-method-out (nested) and on the held-out model. Takes hours on 2 CPU cores;
    resumable.
    """
    from advisor.cache import cache_dir
    from advisor.errors import AdvisorError
    from advisor.files import writable_dir, write_json
    from advisor.rules.fit import FitPlan, rules_file
    from advisor.rules.grid import DEFAULT_GRID, HELD_OUT_GRID, parse_grid

    if not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    plan = FitPlan(
        model=model,
        held_out_model=None if (held_out_model or "none").lower() == "none" else held_out_model,
        tasks=resolve_tasks(task),
        cases_path=cases or cache_dir("fit") / "cases.jsonl",
        grid=parse_grid(grid) if grid else DEFAULT_GRID,
        held_out_grid=parse_grid(held_out_grid) if held_out_grid else HELD_OUT_GRID,
        tolerance=tolerance,
        seed=seed,
        eval_items=eval_items,
        allow_pickle=allow_pickle,
    )
    # Hours of work must not end in an unwritable destination: check both before starting.
    writable_dir(out_file.parent)
    writable_dir(plan.cases_path.parent)
    command = "prune-advisor " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["fit"] else "fit"
    start = time.perf_counter()
    train = _grid(plan, plan.model, plan.grid)
    held = _grid(plan, plan.held_out_model, plan.held_out_grid) if plan.held_out_model else []
    rules = rules_file(plan, train, held, command, time.perf_counter() - start)
    write_json(out_file, rules, indent=1, sort_keys=True)
    print_validation(rules)
    out.print(f"Rules written to {out_file}; cases in {plan.cases_path}.")


def _grid(plan: Any, model: str, points: list[Any]) -> list[dict[str, Any]]:
    """One model's grid rows, behind a progress bar."""
    from advisor.models import load_model
    from advisor.rules.fit import grid_rows

    dense = load_model(model, allow_pickle=plan.allow_pickle, console=err)
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task(f"{dense.name}: grid", total=len(points))

        def done(point: Any, note: str) -> None:
            progress.advance(bar)
            progress.console.print(f"  {dense.name} {point.id}: {note}")

        return grid_rows(plan, dense, points, on_point=done)
