"""`sweep`: the verdicts of every amount of one pruning method, and each task type's
largest go amount."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from advisor.cli.app import (
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    JsonFlag,
    ModelOpt,
    PatternOpt,
    PickleFlag,
    RayOpt,
    SeedOpt,
    TaskOpt,
    TrustFlag,
    app,
    err,
    line,
    load_options,
    out,
    print_json,
)
from advisor.cli.assess import DataOpt, RulesOpt, TemperatureOpt, slug, warn
from advisor.cli.view import print_sweep
from advisor.errors import AdvisorError
from advisor.models.loading import LoadedModel
from advisor.publish import writable_dir
from advisor.rules.rules_file import load_rules
from advisor.suites.own import own_suites, parse_data_option


def run_assessment(
    dense: LoadedModel, pruned: Any, tasks: list[str], **options: Any
) -> dict[str, Any]:
    """Run :func:`advisor.assess.assess` behind a status display (``options``: its
    keyword options)."""
    from advisor.assess import assess  # lazy: torch, not at CLI start-up

    with err.status("assessing") as status:
        return assess(
            dense,
            pruned,
            tasks,
            log=lambda msg: status.update(line(f"assessing: {msg}")),
            warn=warn,
            **options,
        )


@app.command()
def sweep(
    method: Annotated[str, typer.Option("--method", help="Pruning method to sweep.")],
    amounts: Annotated[
        str,
        typer.Option(
            "--amounts",
            help="Comma-separated amounts: sparsities, layer ratios "
            "(< 1) or layer counts (whole numbers) for drop methods.",
        ),
    ],
    model: ModelOpt = "smollm2-135m",
    pattern: PatternOpt = "unstructured",
    task: TaskOpt = None,
    data: DataOpt = None,
    temperature: TemperatureOpt = 1.0,
    rules: RulesOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the reports and index.html; rerun with the same --out to resume "
            "an interrupted sweep.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    search: Annotated[
        str,
        typer.Option(
            "--search",
            help="frontier: the largest amount first, each task type only down to its first "
            "go (that is its largest go amount: exact, and smaller amounts are 'skipped'); "
            "every: every amount from the smallest up.",
        ),
    ] = "frontier",
    early_stop: Annotated[
        bool,
        typer.Option(
            "--early-stop/--no-early-stop",
            help="With --search every: stop assessing a task type after two consecutive "
            "amounts are no-go with a decisive margin (assumes a larger amount is no better).",
        ),
    ] = True,
    hierarchy: Annotated[
        bool,
        typer.Option(
            "--hierarchy/--no-hierarchy",
            help="Measure the representation hierarchy in every amount's report (no verdict "
            "reads it; off by default in a sweep).",
        ),
    ] = False,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--map",
            help="Also measure the method's task sensitivity map (each layer's unit removed "
            "alone, per task type; cached per model) and show it in index.html. block-drop, "
            "attn-drop and mlp-drop only (docs/guidance.md).",
        ),
    ] = False,
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
    ray: RayOpt = None,
) -> None:
    """The verdicts of every amount, and the largest pruning amount still go per task type.

    Assesses the amounts in turn, by default the largest first and each task type only
    down to its first go, which is then its largest go amount (--search every assesses
    every amount from the smallest up, a task type stopping after two decisive no-gos).
    The dense side is measured once and reused; for drop methods the layers two amounts
    share run once. With --ray every amount is one Ray task, all at once. Writes one report per
    amount, a frontier figure and an index.html linking them. Each finished amount is
    kept: rerun the same command with the same --out after an interruption and it resumes
    where it stopped. --data works as in assess: your own suites, one per task type.
    """
    from advisor import assess, cluster, pair, pruning  # lazy: torch, not at CLI start-up
    from advisor.sweep import frontier, plan as sweep_plan, ray as sweep_ray, run  # lazy: torch

    pruning.get_method(method)
    if sensitivity:
        pruning.check_unit_method(method)
    if search not in frontier.SEARCHES:
        searches = ", ".join(frontier.SEARCHES)
        raise AdvisorError(f"--search must be one of {searches}; got '{search}'.")
    tasks, files = own_suites(task, parse_data_option(data, task), seed)  # rows read here
    plan = sweep_plan.SweepRequest(
        method=method,
        steps=sweep_plan.sweep_amounts(method, amounts, pattern),
        tasks=tasks,
        data=files,
        pattern=pattern,
        temperature=temperature,
        rules_path=rules,
        seed=seed,
        early_stop=early_stop,
        hierarchy=hierarchy,
        search=search,
        sensitivity=sensitivity,
    )
    assess.check_temperature(temperature)
    load_rules(rules)  # a bad rules file fails before the model is loaded, not after
    if out_dir is not None:
        writable_dir(out_dir)
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle)
    pair.check_models(model, options)
    if ray is not None:
        cluster.connect(ray)  # an unreachable address fails before any model is loaded
    dense = pair.load_dense(model, options, err)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = out_dir or Path("reports") / f"sweep-{slug(dense.name)}-{method}-{stamp}"
    remote = None
    if ray is not None:
        target = cluster.RayTarget(ray, model, options, dense.fingerprint)
        remote = sweep_ray.sweep_runner(target, plan)
    summary = run.sweep(
        dense,
        plan,
        folder,
        console=err,
        on_step=lambda label, sec, state: err.print(
            f"  {method} {label}: {sec:.0f} s ({state})", soft_wrap=True
        ),
        assessor=run_assessment,
        remote=remote,
    )
    if json_out:
        print_json(summary)
        return
    print_sweep(summary, method, out)
    out.print(f"Index: {summary['index']}", soft_wrap=True)
