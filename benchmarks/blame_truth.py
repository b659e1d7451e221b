"""Blame against ground truth: does restoring the top-blamed units help more than chance?

    .venv/bin/python benchmarks/blame_truth.py --model smollm2-135m [--model gemma3-270m]
    .venv/bin/python benchmarks/blame_truth.py --table

Run on demand (not a unit test; minutes per case on two CPU cores). Per case (a model, a
pruning and a task type its verdict is expected to be no-go on): `assess --blame` (the
precision `assess` runs in) ranks the removed units (or, for a sparsity pruning, the
layers whose dense weights it restores); then ground truth (`evaluate`: float32, the
built-in evaluation split, sequential from 32 questions) of the pruning as it is, with its
k top-blamed units restored, and with k removed units drawn at random (seeded) restored;
k is a quarter of the removed units, at least one. Rows are appended to
benchmarks/results/blame_truth.jsonl as each case finishes; a rerun skips the cases there.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth_rows import SEED, Models, append_row, cell, command_line, dropped_truth, read_rows, truth

ROWS = Path(__file__).resolve().parent / "results" / "blame_truth.jsonl"
# (method, amount, task type): prunings whose ground truth on that task type was no-go in
# the rules' grid (data/rules/cases.jsonl) or whose verdict is (README's demo)
CASES = {
    "smollm2-135m": [
        ("attn-drop", {"layers": 8}, "math"),
        ("block-drop", {"layers": 3}, "rag"),
        ("mlp-drop", {"layers": 4}, "math"),
        ("wanda", {"sparsity": 0.3}, "math"),
    ],
    "gemma3-270m": [
        ("attn-drop", {"layers": 6}, "math"),
        ("mlp-drop", {"layers": 3}, "rag"),
        ("block-drop", {"layers": 3}, "math"),
        ("wanda", {"sparsity": 0.5}, "math"),
    ],
}


SPARSE: dict[tuple, Any] = {}  # the float32 sparsity pruning of the current case


def case_id(model: str, method: str, amount: dict[str, Any], task: str) -> str:
    """A case's key in the rows file."""
    ((name, value),) = amount.items()
    return f"{model}/{method}/{name}={value}/{task}"


def restored_truth(models: Models, method: str, amount: dict, units: list, keep: list, task: str):
    """Ground truth of the pruning with the units (layers) of ``keep`` restored."""
    from advisor.guidance.restore import restored_layer
    from advisor.pruning import get_method, prune_model

    dense32 = models.get("float32")
    if get_method(method).unit is not None:
        return dropped_truth(dense32, method, sorted(set(units) - set(keep)), task)
    key = (method, *amount.items())
    if key not in SPARSE:  # pruned once per case, in float32 as `evaluate` prunes
        SPARSE.clear()
        SPARSE[key] = prune_model(dense32, method, **amount, seed=SEED).loaded
    pruned = SPARSE[key]
    for layer in keep:
        pruned = restored_layer(pruned, dense32, layer)
    return truth(dense32, pruned, task)


def measure_case(models: Models, method: str, amount: dict, task: str) -> dict[str, Any]:
    """One case: the verdict and blame, then ground truth as is, top-k and random-k restored."""
    from advisor.assess import assess
    from advisor.pruning import prune_model

    start = time.perf_counter()
    dense = models.get("auto")
    pruned = prune_model(dense, method, **amount, seed=SEED)
    options = {"hierarchy": False, "decode": False, "blame": True}
    result = assess(dense, pruned, [task], **options)
    verdict = result["tasks"][task]
    blamed = result["blame"]
    ranking = blamed["tasks"][task]["restored"] if blamed.get("available") else []
    units = blamed.get("units", [])
    k = max(1, len(units) // 4)
    top = sorted(r["unit"] for r in ranking[:k])
    drawn = sorted(random.Random(SEED).sample(units, k)) if units else []
    return {
        "case": case_id(models.name, method, amount, task),
        "model": models.name,
        "method": method,
        "amount": amount,
        "task": task,
        "verdict": verdict["verdict"],
        "retention": (verdict.get("prediction") or {}).get("retention"),
        "units": units,
        "ranking": ranking,
        "k": k,
        "top": top,
        "random": drawn,
        "truth_as_is": restored_truth(models, method, amount, units, [], task),
        "truth_top": restored_truth(models, method, amount, units, top, task),
        "truth_random": restored_truth(models, method, amount, units, drawn, task),
        "seconds": round(time.perf_counter() - start, 1),
    }


def gains(row: dict[str, Any]) -> str:
    """The predicted gains of the top k, and how many other units tie with the k-th (a tie
    is broken by the lower layer: that pick is arbitrary)."""
    ranking, k = row["ranking"], row["k"]
    if not ranking:
        return "none"
    shown = ", ".join(f"{r['gain']:+.2f}" for r in ranking[:k])
    tied = sum(r["gain"] == ranking[k - 1]["gain"] for r in ranking[k:])
    return shown + (f", {tied} more at {ranking[k - 1]['gain']:+.2f}" if tied else "")


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``rows``."""
    lines = [
        "| model | pruning | task | verdict | k | top-blamed restored (predicted gains) "
        "| truth as is | truth, top k restored | truth, random k restored | top beats random |",
        "|---|---|---|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        ((name, value),) = r["amount"].items()
        a, b = r["truth_top"], r["truth_random"]
        wins = "yes" if a["retention"] > b["retention"] else "no"
        if a["retention"] == b["retention"]:
            wins = "same units" if r["top"] == r["random"] else "tie"
        lines.append(
            f"| {r['model']} | {r['method']} {name} {value} | {r['task']} | {r['verdict']} "
            f"| {r['k']} | {r['top']} ({gains(r)}; random: {r['random']}) "
            f"| {cell(r['truth_as_is'])} "
            f"| {cell(a)} | {cell(b)} | {wins} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = command_line(__doc__, ROWS, table)
    if args is None:
        return
    for name in args.model:
        models = Models(name)
        for method, amount, task in CASES[name]:
            if case_id(name, method, amount, task) in {r["case"] for r in read_rows(ROWS)}:
                continue
            row = measure_case(models, method, amount, task)
            append_row(ROWS, row)
            print(table([row]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
