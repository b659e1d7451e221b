"""`assess` and `sweep`: verdicts per task type, the HTML report, the CI gate."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

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
    SeedOpt,
    SparsityOpt,
    TaskOpt,
    TrustFlag,
    app,
    err,
    line,
    out,
    print_json,
)
from advisor.cli.view import print_blame, print_gate, print_verdicts
from advisor.publish import output_dir
from advisor.suites.own import parse_data_option

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
        help="Exit 1 when a task type's verdict is no-go ('no-go'), caution or no-go "
        "('caution'), or not-assessable or no-go ('not-assessable': a gate that fails closed, "
        "never passing on a task type it could not check; recommended for CI). Combine with a "
        "comma: caution,not-assessable.",
    ),
]
DataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        metavar="[TASK=]FILE",
        help="Your own suite (JSONL) for a task type, in your own prompt format if its rows "
        "give 'prompt' (docs/suites.md). Repeatable, one file per task type: --data "
        "rag=qa.jsonl --data summarization=mail.jsonl assesses both in one run (without "
        "--task: just those); a bare FILE is for the single --task.",
    ),
]
VerboseFlag = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Print every reason behind each verdict."),
]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def warn(message: str) -> None:
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
    blame: Annotated[
        bool,
        typer.Option(
            "--blame",
            help="Restore each removed unit of a structural pruning (blocks, attention or MLP "
            "sublayers), or each sparsified layer's dense weights (wanda, sparsegpt, "
            "magnitude, sparse checkpoints), in turn, here or pruned elsewhere, and say which "
            "would raise each task type's predicted retention most (docs/guidance.md).",
        ),
    ] = False,
    seed: SeedOpt = 0,
    calib_samples: CalibSamplesOpt = 16,
    calib_len: CalibLenOpt = 128,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "auto",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
    low_memory: LowMemoryFlag = False,
    verbose: VerboseFlag = False,
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

    Your own suites: `--data rag=qa.jsonl --data summarization=mail.jsonl` assesses both
    task types on your files in one run, the models loaded once.

    Exit codes: 0 pass, 1 gate failed (a verdict that --fail-on names), 2 usage or input
    error, 3 internal error. Recommended CI gate, which fails on anything it could not
    check: `prune-advisor assess --pruned ./my-pruned-model --task rag --fail-on
    not-assessable`.
    """
    from advisor import api, report  # lazy: torch and transformers, not at CLI start-up

    # Every input that can be checked without the model is checked first: loading and
    # pruning take tens of seconds before the first use of these.
    prepared = api.prepare(
        model,
        pruned=pruned,
        method=method,
        ratio=ratio,
        layers=layers,
        sparsity=sparsity,
        pattern=pattern,
        tasks=task,
        data=parse_data_option(data, task),
        tolerance=tolerance,
        fail_on=fail_on,
        temperature=temperature,
        rules=rules,
        seed=seed,
        calib_samples=calib_samples,
        calib_len=calib_len,
        decode=decode,
        hierarchy=hierarchy,
        blame=blame,
        dtype=dtype,
        device=device,
        device_map=device_map,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
        low_memory=low_memory,
    )
    with output_dir(out_dir):  # a run that fails leaves no empty --out behind
        pair = api.open_models(prepared, console=err)
        with err.status("assessing") as status:
            log = lambda msg: status.update(line(f"assessing: {msg}"))  # noqa: E731
            assessment = api.assess_models(prepared, pair, log=log, warn=warn)
        result = assessment.result
        if out_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            config = slug(f"{result['pruning']['method']}-{result['pruning']['label']}")
            out_dir = Path("reports") / f"{slug(pair.dense.name)}-{config}-{stamp}"
        result_path, report_path = report.write_report(result, out_dir)
    print_verdicts(result, err if json_out else out, verbose)
    print_blame(result, err if json_out else out)
    if json_out:
        print_json(result)
    err.print(f"Report: {report_path}\nResult: {result_path}", soft_wrap=True)
    print_gate(result, err)
    if result["gate"]["failed"]:
        raise typer.Exit(EXIT_GATE)
