"""`plan`: the largest set of units of a structural method to remove that stays go on
every task type named, chosen from the task sensitivity map and verified."""

from __future__ import annotations

from dataclasses import replace
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
    PickleFlag,
    SeedOpt,
    TaskOpt,
    TrustFlag,
    app,
    err,
    load_options,
    print_json,
)
from advisor.cli.assess import DataOpt, RulesOpt, slug
from advisor.cli.view import plan_verdicts, print_plan
from advisor.errors import AdvisorError
from advisor.publish import writable_dir
from advisor.rules.rules_file import load_rules
from advisor.suites.own import own_suites, parse_data_option


@app.command()
def plan(
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="Structural method whose units to remove: block-drop, attn-drop or mlp-drop.",
        ),
    ] = None,
    task: TaskOpt = None,
    model: ModelOpt = "smollm2-135m",
    data: DataOpt = None,
    rules: RulesOpt = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="Quality retention needed for go, in (0, 1] (default: the rules').",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for index.html (the map, the plan, every verified set) and plan.json "
            "(default reports/\\<model\\>-plan-\\<method\\>-\\<timestamp\\>/).",
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Also write the planned model here, in float32 whatever --dtype: a Hugging "
            "Face folder that loads with transformers and with `assess --pruned`.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
) -> None:
    """The largest set of units to remove that still gets go on every task type named.

    Measures the task sensitivity map first: each unit of --method (one layer's block,
    attention or MLP sublayer) removed alone, each task type's evidence read as `assess`
    reads it (cached per model: paid once, and resumed after an interruption). Units whose
    removal alone is go on every task type are ranked least harmful first; sets of them are
    removed together and verified by a real assessment (units interact): the longest go
    prefix of the ranking, then each later unit added where the set stays go. The largest
    verified go set is the plan. Writes index.html (with the map as a layers x task types
    heat map) and plan.json. Example: prune-advisor plan --task rag --task math --method
    attn-drop --save pruned/
    """
    from advisor import assess, pair, pruning, report  # lazy: torch, not at CLI start-up
    from advisor.guidance import plan, sensitivity  # lazy: torch, not at CLI start-up

    pruning.check_unit_method(method)
    if not task and not data:
        raise AdvisorError(
            "Say which task types the plan must stay go on with --task (repeatable), "
            "e.g. --task rag --task math; `prune-advisor tasks` lists them."
        )
    tasks, files = own_suites(task, parse_data_option(data, task), seed)  # rows read here
    load_rules(rules)
    if tolerance is not None and not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    for folder in (out_dir, save):
        if folder is not None:
            writable_dir(folder)
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle)
    pair.check_models(model, options)
    dense = pair.load_dense(model, options, err)
    request = sensitivity.MapRequest(method, tasks, seed, files or None, rules, tolerance)

    def checked(found: dict[str, Any]) -> None:
        units = ", ".join(map(str, found["units"]))
        err.print(f"  checked [{units}]: {plan_verdicts(found)}", soft_wrap=True)

    result = plan.make_plan(dense, request, assess.assess, console=err, on_check=checked)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = out_dir or Path("reports") / f"{slug(dense.name)}-plan-{method}-{stamp}"
    page = report.write_plan(result, folder)
    saved = None
    if save is not None and result["units"]:
        if dense.dtype != "float32":  # saved weights at full precision, as `prune` saves them
            dense = pair.load_dense(model, replace(options, dtype="float32"), err)
        saved = pruning.save_pruned(pruning.drop_units(dense, method, result["units"]), save)
    elif save is not None:
        err.print(f"Nothing written to {save}: the plan removes no unit.", soft_wrap=True)
    if json_out:
        print_json(result | {"report": str(page), "saved": str(saved) if saved else None})
        return
    print_plan(result, page, saved)
