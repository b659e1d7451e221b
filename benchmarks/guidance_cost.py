"""What the sensitivity map and `plan` cost against one `assess` of the same task type.

    .venv/bin/python benchmarks/guidance_cost.py --task math --task rag \
        --method attn-drop --method mlp-drop
    .venv/bin/python benchmarks/guidance_cost.py --table

Run on demand (not a unit test). SmolLM2-135M, for each task type and structural method,
on one scratch cache (models linked from the user cache, every measurement cache empty),
side by side in one run: first an unmeasured `assess --ratio 0.25` fills the dense side
(the answers, the evidence's dense side, the competence gate: every command reads them);
then, timed as child processes (a cold process each, warm caches): the command a user
runs, `assess --method M --ratio 0.25 --task T` (the baseline "one assess"), and the same
with `--no-decode --no-hierarchy` (only what a verdict needs); `plan --method M --task T`
on the cold map cache (its JSON splits the time between the map and the verifying
assessments); and `plan` again (every unit and set cached: the rerun's cost). Each
combination's figures are appended to benchmarks/results/guidance_cost.jsonl (with the
run's start time) and printed as a table row; ``--table`` prints the latest run's rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import run_cli
from truth_rows import RESULTS, append_row, read_rows

MODEL = "smollm2-135m"
ROWS = RESULTS / "guidance_cost.jsonl"


def measure(
    task: str, method: str, cache: Path, out: Path, threads: int, run: str
) -> dict[str, Any]:
    """One task type and method: every command timed, side by side."""
    from advisor.models.placement import cpu_description

    base = ["--model", MODEL, "--method", method, "--task", task]
    one = ["assess", *base, "--ratio", "0.25", "--json"]
    tag = f"{task}-{method}"
    run_cli([*one, "--out", str(out / f"{tag}-warmup")], cache, threads)
    full = run_cli([*one, "--out", str(out / f"{tag}-full")], cache, threads)
    quick = ["--no-decode", "--no-hierarchy", "--out", str(out / f"{tag}-a")]
    verdict = run_cli([*one, *quick], cache, threads)
    plan_cmd = ["plan", *base, "--json"]
    cold = run_cli([*plan_cmd, "--out", str(out / f"{tag}-plan")], cache, threads)
    warm = run_cli([*plan_cmd, "--out", str(out / f"{tag}-plan-again")], cache, threads)
    plan = json.loads((out / f"{tag}-plan" / "plan.json").read_text())
    row = plan["map"]["tasks"][task]
    units = row.get("units", [])
    seconds = plan["seconds"]
    return {
        "run": run,
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_description(),
        "threads": threads,
        "model": MODEL,
        "task": task,
        "method": method,
        "assess_s": round(full["wall_s"], 1),
        "assess_verdict_only_s": round(verdict["wall_s"], 1),
        "plan_s": round(cold["wall_s"], 1),
        "plan_seconds": seconds,
        # the rest of the plan's process: start-up, loading, suites, competence, report
        "plan_other_s": round(cold["wall_s"] - seconds["map"] - seconds["verify"], 1),
        "map_vs_assess": round(seconds["map"] / full["wall_s"], 2),
        "plan_vs_assess": round(cold["wall_s"] / full["wall_s"], 2),
        "map_vs_verdict_only": round(seconds["map"] / verdict["wall_s"], 2),
        "plan_vs_verdict_only": round(cold["wall_s"] / verdict["wall_s"], 2),
        "plan_rerun_s": round(warm["wall_s"], 1),
        "units": plan["map"]["layers"],
        "items_per_unit": round(sum(u["items"] for u in units) / max(len(units), 1), 1),
        "items_of": row.get("items"),
        "screened": sum(bool(u.get("screened")) for u in units),
        "go_alone": len(plan["candidates"]),
        "sets_verified": len(plan["checked"]),
        "plan_units": plan["units"],
        # the checks' decoder calls that replayed shared layers, and the layer runs skipped
        "replay": plan.get("replay"),
        "peak_rss_mib": {"assess": full["peak_rss_mib"], "plan": cold["peak_rss_mib"]},
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``rows``."""
    lines = [
        "| task | method | assess s | map s | × assess | plan s | × assess | verify s "
        "| other s | items/unit | screened | go alone | plan |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        s = r["plan_seconds"]
        lines.append(
            f"| {r['task']} | {r['method']} | {r['assess_s']} | {s['map']} "
            f"| **{r['map_vs_assess']}** | {r['plan_s']} | **{r['plan_vs_assess']}** "
            f"| {s['verify']} | {r['plan_other_s']} | {r['items_per_unit']}/{r['items_of']} "
            f"| {r['screened']} | {r['go_alone']} | {r['plan_units']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", default=[])
    parser.add_argument("--method", action="append", default=[])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    args = parser.parse_args()
    if args.table:  # the latest run's rows (each run's rows share its start time)
        rows = read_rows(ROWS)
        latest = max((r.get("run", "") for r in rows), default="")
        print(table([r for r in rows if r.get("run", "") == latest]))
        return
    from advisor.cache import scratch_cache

    cache = scratch_cache("bench-guidance-")
    out = Path(tempfile.mkdtemp(prefix="bench-guidance-out-"))
    run = time.strftime("%Y-%m-%dT%H:%M")
    for method in args.method or ["attn-drop"]:
        for task in args.task or ["math"]:
            row = measure(task, method, cache, out, args.threads, run)
            append_row(ROWS, row)
            print(table([row]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
