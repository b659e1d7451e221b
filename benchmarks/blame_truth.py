"""Blame against ground truth: does restoring the top-blamed units help more than chance?

    .venv/bin/python benchmarks/blame_truth.py --model smollm2-135m [--model gemma3-270m]
    .venv/bin/python benchmarks/blame_truth.py --table

Run on demand (not a unit test; minutes per case on two CPU cores). Per case (a model, a
pruning and a task type whose ground truth in the rules' grid, data/rules/cases.jsonl, is
no-go with part of the quality left, retention 0.3-0.85: a pruning that lost everything
cannot tell a good restoration from a bad one, both stay at zero): `assess --blame` (the
precision `assess` runs in) ranks the removed units (or, for a sparsity pruning, the
layers whose dense weights it restores); then ground truth (`evaluate`: float32, every
question of the built-in evaluation split) of the pruning as it is, with its k
top-blamed units restored, and with k removed units chosen at random restored: every
k-subset where there are at most RANDOM_DRAWS of them, else RANDOM_DRAWS distinct seeded
draws, their mean retention being the chance level; k is a quarter of the removed
units, at least one. Rows are appended to benchmarks/results/blame_truth.jsonl as each
case finishes; a rerun skips the cases there.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth_rows import SEED, Models, append_row, command_line, dropped_truth, read_rows, truth

ROWS = Path(__file__).resolve().parent / "results" / "blame_truth.jsonl"
# (method, amount, task type): per model, prunings whose grid ground truth on that task
# type is no-go with retention 0.3-0.85, one or two per method family, task types spread
CASES = {
    "smollm2-135m": [
        ("block-drop", {"layers": 3}, "rag"),
        ("mlp-drop", {"layers": 4}, "rag"),
        ("mlp-drop", {"layers": 6}, "generation"),
        ("wanda", {"sparsity": 0.3}, "math"),
        ("sparsegpt", {"sparsity": 0.5}, "rag"),
    ],
    "gemma3-270m": [
        ("block-drop", {"layers": 4}, "rag"),
        ("attn-drop", {"layers": 6}, "generation"),
        ("mlp-drop", {"layers": 6}, "multiple-choice"),
        ("block-drop", {"layers": 2}, "summarization"),
        ("sparsegpt", {"sparsity": 0.5}, "rag"),
    ],
}
# Random restorations averaged for the chance level (all of them where there are fewer).
RANDOM_DRAWS = 4
EVERY_QUESTION = 0  # `evaluate --adaptive 0`: no early stop, the finest truth there is


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
        kept = sorted(set(units) - set(keep))
        return dropped_truth(dense32, method, kept, task, EVERY_QUESTION)
    key = (models.name, method, *amount.items())
    if key not in SPARSE:  # pruned once per case, in float32 as `evaluate` prunes
        SPARSE.clear()
        SPARSE[key] = prune_model(dense32, method, **amount, seed=SEED).loaded
    pruned = SPARSE[key]
    for layer in keep:
        pruned = restored_layer(pruned, dense32, layer)
    return truth(dense32, pruned, task, EVERY_QUESTION)


def random_choices(units: list[int], k: int) -> list[list[int]]:
    """The random restorations of ``k`` of ``units``: every k-subset where there are at
    most RANDOM_DRAWS, else RANDOM_DRAWS distinct seeded draws."""
    if math.comb(len(units), k) <= RANDOM_DRAWS:
        return [list(c) for c in itertools.combinations(units, k)]
    draws: list[list[int]] = []
    rng = random.Random(SEED)
    while len(draws) < RANDOM_DRAWS:
        draw = sorted(rng.sample(units, k))
        if draw not in draws:
            draws.append(draw)
    return draws


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
    drawn = random_choices(units, k) if units else []
    truth_random = [restored_truth(models, method, amount, units, d, task) for d in drawn]
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
        "truth_random": truth_random,
        "random_mean": sum(t["retention"] for t in truth_random) / max(1, len(truth_random)),
        "seconds": round(time.perf_counter() - start, 1),
    }


def gains(row: dict[str, Any]) -> str:
    """The predicted gains of the top k, and how many other units tie with the k-th in
    gain (a tie is broken by the divergence from the dense model, then the lower layer)."""
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
        "| truth as is | truth, top k restored | truth, random k restored (mean of draws) "
        "| top beats random |",
        "|---|---|---|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        ((name, value),) = r["amount"].items()
        top, chance = r["truth_top"]["retention"], r["random_mean"]
        wins = "yes" if top > chance else "tie" if top == chance else "no"
        draws = ", ".join(f"{t['retention']:.2f}" for t in r["truth_random"])
        lines.append(
            f"| {r['model']} | {r['method']} {name} {value} | {r['task']} | {r['verdict']} "
            f"| {r['k']} | {r['top']} ({gains(r)}) | {r['truth_as_is']['retention']:.2f} "
            f"| {top:.2f} {r['truth_top']['outcome']} "
            f"| {chance:.2f} ({len(r['random'])} draws: {draws}) | {wins} |"
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
