"""How often does a verdict commit to the wrong side? The whole procedure, by simulation.

    .venv/bin/python benchmarks/interval_coverage.py [--reps 4000] [--seed 0]

Run on demand (not a unit test; tests/test_interval_coverage.py holds a few cells). For
each true rate around the tolerance (0.9) and each suite size from 8 to 128 items, many
calibration suites are drawn and read exactly as ``assess`` reads them — the stats of
:func:`advisor.measure.loss.loss_stats` (bootstrap SD, exact counts), the verdict of
:func:`advisor.rules.predict.predict_from`, survival evidence in sequential looks
(:func:`advisor.rules.looks.read_in_looks`) — with the rule that adds nothing of its own
(slope 1, misfit 0), so every error is the statistics'. A cell is the share of suites
whose verdict is **go while the truth is below the tolerance**, or **no-go while it is
above**; the design's nominal level is 5% for each committed side (docs/design.md §5h).

* survival (math, rag): each scoring dense answer survives with the true rate.
* answers (classification, multiple-choice): the dense model is right on half the items;
  the pruned model keeps a dense-right answer with rate s and gains a dense-wrong one with
  rate 0.1, so the true retention is s + 0.1; read at once, as choice answers are.

Prints one table per kind (rows: true retention; columns: items; cells: error rate),
the largest cell, and the CPU it ran on.
"""

from __future__ import annotations

import argparse

import numpy as np

from advisor.measure.loss import loss_stats
from advisor.models.placement import cpu_description
from advisor.rules.looks import read_in_looks
from advisor.rules.predict import predict_from

TOLERANCE = 0.9
NOMINAL = 0.05
RULE = {"slope": 1.0, "misfit": 0.0}
SIZES = (8, 16, 24, 32, 64, 128)
TRUTHS = (0.75, 0.8, 0.85, 0.88, 0.895, 0.905, 0.92, 0.95, 0.98)
GAIN = 0.1  # answers: rate at which a dense-wrong answer becomes right after pruning


def survival_verdict(kept: np.ndarray) -> str:
    """The verdict ``assess`` gives survival evidence ``kept`` (1 = the answer survived),
    read in looks."""
    n = kept.size
    dense = [1.0] * n

    def measure(picks: list[int]) -> dict[str, float]:
        return loss_stats("survival", [dense[i] for i in picks], [float(kept[i]) for i in picks])

    _, prediction, _ = read_in_looks(RULE, "survival", n, TOLERANCE, measure, lambda s: s)
    return prediction.verdict


def answers_verdict(dense: np.ndarray, pruned: np.ndarray) -> str:
    """The verdict ``assess`` gives choice answers (one reading)."""
    return predict_from(RULE, loss_stats("answers", list(dense), list(pruned)), TOLERANCE).verdict


def error_rate(kind: str, truth: float, n: int, reps: int, rng: np.random.Generator) -> float:
    """Share of ``reps`` simulated suites of ``n`` items whose verdict is on the wrong side
    of the tolerance for the true retention ``truth``."""
    wrong = "go" if truth < TOLERANCE else "no-go"
    errors = 0
    for _ in range(reps):
        if kind == "survival":
            verdict = survival_verdict((rng.random(n) < truth).astype(float))
        else:
            right = rng.random(n) < 0.5
            keep = rng.random(n) < truth - GAIN
            gain = rng.random(n) < GAIN
            pruned = np.where(right, keep, gain).astype(float)
            verdict = answers_verdict(right.astype(float), pruned)
        errors += verdict == wrong
    return errors / reps


def table(kind: str, reps: int, seed: int) -> float:
    """Print one kind's table; return its largest cell."""
    rng = np.random.default_rng(seed)
    print(f"\n{kind}: share of {reps} suites with the wrong committed verdict")
    print("| true retention | wrong side | " + " | ".join(f"n = {n}" for n in SIZES) + " |")
    print("|---:|---|" + "---:|" * len(SIZES))
    worst = 0.0
    for truth in TRUTHS:
        cells = [error_rate(kind, truth, n, reps, rng) for n in SIZES]
        worst = max(worst, *cells)
        side = "go" if truth < TOLERANCE else "no-go"
        print(f"| {truth:.3f} | {side} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; numpy arithmetic only (no model runs, so no bf16)")
    print(f"tolerance {TOLERANCE}, nominal level {NOMINAL} per committed side")
    worst = {kind: table(kind, args.reps, args.seed) for kind in ("survival", "answers")}
    for kind, cell in worst.items():
        flag = "at or under" if cell <= NOMINAL else "OVER"
        print(f"largest {kind} cell: {cell:.4f} ({flag} the nominal {NOMINAL})")


if __name__ == "__main__":
    main()
