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
from sklearn.model_selection import LeaveOneGroupOut

from advisor.fitting.estimator import MIN_CASES, Case, RetentionRule
from advisor.fitting.fit import cases_for
from advisor.fitting.grid import read_cases
from advisor.fitting.validation import verdict_counts
from advisor.measure.evidence import evidence_kind
from advisor.measure.loss import loss_stats
from advisor.rules.looks import look_schedule, read_in_looks
from advisor.rules.predict import predict_from

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


def scored(total: Counter) -> str:
    """'decisive | committed (share) | right (share)' table cells of a tally."""
    committed, decisive = total["committed"], total["decisive"]
    return (
        f"{decisive} | {committed} ({committed / max(decisive, 1):.0%}) | {total['right']} "
        f"({total['right'] / max(committed, 1):.1%})"
    )


def fitted_folds(rows: list[dict]) -> Iterator[tuple[str, str, str, dict, list[Case]]]:
    """(task, evidence kind, scheme, rule fitted on the fold's training cases, held-out
    cases) for every task type with evidence and every fold with at least MIN_CASES cases
    to fit: scikit-learn's LeaveOneGroupOut over models, and over methods within a model."""
    for task in sorted({t for r in rows for t in r.get("evidence", {})}):
        kind = evidence_kind(task)
        cases = cases_for(rows, task)
        schemes = [("held-out ", cases, [c.model for c in cases])]
        for model in sorted({c.model for c in cases}):
            own = [c for c in cases if c.model == model]
            schemes.append((f"leave-one-method-out, {model}", own, [c.method for c in own]))
        for scheme, pool, groups in schemes:
            if len(set(groups)) < 2:
                continue
            for train, test in LeaveOneGroupOut().split(pool, groups=groups):
                if len(train) >= MIN_CASES:
                    rule = RetentionRule(kind).fit([pool[i] for i in train]).to_rule()
                    name = scheme + groups[test[0]] if scheme == "held-out " else scheme
                    yield task, kind, name, rule, [pool[i] for i in test]


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
                counts = verdict_counts([case], [verdict])
                total.update({k: counts[k] for k in ("decisive", "committed", "right")})
    print(
        "| scheme | reading | decisive | committed | right | read early | item passes |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    for (scheme, looked), t in sorted(totals.items()):
        print(
            f"| {scheme} | {'looks' if looked else 'single'} | {scored(t)} | "
            f"{t['stopped_early']} of {t['cases']} | {t['read'] / t['items']:.0%} |"
        )
    plans = {task: look_schedule(evidence_kind(task), 24) for task in tasks}
    print(f"\nlooks on a 24-item suite: {plans}")


if __name__ == "__main__":
    main()
