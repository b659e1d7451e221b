"""Do verdicts travel between CPUs? fp32, bf16, and bf16 in other batches, side by side.

    .venv/bin/python benchmarks/precision_invariance.py [--models smollm2-135m,gemma3-270m]
        [--out benchmarks/results/precision_invariance.jsonl] [--tasks T,…] [--under A.jsonl …]

``--tasks`` re-reads only some task types (a suite that changed) into their own ``--out``
file; ``--under`` names the earlier files it updates: the table takes each (model,
configuration, variant) from them and then the ``--out`` rows' task types over them.

Run on demand (not a unit test; tests/test_precision_invariance.py holds the invariant on
a tiny model). CI cannot run every CPU, so the difference between kernels is emulated:
each configuration (the demo's attn-drop 25%, and six grid configurations across
methods) is pruned once in fp32 and assessed for every task type three ways —

* **fp32**: both models in fp32;
* **bf16**: both converted to bf16 (the precision ``--dtype auto`` picks on AMX or
  AVX512-BF16 CPUs);
* **bf16, other batches**: the same, with every calibration suite read in reverse order,
  so that every prefill batch holds other rows (bf16 rounding depends on the batch) and
  the sequential looks read other items first.

The invariant (docs/design.md §5h): a verdict may move to or from caution, never between
go, no-go and not-assessable. Rows are appended as they finish (a killed run resumes);
the table is printed from the file, with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from evidence_grid import _converted as converted

from advisor.assess import assess
from advisor.measure.calibration_items import calibration_suites
from advisor.models import load_model
from advisor.models.placement import cpu_description
from advisor.pruning import prune_model
from advisor.suites.tasks import task_names
from advisor.verdicts import CAUTION

CONFIGS = (
    ("attn-drop", {"ratio": 0.25}),  # the demo
    ("attn-drop", {"layers": 2}),
    ("mlp-drop", {"layers": 1}),
    ("block-drop", {"layers": 1}),
    ("magnitude", {"sparsity": 0.1}),
    ("wanda", {"sparsity": 0.1}),
    ("sparsegpt", {"sparsity": 0.2}),
)
VARIANTS = ("fp32", "bf16", "bf16, other batches")
OUT = Path("benchmarks/results/precision_invariance.jsonl")


def config_id(method: str, amount: dict) -> str:
    """e.g. 'attn-drop ratio=0.25'."""
    return method + " " + " ".join(f"{k}={v}" for k, v in amount.items())


def verdicts(dense, pruned, variant: str, tasks: list[str]) -> dict[str, str]:
    """Each task type's verdict for one variant (no hierarchy: no verdict reads it)."""
    suites = calibration_suites(tasks, 0)
    if variant == "bf16, other batches":
        suites = {t: items[::-1] for t, items in suites.items()}
    if variant != "fp32":
        dense = converted(dense, "bfloat16")
        pruned = dataclasses.replace(pruned, loaded=converted(pruned.loaded, "bfloat16"))
    result = assess(dense, pruned, tasks, hierarchy=False, decode=False, suites=suites)
    return {t: v["verdict"] for t, v in result["tasks"].items()}


def consistent(row: dict[str, str]) -> bool:
    """Whether a task's verdicts across variants differ only to or from caution."""
    return len(set(row.values()) - {CAUTION}) <= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--configs", default="", help="comma-separated configuration numbers (0 = the demo)"
    )
    parser.add_argument("--tasks", default="", help="comma-separated task types (default all)")
    parser.add_argument(
        "--under", type=Path, nargs="*", default=[], help="earlier rows that --out updates"
    )
    args = parser.parse_args()
    picked = [CONFIGS[int(k)] for k in args.configs.split(",")] if args.configs else CONFIGS
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {
        (r["model"], r["config"], r["variant"])
        for r in map(json.loads, args.out.read_text().splitlines() if args.out.exists() else [])
    }
    tasks = args.tasks.split(",") if args.tasks else task_names()
    for name in args.models.split(","):
        dense = None
        for method, amount in picked:
            todo = [v for v in VARIANTS if (name, config_id(method, amount), v) not in done]
            if not todo:
                continue
            dense = dense or load_model(name)
            pruned = prune_model(dense, method, seed=0, **amount)
            for variant in todo:
                start = time.perf_counter()
                found = verdicts(dense, pruned, variant, tasks)
                row = {
                    "model": name,
                    "config": config_id(method, amount),
                    "variant": variant,
                    "verdicts": found,
                    "seconds": round(time.perf_counter() - start, 1),
                    "cpu": cpu_description(),
                }
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row, sort_keys=True) + "\n")
                print(name, row["config"], variant, found, flush=True)
    print_table([*args.under, args.out])


def print_table(paths: list[Path]) -> None:
    """The table: per model, configuration and task type, the verdict of each variant
    (a later file's rows update an earlier file's task types)."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    by_key: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for r in rows:
        found = by_key.setdefault((r["model"], r["config"]), {})
        found[r["variant"]] = found.get(r["variant"], {}) | r["verdicts"]
    print(f"\nCPU: {rows[0]['cpu'] if rows else cpu_description()}")
    print("| model | configuration | task | " + " | ".join(VARIANTS) + " | consistent |")
    print("|---|---|---|" + "---|" * len(VARIANTS) + "---|")
    bad = total = 0
    for (model, config), per_variant in by_key.items():
        for task in task_names():
            row = {v: per_variant[v][task] for v in VARIANTS if task in per_variant.get(v, {})}
            ok = consistent(row)
            bad, total = bad + (not ok), total + 1
            cells = " | ".join(row.get(v, "—") for v in VARIANTS)
            print(f"| {model} | {config} | {task} | {cells} | {'yes' if ok else 'NO'} |")
    print(f"\n{total - bad} of {total} rows consistent (moves only to or from caution)")


if __name__ == "__main__":
    main()
