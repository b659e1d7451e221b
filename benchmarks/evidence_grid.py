"""Direct evidence (advisor.measure.evidence) on every configuration of the fitting grids.

Resumable: one JSONL row per (model, grid point), appended as soon as it is measured.
``--merge-into`` then adds each row's evidence to the matching row (model, point id) of a
cases file written by `fit` before evidence existed, so `fit` refits from it alone.

    .venv/bin/python benchmarks/evidence_grid.py --out /tmp/evidence.jsonl \
        --merge-into data/rules/cases.jsonl

Two workers on two cores: ``--shard 0/2`` and ``--shard 1/2`` with different ``--out``
files, then ``--no-measure --merge-from A B --merge-into …``.

``--dtype bfloat16`` measures the evidence of the same pruned weights in another precision:
each configuration is pruned in fp32 (as the grid's labels were), then the dense and the
pruned model are converted and measured there (``benchmarks/precision_validation.py``
scores the verdicts such evidence gives against the fp32 labels).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import torch

from advisor.fitting.grid import MODEL_GRIDS, read_cases, with_calibration
from advisor.measure.calibration_items import calibration_suites
from advisor.measure.evidence import task_evidence
from advisor.measure.loss import loss_stats
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.suites import build_suite
from advisor.suites.items import items_hash
from advisor.suites.tasks import TASK_TYPES
from advisor.truth.evaluate import dense_results

GRIDS = MODEL_GRIDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/rules/evidence.jsonl"))
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--tasks", default=",".join(TASK_TYPES), help="task types to measure")
    parser.add_argument("--merge-into", type=Path, help="a cases file to add the evidence to")
    parser.add_argument(
        "--merge-from",
        type=Path,
        nargs="*",
        default=[],
        help="evidence files to merge, later ones winning per task (default: --out)",
    )
    parser.add_argument("--measure", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--shard", default="0/1", help="K/N: measure every N-th grid point from the K-th"
    )
    parser.add_argument(
        "--dtype", default="float32", help="measure in this precision (pruned in fp32 first)"
    )
    parser.add_argument(
        "--done", type=Path, nargs="*", default=[], help="evidence files already measured"
    )
    args = parser.parse_args()
    if args.measure:
        measure(args)
    if args.merge_into:
        merge(args.merge_from or [args.out], args.merge_into)


def _restated(record: dict) -> dict:
    """The evidence record without its per-item lists, its loss recomputed from them by
    the current code (so a change to the loss needs no new model run)."""
    items = record["items"]
    stats = record["stats"] | loss_stats(record["kind"], items["dense"], items["pruned"])
    return {k: v for k, v in record.items() if k != "items"} | {"stats": stats}


def merge(evidence_files: list[Path], cases_file: Path) -> None:
    """Add the evidence (without its per-item lists) to the cases it belongs to, task by
    task; where an evidence row records its calibration suites, the case's suite id takes
    them (its labels, on the unchanged evaluation suites, still hold)."""
    found: dict[tuple[str, str], dict] = {}
    suites: dict[tuple[str, str], dict] = {}
    for path in evidence_files:
        for r in read_cases(path):
            found.setdefault((r["model"], r["point"]), {}).update(r["evidence"])
            suites.setdefault((r["model"], r["point"]), {}).update(r.get("suites", {}))
    rows = read_cases(cases_file)
    for row in rows:
        key = (row["model"], row["point"]["id"])
        if key in found:
            restated = {t: _restated(e) for t, e in found[key].items()}
            row["evidence"] = row.get("evidence", {}) | restated
            row["suites"] = with_calibration(row["suites"], suites[key])
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    cases_file.write_text(text)
    print(f"{sum('evidence' in r for r in rows)} of {len(rows)} cases have evidence")


def measure(args: argparse.Namespace) -> None:
    """Evidence for every grid point of every model not yet in ``args.out``."""
    torch.set_num_threads(1)
    done = {(r["model"], r["point"]) for f in [args.out, *args.done] for r in read_cases(f)}
    shard, shards = (int(x) for x in args.shard.split("/"))
    tasks = args.tasks.split(",")
    suites = calibration_suites(tasks, 0)
    # as a cases file's suite id records them: the whole suite, every view
    suite_hashes = {t: items_hash(build_suite(t, "calibration", 0)) for t in tasks}
    for name in args.models.split(","):
        dense = load_model(name)
        measured = _converted(dense, args.dtype)
        dres = {t: dense_results(measured, items) for t, items in suites.items()}
        for k, point in enumerate(GRIDS[name]):
            if (name, point.id) in done or k % shards != shard:
                continue
            start = time.perf_counter()
            pruned = prune_model(dense, point.method, **point.kwargs(), seed=0)
            pruned_measured = _converted(pruned.loaded, args.dtype)
            seconds = {}
            evidence = {}
            for task, items in suites.items():
                t0 = time.perf_counter()
                ev = task_evidence(measured, pruned_measured, task, items, dres[task])
                evidence[task] = ev.to_dict() | {"items": {"dense": ev.dense, "pruned": ev.pruned}}
                seconds[task] = round(time.perf_counter() - t0, 2)
            row = {
                "model": name,
                "point": point.id,
                "suites": suite_hashes,
                "evidence": evidence,
                "seconds": seconds,
                "dtype": args.dtype,
                "total_s": round(time.perf_counter() - start, 1),
            }
            with args.out.open("a") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            print(name, point.id, row["total_s"], flush=True)
            del pruned, pruned_measured


def _converted(loaded, dtype: str):
    """``loaded`` as it is for float32, else a converted deep copy (a pruned model may
    share tensors with the dense one, which must stay fp32 for the next pruning)."""
    if dtype == "float32":
        return loaded
    model = copy.deepcopy(loaded.model).to(getattr(torch, dtype))
    return dataclasses.replace(loaded, model=model)


if __name__ == "__main__":
    main()
