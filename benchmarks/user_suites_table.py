"""README's user-suite table from benchmarks/user_suites/results.jsonl.

.venv/bin/python benchmarks/user_suites_table.py [RULES.json] [--results FILE]

(``--results benchmarks/user_suites/results-bf16.jsonl``: the verdicts read in bf16.)

The verdicts are derived again from each row's stored evidence (its loss and sampling SD)
with the rules given (default: the shipped ones), so a refit needs no model run; the
ground truth is the row's own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advisor.rules.predict import Z, predict
from advisor.rules.rules_file import load_rules

RESULTS = Path(__file__).resolve().parent / "user_suites" / "results.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rules", nargs="?", help="a rules file (default: the shipped rules)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    rules, _, _ = load_rules(args.rules)
    for r in rows:
        rule = rules["tasks"].get(r["task"], {})
        if r["prediction"] is None or "slope" not in rule:
            continue
        stats = r["evidence"]["stats"]
        z = (r["evidence"].get("look") or {}).get("z", Z)  # the look it was read at
        found = predict(rule, stats["loss"], stats["loss_sd"], rules["tolerance"], z)
        r["verdict"] = found.verdict
        r["prediction"] = {
            "retention": found.retention,
            "interval": [found.low, found.high],
            "verdict": found.verdict,
        }
    print("| model | suite | config | verdict | predicted [interval] | ground truth [CI] (n) |")
    print("|---|---|---|---|---|---|")
    tally = {"decisive": 0, "committed": 0, "right": 0}
    for r in rows:
        p, t = r["prediction"], r["truth"]
        truth = (
            "—"
            if t["retention"] is None
            else f"{t['retention']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}] "
            f"({t['n']}) {t['outcome']}"
        )
        pred = (
            "—"
            if p is None
            else f"{p['retention']:.2f} [{p['interval'][0]:.2f}, {p['interval'][1]:.2f}]"
        )
        print(
            f"| {r['model']} | {r['suite']} ({r['task']}) | {r['point']} | {r['verdict']} | "
            f"{pred} | {truth} |"
        )
        if t["outcome"] in ("go", "no-go") and r["verdict"] != "n/a":
            tally["decisive"] += 1
            if r["verdict"] in ("go", "no-go"):
                tally["committed"] += 1
                tally["right"] += r["verdict"] == t["outcome"]
    print(
        f"\n{tally['right']}/{tally['committed']} committed verdicts right; "
        f"{tally['committed']} of {tally['decisive']} decisive cases committed."
    )


if __name__ == "__main__":
    main()
