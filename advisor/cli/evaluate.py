"""`evaluate`: the ground truth — task quality of dense and pruned on the evaluation split."""

from __future__ import annotations

from typing import Any

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
    load_dense,
    out,
    print_json,
    pruned_side,
    resolve_tasks,
)

OUTCOME_STYLE = {"go": "green", "caution": "yellow", "no-go": "red", "not-assessable": "dim"}


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
        outcome = r["outcome"] or "—"
        style = OUTCOME_STYLE.get(outcome, "")
        table.add_row(
            task,
            f"{r['dense_score']:.2f} ({comp['chance']:.2f})" + ("" if comp["assessable"] else " ✗"),
            f"{r['pruned_score']:.2f}",
            retention,
            str(r["n"]),
            _pct(r["fidelity"]["same_answer"]),
            _pct(r["fidelity"].get("chrf_to_dense")),
            line((outcome, style)) if style else outcome,
        )
    out.print(table)
    out.print("✗ = dense model not competent (competence gate): no verdict is possible there.")


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
) -> None:
    """Ground truth: score dense and pruned on each task's evaluation split.

    Per task type: the dense model's competence (score vs chance), both scores against
    gold or reference, quality retention (pruned / dense, the deciding measure) with a
    bootstrap interval, fidelity to the dense model, and the outcome: go when the interval
    lies at or above --tolerance, no-go when below, caution (borderline) when it straddles.
    A go or no-go is *decisive*. By default the evaluation is sequential (--adaptive 32):
    32 questions first, more only while the label is borderline, up to the whole split.
    With --data, your own suite file is the evaluation set (use one disjoint from the
    file you give `assess --data`). Slow by design; `assess` is the quick check.
    """
    from advisor.errors import AdvisorError
    from advisor.fit import cap
    from advisor.ground_truth import evaluate_pair
    from advisor.suites import build_suite

    if not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    tasks = resolve_tasks(task)
    dense = load_dense(
        model,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        device=device,
        device_map=device_map,
        allow_pickle=allow_pickle,
    )
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
    if data is not None and len(tasks) != 1:
        raise AdvisorError("--data holds one task type's suite: name it with a single --task.")
    suites = {t: cap(build_suite(t, "evaluation", seed, data_file=data), eval_items) for t in tasks}
    with err.status("evaluating") as status:
        results = evaluate_pair(
            dense,
            side.loaded,
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
                "pruning": side.manifest,
                "tolerance": tolerance,
                "tasks": results,
            }
        )
        return
    print_ground_truth(results, f"{dense.name} vs {side.loaded.name} (tolerance {tolerance})")
