"""Direct evidence (advisor.evidence) on every configuration of the fitting grids.

Resumable: one JSONL row per (model, grid point), appended as soon as it is measured.
The rows join data/rules/cases.jsonl (ground truth) on model and point id.

    .venv/bin/python benchmarks/evidence_grid.py --out data/rules/evidence.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from advisor.assess import calibration_suites
from advisor.evidence import task_evidence
from advisor.fit import DEFAULT_GRID, HELD_OUT_GRID, read_cases
from advisor.ground_truth import dense_results
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.tasks import TASK_TYPES

GRIDS = {"smollm2-135m": DEFAULT_GRID, "gemma3-270m": HELD_OUT_GRID}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/rules/evidence.jsonl"))
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    args = parser.parse_args()
    torch.set_num_threads(1)
    done = {(r["model"], r["point"]) for r in read_cases(args.out)}
    tasks = list(TASK_TYPES)
    suites = calibration_suites(tasks, 0)
    for name in args.models.split(","):
        dense = load_model(name)
        dres = {t: dense_results(dense, items) for t, items in suites.items()}
        for point in GRIDS[name]:
            if (name, point.id) in done:
                continue
            start = time.perf_counter()
            pruned = prune_model(dense, point.method, **point.kwargs(), seed=0)
            seconds = {}
            evidence = {}
            for task, items in suites.items():
                t0 = time.perf_counter()
                ev = task_evidence(dense, pruned.loaded, task, items, dres[task])
                evidence[task] = ev.to_dict() | {"items": {"dense": ev.dense, "pruned": ev.pruned}}
                seconds[task] = round(time.perf_counter() - t0, 2)
            row = {
                "model": name,
                "point": point.id,
                "evidence": evidence,
                "seconds": seconds,
                "total_s": round(time.perf_counter() - start, 1),
            }
            with args.out.open("a") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            print(name, point.id, row["total_s"], flush=True)
            del pruned


if __name__ == "__main__":
    main()
