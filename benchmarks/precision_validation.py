"""Do verdicts read from bf16 evidence hold against the fp32 ground truth? (on demand)

    .venv/bin/python benchmarks/precision_validation.py [EVIDENCE.jsonl ...]

reads the grid's evidence measured in bf16, committed in ``data/rules/evidence-bf16/``
(made with ``benchmarks/evidence_grid.py --dtype bfloat16 --models M --out FILE``, one
file per model).

The grid's labels and the shipped rules come from fp32 runs. Each configuration here was
pruned in fp32 and its evidence measured again with both models in bf16 (what this CPU runs
~3x faster: AMX). The same folds as the validation tables (leave-one-model-out both ways,
leave-one-method-out within each model; rules fitted on the fp32 cases without the held-out
ones) judge every held-out configuration twice: from its fp32 evidence and from its bf16
evidence, each read in sequential looks as `assess` reads it. Prints per scheme and
precision: decisive cases, committed, right; then how often the two precisions' verdicts
agree, and the largest loss differences.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from calibration_size import CASES, per_item_evidence
from sequential_looks import fitted_folds, judged, scored, tally

from advisor.fitting.grid import read_cases
from advisor.measure.loss import loss_of


def evidence_of(paths: list[Path]) -> dict[tuple[str, str, str], dict]:
    """(model, point id, task) -> per-item evidence, from evidence_grid.py's files."""
    return {
        (row["model"], row["point"], task): record["items"]
        for path in paths
        for row in read_cases(path)
        for task, record in row["evidence"].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "evidence",
        type=Path,
        nargs="*",
        default=sorted(Path("data/rules/evidence-bf16").glob("*.jsonl")),
        help="evidence_grid.py output files (default: data/rules/evidence-bf16/*.jsonl)",
    )
    args = parser.parse_args()
    rows = read_cases(Path(CASES))
    reference = per_item_evidence()
    other = evidence_of(args.evidence)
    totals: dict[tuple[str, str], Counter] = {}
    agree: Counter = Counter()
    shifts: list[tuple[float, str, str, str]] = []
    for task, kind, scheme, rule, held in fitted_folds(rows):
        for case in held:
            key = (case.model, case.meta["point"], task)
            if key not in other:
                continue
            verdicts = {}
            for precision, source in (("fp32", reference), ("bf16", other)):
                verdicts[precision], _, _ = judged(rule, case, kind, source[key], True)
                total = totals.setdefault((scheme, precision), Counter(cases=0))
                total["cases"] += 1
                tally(total, case, verdicts[precision])
            agree.update(same=int(verdicts["fp32"] == verdicts["bf16"]), pairs=1)
            if verdicts["fp32"] != verdicts["bf16"]:
                agree[f"{task}: {verdicts['fp32']} -> {verdicts['bf16']}"] += 1
            if scheme.startswith("held-out"):
                fp32_loss = loss_of(kind, **reference[key])[0]
                bf16_loss = loss_of(kind, **other[key])[0]
                shifts.append((bf16_loss - fp32_loss, task, case.model, case.meta["point"]))
    print(
        "| scheme | precision | held-out cases | decisive | committed | right |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    for (scheme, precision), t in sorted(totals.items()):
        print(f"| {scheme} | {precision} | {t['cases']} | {scored(t)} |")
    print(f"\nsame verdict in both precisions: {agree['same']} of {agree['pairs']} judgements")
    for name, count in sorted(agree.items()):
        if ":" in name:
            print(f"  {name}: {count}")
    print("\nlargest loss differences (bf16 - fp32), held-out readings:")
    for shift, task, model, point in sorted(shifts, key=lambda s: -abs(s[0]))[:10]:
        print(f"  {shift:+.4f} {task} {model} {point}")


if __name__ == "__main__":
    main()
