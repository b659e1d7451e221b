"""`assess` and `sweep`: verdicts per task type, the HTML report, the CI gate."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from advisor.cli.app import (
    EXIT_GATE,
    CalibLenOpt,
    CalibSamplesOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    JsonFlag,
    LayersOpt,
    LowMemoryFlag,
    MethodOpt,
    ModelOpt,
    PatternOpt,
    PickleFlag,
    PrunedOpt,
    RatioOpt,
    RayOpt,
    SeedOpt,
    SparsityOpt,
    TaskOpt,
    TrustFlag,
    app,
    err,
    line,
    load_options,
    out,
    print_json,
    prune_request,
    resolve_tasks,
    verdict_text,
)
from advisor.errors import AdvisorError
from advisor.provenance import detected_lines
from advisor.verdicts import FAIL_ON

TemperatureOpt = Annotated[
    float,
    typer.Option(
        "--temperature",
        help="The deployment decoding temperature (lower T amplifies the same logit change).",
    ),
]
RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Rules file from `prune-advisor fit` (default: the shipped data/rules/default.json).",
    ),
]
FailOnOpt = Annotated[
    str,
    typer.Option(
        "--fail-on",
        help="Exit 1 when any task's verdict is no-go ('no-go') or caution or worse ('caution').",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Your own calibration suite (JSONL) for the single --task; schemas in README.",
    ),
]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def print_verdicts(result: dict[str, Any], console: Any = out) -> None:
    """The compact verdict table."""
    pruning = result["pruning"]
    label = pruning.get("label", pruning["amount"])
    table = Table(title=f"{result['model']['name']} — {pruning['method']} {label}")
    for column in ("task", "verdict", "predicted retention", "confidence", "evidence"):
        table.add_column(column)
    for task, record in result["tasks"].items():
        confidence = record["confidence"]
        pred = record.get("prediction")
        table.add_row(
            task,
            verdict_text(record["verdict"]),
            "—"
            if pred is None
            else f"{pred['retention']:.2f} [{pred['interval'][0]:.2f}, {pred['interval'][1]:.2f}]",
            "—" if confidence is None else f"{confidence:.2f}",
            record.get("summary") or record["reasons"][0],
        )
    console.print(table)
    for found in detected_lines(pruning.get("detected")):  # pruned elsewhere: §9b
        console.print(found, markup=False)
    speed = result["speed"]
    console.print(
        f"parameters {result['model']['parameters']:,} → {pruning['parameters']:,}; "
        f"decoding {speed['dense_ms_per_token']:.1f} → {speed['pruned_ms_per_token']:.1f} "
        f"ms/token (×{speed['speedup']:.2f})"
    )


def run_assessment(dense: Any, pruned: Any, tasks: list[str], **options: Any) -> dict[str, Any]:
    """Run :func:`advisor.assess.assess` behind a status display (``options``: its
    keyword options)."""
    from advisor.assess import assess

    with err.status("assessing") as status:
        return assess(
            dense,
            pruned,
            tasks,
            log=lambda msg: status.update(line(f"assessing: {msg}")),
            warn=_warn,
            **options,
        )


def _warn(message: str) -> None:
    err.print(line(("Warning:", "yellow"), f" {message}"), highlight=False)


@app.command()
def assess(
    model: ModelOpt = "smollm2-135m",
    method: MethodOpt = None,
    ratio: RatioOpt = None,
    layers: LayersOpt = None,
    sparsity: SparsityOpt = None,
    pattern: PatternOpt = "unstructured",
    pruned: PrunedOpt = None,
    task: TaskOpt = None,
    temperature: TemperatureOpt = 1.0,
    data: DataOpt = None,
    rules: RulesOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for report.html and result.json (default "
            "reports/\\<model\\>-\\<config\\>-\\<timestamp\\>/).",
        ),
    ] = None,
    json_out: JsonFlag = False,
    fail_on: FailOnOpt = "no-go",
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="Quality retention (pruned / dense score) needed for go, in (0, 1] "
            "(default: the rules file's, 0.9).",
        ),
    ] = None,
    decode: Annotated[
        bool,
        typer.Option(
            "--decode/--no-decode",
            help="Decode a few items freely for the report's accumulation curve and example "
            "pairs (verdicts never need it; --no-decode is faster).",
        ),
    ] = True,
    hierarchy: Annotated[
        bool,
        typer.Option(
            "--hierarchy/--no-hierarchy",
            help="Measure the representation hierarchy for the report (no verdict reads it; "
            "--no-hierarchy is the fastest gate: evidence and verdicts only).",
        ),
    ] = True,
    seed: SeedOpt = 0,
    calib_samples: CalibSamplesOpt = 16,
    calib_len: CalibLenOpt = 128,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
    low_memory: LowMemoryFlag = False,
) -> None:
    """Is the pruned model safe to ship for each task type? go / caution / no-go.

    Runs each task type's short calibration suite through the dense and the pruned model
    (prefill passes only), checks that the dense model is competent at the task (else:
    not-assessable), reads the direct evidence of task quality (answers, answer survival,
    reference likelihood) and predicts the quality retention with an interval from the
    fitted rules: go when the interval lies at or above --tolerance, no-go when below,
    caution when it straddles (with what would settle it). The representation hierarchy
    is measured on a few items for the report (--no-hierarchy skips it). Writes
    report.html and result.json; prints a verdict table (or the JSON with --json).

    Exit codes: 0 pass, 1 gate failed (a verdict at or past --fail-on), 2 usage or input
    error, 3 internal error. Example CI gate:
    `prune-advisor assess --pruned ./my-pruned-model --task rag`.
    """
    from advisor.assess import calibration_suites, check_temperature, warm_dense_side
    from advisor.files import output_dir
    from advisor.pair import check_models, open_pair
    from advisor.report import write_report
    from advisor.rules.predict import load_rules
    from advisor.suites import check_user_suite

    # Every input that can be checked without the model is checked first: loading and
    # pruning take tens of seconds before the first use of these.
    if fail_on not in FAIL_ON:
        raise AdvisorError(f"--fail-on must be 'caution' or 'no-go', not '{fail_on}'.")
    tasks = resolve_tasks(task)
    request = prune_request(
        method, ratio, layers, sparsity, pattern, seed, calib_samples, calib_len
    )
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle, low_memory)
    check_models(model, options, request, pruned, compare=True)
    check_temperature(temperature)
    if tolerance is not None and not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    load_rules(rules)
    if data is not None:  # reads and checks every row of the file, and its size
        check_user_suite(calibration_suites(tasks, seed, data), data)
    with output_dir(out_dir):  # a run that fails leaves no empty --out behind
        warm = partial(
            warm_dense_side,
            tasks=tasks,
            seed=seed,
            data_file=data,
            hierarchy=hierarchy,
            decode=decode,
        )
        pair = open_pair(model, options, request, pruned, console=err, warm=warm)
        result = run_assessment(
            pair.dense,
            pair.pruned,
            tasks,
            temperature=temperature,
            rules_path=rules,
            data_file=data,
            seed=seed,
            fail_on=fail_on,
            tolerance=tolerance,
            decode=decode,
            hierarchy=hierarchy,
            timings=pair.timings,
        )
        if out_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            config = _slug(f"{result['pruning']['method']}-{result['pruning']['label']}")
            out_dir = Path("reports") / f"{_slug(pair.dense.name)}-{config}-{stamp}"
        result_path, report_path = write_report(result, out_dir)
    if json_out:
        print_json(result)
        print_verdicts(result, err)
    else:
        print_verdicts(result)
    err.print(f"Report: {report_path}\nResult: {result_path}")
    if result["gate"]["failed"]:
        err.print(
            line(
                ("Gate failed", "red"),
                f" (--fail-on {fail_on}): {', '.join(result['gate']['failing_tasks'])}",
            )
        )
        raise typer.Exit(EXIT_GATE)


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
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
    ray: RayOpt = None,
) -> None:
    """The largest pruning amount that is still go, per task type.

    Assesses the amounts in turn, by default the largest first and each task type only
    down to its first go, which is then its largest go amount (--search every assesses
    every amount from the smallest up, a task type stopping after two decisive no-gos).
    The dense side is measured once and reused; for drop methods the layers two amounts
    share run once. With --ray every amount is one Ray task, all at once. Writes one report per
    amount, a frontier figure and an index.html linking them. Each finished amount is
    kept: rerun the same command with the same --out after an interruption and it resumes
    where it stopped.
    """
    from advisor.assess import check_temperature
    from advisor.files import writable_dir
    from advisor.frontier import SEARCHES
    from advisor.pair import check_models, load_dense
    from advisor.rules.predict import load_rules
    from advisor.sweep import SweepPlan, sweep_steps
    from advisor.sweep import sweep as run_sweep

    if search not in SEARCHES:
        raise AdvisorError(f"--search must be one of {', '.join(SEARCHES)}; got '{search}'.")
    plan = SweepPlan(
        method=method,
        steps=sweep_steps(method, amounts, pattern),
        tasks=resolve_tasks(task),
        pattern=pattern,
        temperature=temperature,
        rules_path=rules,
        seed=seed,
        early_stop=early_stop,
        hierarchy=hierarchy,
        search=search,
    )
    check_temperature(temperature)
    load_rules(rules)  # a bad rules file fails before the model is loaded, not after
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle)
    check_models(model, options)
    if out_dir is not None:
        writable_dir(out_dir)
    if ray is not None:
        from advisor.distributed import connect

        connect(ray)  # an unreachable address fails before any model is loaded
    dense = load_dense(model, options, err)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = out_dir or Path("reports") / f"sweep-{_slug(dense.name)}-{method}-{stamp}"
    remote = None
    if ray is not None:
        from advisor.distributed import RayTarget, sweep_runner

        remote = sweep_runner(RayTarget(ray, model, options, dense.fingerprint), plan)
    summary = run_sweep(
        dense,
        plan,
        folder,
        console=err,
        on_step=lambda label, sec, state: err.print(f"  {method} {label}: {sec:.0f} s ({state})"),
        assessor=run_assessment,
        remote=remote,
    )
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"Largest {method} amount still go")
    table.add_column("task")
    table.add_column("largest go amount")
    for t, amount in summary["largest_go"].items():
        table.add_row(t, "none" if amount is None else f"{amount:g}")
    out.print(table)
    out.print(f"Index: {summary['index']}")
