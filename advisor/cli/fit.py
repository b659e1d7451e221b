"""`fit`: run the pruning grid, collect ground truth, and write the rules file."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from advisor.cache import cache_dir
from advisor.cli.app import (
    AdaptiveOpt,
    EvalItemsOpt,
    LmEvalTaskOpt,
    PickleFlag,
    RayOpt,
    SeedOpt,
    TaskOpt,
    ToleranceOpt,
    app,
    err,
    out,
    resolve_tasks,
)
from advisor.errors import AdvisorError
from advisor.paths import output_path
from advisor.publish import writable_dir, write_json
from advisor.requests import LoadOptions
from advisor.rules.predict import rate


def print_validation(rules: dict) -> None:
    """The validation table README shows: per task type, the rule and how its verdicts
    fared on a model and on methods left out of fitting."""

    table = Table(title=f"Rules (tolerance {rules['tolerance']})")
    for column in ("task", "cases", "rule", "leave-one-model-out", "leave-one-method-out"):
        table.add_column(column)
    for task, entry in rules["tasks"].items():
        if not entry["assessable"]:
            table.add_row(task, str(entry["n_cases"]), "not assessable", "—", "—")
            continue
        val = entry["validation"]
        table.add_row(
            task,
            str(entry["n_cases"]),
            f"1 − {entry['slope']:.3g}·u (misfit {entry['misfit']:.3g}·u)",
            rate(val["leave_one_model_out"]),
            "; ".join(f"{m}: {rate(r)}" for m, r in val["leave_one_method_out"].items()),
        )
    out.print(table)


@app.command()
def fit(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            metavar="NAME",
            help="A model to fit on (repeatable). Default: smollm2-135m and gemma3-270m, "
            "each over its default grid.",
        ),
    ] = None,
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
            "attn-drop@1,wanda@0.1), for every model; default: each model's default grid.",
        ),
    ] = None,
    eval_items: EvalItemsOpt = 0,
    adaptive: AdaptiveOpt = 32,
    allow_pickle: PickleFlag = False,
    lm_eval: Annotated[
        Path | None,
        typer.Option(
            "--lm-eval",
            metavar="MANIFEST",
            help="Take the ground truth from lm-evaluation-harness results instead of "
            'evaluating here: a JSONL manifest, one configuration a line, {"method", '
            '"amount"} or {"checkpoint"}, with "dense" and "pruned" results files '
            "(lm_eval --output_path). lm-eval tasks map onto task types by the table in "
            "docs/validation.md.",
        ),
    ] = None,
    lm_eval_task: LmEvalTaskOpt = None,
    ray: RayOpt = None,
) -> None:
    """Fit the rules: prune over a grid, read the evidence, evaluate, fit one line per task.

    Per model and grid point: the direct evidence on the calibration split (what `assess`
    reads), and the ground truth on the evaluation split (sequential: --adaptive questions
    first, more while the label is borderline). Per task type the rule is predicted
    retention = 1 − slope·loss with a misfit that grows with the loss, fitted on every
    model's cases together and validated leave-one-model-out and leave-one-method-out.
    With --lm-eval the labels come from lm-eval results files instead (no evaluation
    here): only the evidence of each listed configuration is measured.
    Default grid (both built-in models): attn-drop, mlp-drop and block-drop at 1, 2, 3, 4,
    6 layers, magnitude, wanda and sparsegpt at 5, 10, 20, 30, 50% sparsity (gentle first).
    Takes hours on 2 CPU cores; resumable.
    """
    from advisor import cluster, models, pair  # lazy: torch, not at CLI start-up
    from advisor.fitting import choices, fit as fitting, grid as grids  # lazy: torch, sklearn

    if not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    if lm_eval is None and lm_eval_task:
        raise AdvisorError("--lm-eval-task maps tasks of --lm-eval results; pass --lm-eval too.")
    plan = fitting.FitRequest(
        models=tuple(model or fitting.DEFAULT_MODELS),
        tasks=resolve_tasks(task),
        cases_path=cases or cache_dir("fit") / "cases.jsonl",
        grid=grids.parse_grid(grid) if grid else None,
        tolerance=tolerance,
        seed=seed,
        eval_items=eval_items,
        adaptive=adaptive,
        allow_pickle=allow_pickle,
    )
    configs = None
    if lm_eval is not None:  # every results file is read and checked before any model loads
        named = resolve_tasks(task) if task else None
        configs = choices.lm_eval_configs(
            lm_eval, lm_eval_task, tolerance, named, model, allow_pickle
        )
        tasks = [t for t in plan.tasks if any(t in c.labels for c in configs)]
        plan = replace(plan, models=tuple(dict.fromkeys(c.model for c in configs)), tasks=tasks)
    pair.check_models(plan.models, LoadOptions(allow_pickle=allow_pickle))
    # Hours of work must not end in an unwritable destination: check both before starting.
    for path, flag in ((out_file, "--out"), (plan.cases_path, "--cases")):
        writable_dir(output_path(path, flag).parent)
    if ray is not None:
        cluster.connect(ray)  # an unreachable address fails before any model is loaded
    command = "prune-advisor " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["fit"] else "fit"
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name in plan.models:
        dense = models.load_model(name, allow_pickle=plan.allow_pickle, console=err)
        say = lambda item, note, dense=dense: err.print(f"  {dense.name} {item}: {note}")  # noqa: E731
        if configs is not None or ray is not None:  # lm-eval labels, or one Ray task each
            rows += choices.model_rows(plan, name, dense, ray, say, configs)
            continue
        run = partial(choices.model_rows, plan, name, dense, None)
        rows += _with_progress(f"{dense.name}: grid", len(plan.points(name)), say, run)
    rules = fitting.rules_file(plan, rows, command, time.perf_counter() - start)
    if configs is not None:
        rules["provenance"]["ground_truth"] = choices.lm_eval_provenance(lm_eval, configs)
    write_json(out_file, rules, indent=1, sort_keys=True)
    print_validation(rules)
    out.print(f"Rules written to {out_file}; cases in {plan.cases_path}.")


def _with_progress(
    title: str,
    total: int,
    say: Callable[[str, str], None],
    run: Callable[[Callable[[str, str], None]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """``run(say)`` behind a progress bar of ``total`` points: each point's note said, and
    the bar advanced."""
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task(title, total=total)

        def done(point: str, note: str) -> None:
            progress.advance(bar)
            say(point, note)

        return run(done)
