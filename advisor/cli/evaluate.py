"""`evaluate`: the ground truth — task quality of dense and pruned on the evaluation split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from advisor.cli.app import (
    AdaptiveOpt,
    CalibLenOpt,
    CalibSamplesOpt,
    DataOpt,
    DeviceMapOpt,
    DeviceOpt,
    DtypeOpt,
    EvalItemsOpt,
    JsonFlag,
    LayersOpt,
    LmEvalTaskOpt,
    MethodOpt,
    ModelOpt,
    PatternOpt,
    PickleFlag,
    PrunedOpt,
    RatioOpt,
    SeedOpt,
    SparsityOpt,
    TaskOpt,
    ToleranceOpt,
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
from advisor.suites import check_user_suite, evaluation_suites
from advisor.suites.tasks import task_names
from advisor.truth.lm_eval import labels, parse_task_maps


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_ground_truth(results: dict[str, dict[str, Any]], title: str) -> None:
    """The evaluate table: competence, scores, retention with its interval, fidelity."""
    table = Table(title=title)
    for column in (
        "task",
        "dense (chance)",
        "pruned",
        "retention [CI]",
        "items",
        "same answer",
        "chrF to dense",
        "outcome",
    ):
        table.add_column(column)
    rows = [(task, r) for task, r in results.items()]
    rows += [
        (f"{t} ({v})", rec) for t, r in results.items() for v, rec in r.get("views", {}).items()
    ]
    for task, r in rows:
        comp = r["competence"]
        ci = r["ci"]
        retention = (
            "—" if r["retention"] is None else (f"{r['retention']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")
        )
        table.add_row(
            task,
            f"{r['dense_score']:.2f} ({comp['chance']:.2f})" + ("" if comp["assessable"] else " ✗"),
            f"{r['pruned_score']:.2f}",
            retention,
            str(r["n"]),
            _pct(r["fidelity"]["same_answer"]),
            _pct(r["fidelity"].get("chrf_to_dense")),
            verdict_text(r["outcome"]),
        )
    out.print(table)
    out.print("✗ = dense model not competent (competence gate): no verdict is possible there.")


def _interval(record: dict[str, Any] | None) -> str:
    if not record or record.get("retention") is None:
        return "—"
    low, high = record["ci"]
    return f"{record['retention']:.2f} [{low:.2f}, {high:.2f}]"


def print_lm_eval(labels: dict[str, dict[str, Any]], ours: dict[str, dict[str, Any]]) -> None:
    """lm-eval's labels per task type (docs/design.md §5e) beside this evaluation's."""
    table = Table(title="lm-eval labels, and this evaluation's")
    for column in ("task", "lm-eval task: metric", "dense", "pruned", "retention [CI]",
                   "outcome", "here: retention [CI]", "here: outcome"):  # fmt: skip
        table.add_column(column)
    for task, rec in labels.items():
        mine = ours.get(task)
        table.add_row(
            task,
            "; ".join(f"{name}: {metric}" for name, metric in rec["lm_eval"].items()),
            f"{rec['dense_score']:.3f}" + ("" if rec["assessable"] else " ✗"),
            f"{rec['pruned_score']:.3f}",
            _interval(rec),
            verdict_text(rec["outcome"]),
            _interval(mine),
            verdict_text(mine["outcome"]) if mine else "—",
        )
    out.print(table)


@app.command()
def evaluate(
    model: ModelOpt = "smollm2-135m",
    method: MethodOpt = None,
    ratio: RatioOpt = None,
    layers: LayersOpt = None,
    sparsity: SparsityOpt = None,
    pattern: PatternOpt = "unstructured",
    pruned: PrunedOpt = None,
    task: TaskOpt = None,
    data: DataOpt = None,
    tolerance: ToleranceOpt = 0.9,
    seed: SeedOpt = 0,
    calib_samples: CalibSamplesOpt = 16,
    calib_len: CalibLenOpt = 128,
    eval_items: EvalItemsOpt = 0,
    adaptive: AdaptiveOpt = 32,
    json_out: JsonFlag = False,
    trust_remote_code: TrustFlag = False,
    dtype: DtypeOpt = "float32",
    device: DeviceOpt = None,
    device_map: DeviceMapOpt = None,
    allow_pickle: PickleFlag = False,
    lm_eval_dense: Annotated[
        Path | None,
        typer.Option(
            "--lm-eval-dense",
            metavar="FILE",
            help="lm-eval results of the dense model (with --lm-eval-pruned): their labels "
            "per task type are shown beside this evaluation's.",
        ),
    ] = None,
    lm_eval_pruned: Annotated[
        Path | None,
        typer.Option(
            "--lm-eval-pruned", metavar="FILE", help="lm-eval results of the pruned model."
        ),
    ] = None,
    lm_eval_task: LmEvalTaskOpt = None,
) -> None:
    """Ground truth: score dense and pruned on each task's evaluation split.

    Per task type: the dense model's competence (score vs chance), both scores against
    gold or reference, quality retention (pruned / dense, the deciding measure) with a
    bootstrap interval, fidelity to the dense model, and the outcome: go when the interval
    lies at or above --tolerance, no-go when below — both decisive — and caution
    (borderline) when it straddles. Sequential by default (--adaptive 32): 32 questions
    first, more only while the label is borderline, up to the whole split. With --data,
    your own suite file is the evaluation set (keep it disjoint from the file you give
    `assess --data`). Slow by design; `assess` is the quick check.
    """
    from advisor import pair  # lazy: torch and transformers, not at CLI start-up
    from advisor.truth import evaluate as ground_truth  # lazy: torch, not at CLI start-up

    # Every input is checked before the models load and prune (tens of seconds): the
    # suites are built first, so a bad --data row or --eval-items fails at once.
    if not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    tasks = resolve_tasks(task)
    labels = _lm_eval_labels(lm_eval_dense, lm_eval_pruned, lm_eval_task, tolerance)
    if data is not None and len(tasks) != 1:
        raise AdvisorError("--data holds one task type's suite: name it with a single --task.")
    request = prune_request(
        method, ratio, layers, sparsity, pattern, seed, calib_samples, calib_len
    )
    options = load_options(trust_remote_code, dtype, device, device_map, allow_pickle)
    pair.check_models(model, options, request, pruned, compare=True)
    suites = evaluation_suites(tasks, seed, eval_items, data)
    if data is not None:
        check_user_suite(suites, data)
    opened = pair.open_pair(model, options, request, pruned, console=err)
    dense, pruned_model = opened.dense, opened.pruned
    with err.status("evaluating") as status:
        results = ground_truth.evaluate_pair(
            dense,
            pruned_model.loaded,
            suites,
            tolerance=tolerance,
            seed=seed,
            adaptive=adaptive,
            log=lambda msg: status.update(line(f"evaluating {msg}")),
        )
    if json_out:
        print_json(
            {
                "model": dense.name,
                "pruning": pruned_model.manifest,
                "tolerance": tolerance,
                "tasks": results,
            }
            | ({"lm_eval": labels} if labels is not None else {})
        )
        return
    print_ground_truth(
        results, f"{dense.name} vs {pruned_model.loaded.name} (tolerance {tolerance})"
    )
    if labels is not None:
        print_lm_eval(labels, results)


def _lm_eval_labels(
    dense: Path | None, pruned: Path | None, maps: list[str] | None, tolerance: float
) -> dict[str, dict[str, Any]] | None:
    """The lm-eval labels of the two files, read before any model loads (None: no files)."""

    if dense is None and pruned is None:
        if maps:
            raise AdvisorError("--lm-eval-task maps tasks of --lm-eval-dense/--lm-eval-pruned.")
        return None
    if dense is None or pruned is None:
        raise AdvisorError("Pass both --lm-eval-dense and --lm-eval-pruned (lm-eval results).")
    extra = parse_task_maps(maps, task_names())
    flags = ("--lm-eval-dense", "--lm-eval-pruned")
    return labels(dense, pruned, tolerance=tolerance, extra=extra, flags=flags)
