"""How many calibration items a verdict needs: what a smaller suite saves and what it costs.

    .venv/bin/python benchmarks/calibration_size.py [--fractions 1,0.5,0.25] [--draws 20]

Run on demand (not a unit test). Reads the committed ground truth
(``data/rules/cases.jsonl``) and the per-item evidence kept beside it
(``data/rules/evidence/*.jsonl``: per configuration and task type, the dense and pruned
score of every calibration item). For each fraction f, each draw takes one seeded random
subset of ⌈f·n⌉ of each task type's calibration items (the same items for every
configuration of a model, as a smaller suite would be), recomputes every configuration's
loss and its sampling SD on it with the code `assess` uses
(:func:`advisor.measure.loss.loss_of`), and scores leave-one-model-out: the rule fitted
on the other model's full-suite cases (:class:`advisor.fitting.estimator.RetentionRule`),
its verdicts from this model's subsampled evidence. Prints, per fraction and held-out model,
decisive cases, verdicts committed and right among them (summed over task types, averaged
over draws): the verdict quality of an `assess` whose evidence passes cost f times as much."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from advisor.fitting.estimator import Case, RetentionRule
from advisor.fitting.fit import cases_for
from advisor.fitting.grid import calibration_hashes, read_cases
from advisor.fitting.validation import add_scores, score
from advisor.measure.evidence import evidence_kind
from advisor.measure.loss import loss_of

CASES = Path("data/rules/cases.jsonl")
EVIDENCE = Path("data/rules/evidence")


def per_item_evidence() -> dict[tuple[str, str, str], dict]:
    """(model, point id, task) -> {"dense": [...], "pruned": [...]}: the record measured on
    the calibration suite the cases file records for that configuration (its evidence was
    merged from it), else the latest file's (a model's ``-retrieval`` and ``-exact`` files
    after the others)."""
    current = {
        (r["model"], r["point"]["id"]): calibration_hashes(r["suites"]) for r in read_cases(CASES)
    }
    found: dict[tuple[str, str, str], dict] = {}
    matched: set[tuple[str, str, str]] = set()
    for path in sorted(
        EVIDENCE.glob("*.jsonl"), key=lambda p: (p.stem.endswith(("-retrieval", "-exact")), p.name)
    ):
        for row in read_cases(path):
            wanted = current.get((row["model"], row["point"]), {})
            for task, record in row["evidence"].items():
                key = (row["model"], row["point"], task)
                if "items" not in record or key in matched:
                    continue
                found[key] = record["items"]
                if row.get("suites", {}).get(task) == wanted.get(task):
                    matched.add(key)
    return found


def subsampled(cases: list[Case], items: dict, task: str, picks: np.ndarray) -> list[Case]:
    """``cases`` with loss and loss SD recomputed on the calibration items ``picks``."""
    kind = evidence_kind(task)
    out = []
    for c in cases:
        both = items[c.model, c.meta["point"], task]
        dense = [both["dense"][i] for i in picks]
        pruned = [both["pruned"][i] for i in picks]
        loss, sd = loss_of(kind, dense, pruned)
        out.append(Case(loss, sd, c.retention, c.outcome, c.label_sd, c.model, c.method, c.meta))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", default="1,0.5,0.25")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--held-out", help="only this model (default: each in turn)")
    args = parser.parse_args()
    rows = read_cases(CASES)
    tolerance = 0.9
    items = per_item_evidence()
    tasks = sorted({t for r in rows for t in r.get("evidence", {})})
    fractions = [float(f) for f in args.fractions.split(",")]
    models = [args.held_out] if args.held_out else sorted({r["model"] for r in rows})
    print("| fraction of calibration items | held-out model | decisive | committed | right |")
    print("|---:|---|---:|---:|---:|")
    for f in fractions:
        for held in models:
            total: dict = {}
            draws = 1 if f == 1 else args.draws
            for draw in range(draws):
                rng = np.random.default_rng(draw)
                for task in tasks:
                    cases = cases_for(rows, task)
                    test = [c for c in cases if c.model == held]
                    train = [c for c in cases if c.model != held]
                    if not test or not train:
                        continue
                    missing = [c for c in test if (c.model, c.meta["point"], task) not in items]
                    if missing:
                        raise SystemExit(
                            f"no per-item evidence for {held} {task}: rerun evidence_grid"
                        )
                    n = len(items[test[0].model, test[0].meta["point"], task]["dense"])
                    size = n if f == 1 else max(2, math.ceil(f * n))
                    picks = np.sort(rng.choice(n, size=size, replace=False))
                    rule = RetentionRule(evidence_kind(task), tolerance).fit(train)
                    total = add_scores(total, score(rule, subsampled(test, items, task, picks)))
            dec, com, right = (total.get(k, 0) / draws for k in ("decisive", "committed", "right"))
            print(
                f"| {f:g} | {held} | {dec:.0f} | {com:.1f} ({com / dec:.0%}) | "
                f"{right:.1f} ({right / com:.1%}) |"
            )


if __name__ == "__main__":
    main()
