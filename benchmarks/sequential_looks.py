"""What the sequential looks of `assess` save, and whether they cost any verdict quality.

    .venv/bin/python benchmarks/sequential_looks.py

Run on demand (not a unit test). Replays `assess`'s reading of the evidence
(:func:`advisor.rules.looks.read_in_looks`: a stratified quarter of a task type's
calibration items, then half, then all, each earlier look with a stricter sampling bound)
on the per-item evidence kept beside the fitting grid (``data/rules/evidence/*.jsonl``),
against the single reading of every item. Each configuration is judged by a rule fitted
without it: on the other model (leave-one-model-out, both directions) and on the same
model's other pruning methods (leave-one-method-out). Prints per scheme: decisive
ground-truth cases, verdicts committed, right among them, and the item passes the
pruned model ran, as a share of the single reading's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from calibration_size import CASES, per_item_evidence

from advisor.measure.evidence import evidence_kind, loss_stats
from advisor.rules.fit import cases_for
from advisor.rules.grid import read_cases
from advisor.rules.looks import look_plan, read_in_looks
from advisor.rules.predict import Case, fit_line, predict_from

TOLERANCE = 0.9


def judged(rule: dict, case: Case, kind: str, both: dict, looked: bool) -> tuple[str, int, int]:
    """(verdict, items read, items of the suite) for one held-out case."""
    n = len(both["dense"])
    if not looked:
        return predict_from(rule, loss_stats(kind, **both), TOLERANCE).verdict, n, n

    def measure(picks: list[int]) -> dict[str, float]:
        return loss_stats(
            kind, [both["dense"][i] for i in picks], [both["pruned"][i] for i in picks]
        )

    _, prediction, look = read_in_looks(rule, kind, n, TOLERANCE, measure, lambda found: found)
    return prediction.verdict, look["items"], n


def tally(total: Counter, case: Case, verdict: str) -> None:
    """Count one held-out judgement: decisive ground truth, committed, right."""
    if case.decisive:
        total["decisive"] += 1
        if verdict != "caution":
            total["committed"] += 1
            total["right"] += int(verdict == case.outcome)


def scored(total: Counter) -> str:
    """'decisive | committed (share) | right (share)' table cells of a tally."""
    committed, decisive = total["committed"], total["decisive"]
    return (
        f"{decisive} | {committed} ({committed / max(decisive, 1):.0%}) | {total['right']} "
        f"({total['right'] / max(committed, 1):.1%})"
    )


def folds(rows: list[dict], task: str) -> list[tuple[str, list[Case], list[Case]]]:
    """(scheme, training cases, held-out cases) of every fold for one task type."""
    cases = cases_for(rows, task)
    out = []
    for model in sorted({c.model for c in cases}):
        train = [c for c in cases if c.model != model]
        out.append((f"held-out {model}", train, [c for c in cases if c.model == model]))
        own = [c for c in cases if c.model == model]
        for method in sorted({c.method for c in own}):
            train = [c for c in own if c.method != method]
            held = [c for c in own if c.method == method]
            out.append((f"leave-one-method-out, {model}", train, held))
    return out


def fitted_folds(rows: list[dict]) -> Iterator[tuple[str, str, str, dict, list[Case]]]:
    """(task, evidence kind, scheme, rule fitted on the fold's training cases, held-out
    cases) for every task type with evidence and every fold with at least 4 cases to fit."""
    for task in sorted({t for r in rows for t in r.get("evidence", {})}):
        kind = evidence_kind(task)
        for scheme, train, held in folds(rows, task):
            if len(train) >= 4:
                yield task, kind, scheme, fit_line(train, kind), held


def main() -> None:
    rows = read_cases(Path(CASES))
    items = per_item_evidence()
    tasks = sorted({t for r in rows for t in r.get("evidence", {})})
    totals: dict[tuple[str, bool], Counter] = {}
    for task, kind, scheme, rule, held in fitted_folds(rows):
        for looked in (False, True):
            total = totals.setdefault((scheme, looked), Counter())
            for case in held:
                both = items[case.model, case.meta["point"], task]
                verdict, read, n = judged(rule, case, kind, both, looked)
                total.update(read=read, items=n, stopped_early=int(read < n), cases=1)
                tally(total, case, verdict)
    print(
        "| scheme | reading | decisive | committed | right | read early | item passes |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    for (scheme, looked), t in sorted(totals.items()):
        print(
            f"| {scheme} | {'looks' if looked else 'single'} | {scored(t)} | "
            f"{t['stopped_early']} of {t['cases']} | {t['read'] / t['items']:.0%} |"
        )
    plans = {task: look_plan(evidence_kind(task), 24) for task in tasks}
    print(f"\nlooks on a 24-item suite: {plans}")


if __name__ == "__main__":
    main()
