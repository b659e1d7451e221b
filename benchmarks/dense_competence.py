"""Dense competence per task type on the calibration suites (docs/design.md §5a, issue 5).

Run: ``.venv/bin/python benchmarks/dense_competence.py [--model smollm2-135m] [--split
calibration] [--seed 0] [--tasks math rag ...]``. Prints one row per task type (and per
multiple-choice view): items, dense score, chance, one-sided p, most common answer share,
and the competence gate's verdict; ``--json PATH`` also writes the records.
"""

from __future__ import annotations

import argparse
import json
import time

from advisor.models import load_model
from advisor.suites import SUITES, build_suite, views
from advisor.truth.score import dense_competence, score_model


def main() -> None:
    """Measure and print the dense competence table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--split", default="calibration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=list(SUITES))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    loaded = load_model(args.model)
    records = []
    print("| task | view | items | dense score | chance | p | top share | verdict | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks:
        items = build_suite(task, args.split, args.seed)
        start = time.perf_counter()
        results = score_model(loaded, items)
        seconds = time.perf_counter() - start
        for view, members in views(items).items():
            gate = dense_competence(
                task, [items[n] for n in members], [results[n] for n in members]
            )
            record = {**gate.to_dict(), "view": view, "seconds": round(seconds, 1)}
            records.append(record)
            print(
                f"| {task} | {view} | {gate.n} | {gate.score:.3f} | {gate.chance:.3f} | "
                f"{gate.p_value:.2g} | {gate.top_share:.2f} | {gate.verdict} | {seconds:.0f} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(records, fh, indent=2)


if __name__ == "__main__":
    main()
