"""The README's validation tables, from a rules file written by `prune-advisor fit`.

    .venv/bin/python benchmarks/validation_table.py [data/rules/default.json]

Per task type and overall: decisive ground-truth cases, verdicts committed (go or no-go),
right among committed, and borderline cases given caution — for each direction of
leave-one-model-out (fitted on the other model, scored on this one) and for
leave-one-method-out within each model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from advisor.fitting.validation import add_scores


def cell(record: dict) -> str:
    """right/committed of decisive; borderline given caution."""
    if not record:
        return "—"
    committed, decisive = record.get("committed", 0), record.get("decisive", 0)
    share = f" ({committed / decisive:.0%})" if decisive else ""
    border = f"; borderline {record.get('borderline_caution', 0)}/{record.get('borderline', 0)}"
    return f"{record.get('right', 0)}/{committed} right, {committed} of {decisive}{share}{border}"


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "data/rules/default.json")
    rules = json.loads(path.read_text())
    tasks = {t: e for t, e in rules["tasks"].items() if e.get("assessable")}
    models = sorted({m for e in tasks.values() for m in e["models"]})
    head = ["task", "rule", *[f"held-out {m}" for m in models]]
    head += [f"leave-one-method-out, {m}" for m in models]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    totals: dict[str, dict] = {}
    for task, entry in tasks.items():
        val = entry["validation"]
        per_model = val["leave_one_model_out_per_model"]
        row = [task, f"1 − {entry['slope']:.3g}·u, misfit {entry['misfit']:.3g}·u"]
        for m in models:
            row.append(cell(per_model.get(m, {})))
            totals[f"held-out {m}"] = add_scores(
                totals.get(f"held-out {m}", {}), per_model.get(m, {})
            )
        for m in models:
            row.append(cell(val["leave_one_method_out"].get(m, {})))
            key = f"lomo {m}"
            totals[key] = add_scores(totals.get(key, {}), val["leave_one_method_out"].get(m, {}))
        print("| " + " | ".join(row) + " |")
    overall = ["**all**", ""]
    overall += [f"**{cell(totals[f'held-out {m}'])}**" for m in models]
    overall += [f"**{cell(totals[f'lomo {m}'])}**" for m in models]
    print("| " + " | ".join(overall) + " |")


if __name__ == "__main__":
    main()
