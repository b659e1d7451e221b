"""`assess`, `sweep` and `report`: verdicts per task type, the HTML report, the CI gate."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
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
    MethodOpt,
    ModelOpt,
    PatternOpt,
    PickleFlag,
    PrunedOpt,
    RatioOpt,
    SeedOpt,
    SparsityOpt,
    TaskOpt,
    TrustFlag,
    app,
    err,
    load_dense,
    out,
    print_json,
    pruned_side,
    resolve_tasks,
)
from advisor.errors import AdvisorError
from advisor.verdicts import styled

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
    for column in ("task", "verdict", "confidence", "deciding reason"):
        table.add_column(column)
    for task, record in result["tasks"].items():
        confidence = record["confidence"]
        table.add_row(
            task,
            styled(record["verdict"]),
            "—" if confidence is None else f"{confidence:.2f}",
            record["reasons"][0],
        )
    console.print(table)
    speed = result["speed"]
    console.print(
        f"parameters {result['model']['parameters']:,} → {pruning['parameters']:,}; "
        f"decoding {speed['dense_ms_per_token']:.1f} → {speed['pruned_ms_per_token']:.1f} "
        f"ms/token (×{speed['speedup']:.2f})"
    )


def run_assessment(
    dense: Any,
    side: Any,
    tasks: list[str],
    *,
    temperature: float,
    rules: Path | None,
    data: Path | None,
    seed: int,
    fail_on: str,
    timings: dict[str, float],
) -> dict[str, Any]:
    """Run :func:`advisor.assess.assess` behind a status display."""
    from advisor.assess import assess

    with err.status("assessing") as status:
        return assess(
            dense,
            side,
            tasks,
            temperature=temperature,
            rules_path=rules,
            data_file=data,
            seed=seed,
            fail_on=fail_on,
            timings=timings,
            log=lambda msg: status.update(f"assessing: {msg}"),
            warn=lambda msg: err.print(f"[yellow]Warning:[/] {msg}", highlight=False),
        )


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
            "reports/<model>-<config>-<timestamp>/).",
        ),
    ] = None,
    json_out: JsonFlag = False,
    fail_on: FailOnOpt = "no-go",
    seed: SeedOpt = 0,
    calib_samples: CalibSamplesOpt = 16,
    calib_len: CalibLenOpt = 128,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "float32",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
) -> None:
    """Is the pruned model safe to ship for each task type? go / caution / no-go.

    Runs each task type's short calibration suite through the dense and the pruned model,
    checks that the dense model is competent at the task (else: not-assessable), measures
    the representation hierarchy and applies the fitted rules. Writes report.html and
    result.json; prints a verdict table (or the JSON with --json).

    Exit codes: 0 pass, 1 gate failed (a verdict at or past --fail-on), 2 usage or input
    error, 3 internal error. Example CI gate:
    `prune-advisor assess --pruned ./my-pruned-model --task rag`.
    """
    from advisor.files import writable_dir
    from advisor.report import write_report

    if fail_on not in ("no-go", "caution"):
        raise AdvisorError(f"--fail-on must be 'caution' or 'no-go', not '{fail_on}'.")
    tasks = resolve_tasks(task)
    if out_dir is not None:
        writable_dir(out_dir)  # before minutes of work, not after
    timings: dict[str, float] = {}
    start = time.perf_counter()
    dense = load_dense(
        model,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        device=device,
        device_map=device_map,
        allow_pickle=allow_pickle,
    )
    timings["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    side = pruned_side(
        dense,
        method,
        pruned,
        console=err,
        allow_pickle=allow_pickle,
        ratio=ratio,
        layers=layers,
        sparsity=sparsity,
        pattern=pattern,
        seed=seed,
        calib_samples=calib_samples,
        calib_len=calib_len,
    )
    timings["prune_s"] = time.perf_counter() - start
    result = run_assessment(
        dense,
        side,
        tasks,
        temperature=temperature,
        rules=rules,
        data=data,
        seed=seed,
        fail_on=fail_on,
        timings=timings,
    )
    if out_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        config = _slug(f"{result['pruning']['method']}-{result['pruning']['label']}")
        out_dir = Path("reports") / f"{_slug(dense.name)}-{config}-{stamp}"
    result_path, report_path = write_report(result, out_dir)
    if json_out:
        print_json(result)
        print_verdicts(result, err)
    else:
        print_verdicts(result)
    err.print(f"Report: {report_path}\nResult: {result_path}")
    if result["gate"]["failed"]:
        err.print(
            f"[red]Gate failed[/] (--fail-on {fail_on}): "
            f"{', '.join(result['gate']['failing_tasks'])}"
        )
        raise typer.Exit(EXIT_GATE)


@app.command()
def report(
    result_file: Annotated[Path, typer.Argument(help="A result.json written by assess.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: report.html beside the result)."),
    ] = None,
) -> None:
    """Re-render the HTML report from a saved result.json."""
    from advisor.files import atomic_write
    from advisor.report import render

    if not result_file.is_file():
        raise AdvisorError(f"No result file at {result_file}.")
    try:
        result = json.loads(result_file.read_text())
        html = render(result)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise AdvisorError(f"{result_file} is not a prune-advisor result ({exc}).") from exc
    target = atomic_write(out_file or result_file.with_name("report.html"), html)
    out.print(f"Report: {target}")


STEP_FILE = "sweep_step.json"


def _finished_step(step_dir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a sweep step finished by an earlier run with the same ``key``, else None."""
    try:
        if json.loads((step_dir / STEP_FILE).read_text()) != json.loads(json.dumps(key)):
            return None
        return json.loads((step_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None


def _amounts(method: str, text: str) -> list[dict[str, Any]]:
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
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "float32",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
) -> None:
    """The largest pruning amount that is still go, per task type.

    Assesses each amount in turn (the dense side is measured once and reused), writes one
    report per amount, a frontier figure and an index.html linking them. Each finished
    amount is kept: rerun the same command with the same --out after an interruption and
    it resumes where it stopped.
    """
    from advisor.assess import load_rules
    from advisor.files import writable_dir, write_json
    from advisor.pruning import get_method, prune_model
    from advisor.report import figures, write_report

    get_method(method)
    steps = _amounts(method, amounts)
    tasks = resolve_tasks(task)
    rules_sha = load_rules(rules)[2]
    if out_dir is not None:
        writable_dir(out_dir)
    dense = load_dense(
        model,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        device=device,
        device_map=device_map,
        allow_pickle=allow_pickle,
    )
    folder = writable_dir(
        out_dir
        or Path("reports")
        / f"sweep-{_slug(dense.name)}-{method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    rows = []
    for step in steps:
        start = time.perf_counter()
        label = f"{next(iter(step.values())):g}"
        step_dir = folder / f"{method}-{label}"
        # Everything that makes a step's result what it is: a rerun may reuse it only if
        # all of it is unchanged.
        key = {
            "dense": dense.fingerprint,
            "method": method,
            "step": step,
            "pattern": pattern,
            "tasks": tasks,
            "temperature": temperature,
            "seed": seed,
            "rules_sha256": rules_sha,
        }
        result = _finished_step(step_dir, key)
        if result is None:
            side = prune_model(dense, method, pattern=pattern, seed=seed, console=err, **step)
            result = run_assessment(
                dense,
                side,
                tasks,
                temperature=temperature,
                rules=rules,
                data=None,
                seed=seed,
                fail_on="no-go",
                timings={},
            )
            write_report(result, step_dir)
            write_json(step_dir / STEP_FILE, key, sort_keys=True)  # last: marks it complete
            state = result["manifest"]["measurement"]["dense_cache"]
        else:
            state = "resumed"
        seconds = time.perf_counter() - start
        rows.append(
            {
                "amount": label,
                "seconds": round(seconds, 1),
                "verdicts": {t: r["verdict"] for t, r in result["tasks"].items()},
                "speedup": result["speed"]["speedup"],
                "dense_cache": result["manifest"]["measurement"]["dense_cache"],
            }
        )
        err.print(f"  {method} {label}: {seconds:.0f} s ({state})")
    frontier = {}
    for t in tasks:
        go = [float(r["amount"]) for r in rows if r["verdicts"][t] == "go"]
        frontier[t] = max(go) if go else None
    png = figures.frontier(
        [float(r["amount"]) for r in rows],
        {t: [r["verdicts"][t] for r in rows] for t in tasks},
        method,
    )
    _write_index(folder, method, rows, frontier, png)
    summary = {
        "method": method,
        "model": dense.name,
        "steps": rows,
        "largest_go": frontier,
        "index": str(folder / "index.html"),
    }
    write_json(folder / "sweep.json", summary, indent=1, sort_keys=True)
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"Largest {method} amount still go")
    table.add_column("task")
    table.add_column("largest go amount")
    for t, amount in frontier.items():
        table.add_row(t, "none" if amount is None else f"{amount:g}")
    out.print(table)
    out.print(f"Index: {folder / 'index.html'}")


def _write_index(
    folder: Path,
    method: str,
    rows: list[dict[str, Any]],
    frontier: dict[str, float | None],
    png: str,
) -> None:
    from advisor.files import atomic_write
    from advisor.report import template

    html = template("sweep.html.j2").render(method=method, rows=rows, frontier=frontier, figure=png)
    atomic_write(folder / "index.html", html)
