"""What the sensitivity map and `plan` cost against one `assess` of the same task type.

    .venv/bin/python benchmarks/guidance_cost.py [--task math] [--method attn-drop]

Run on demand (not a unit test). SmolLM2-135M, one task type, one structural method, on a
scratch cache (models linked from the user cache, every measurement cache empty), side by
side in one run: first an unmeasured `assess --ratio 0.25` fills the dense side (the
answers, the evidence's dense side, the competence gate: every command reads them); then,
timed as child processes: `assess --ratio 0.25` as is, and with `--no-decode
--no-hierarchy` (only what a verdict needs; the ratios are against this, the smaller);
`plan` on the cold map cache (its JSON splits the time between the map and the verifying
assessments); and `plan` again (every unit and set cached: the rerun's cost).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import run_cli

MODEL = "smollm2-135m"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="math")
    parser.add_argument("--method", default="attn-drop")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from advisor.cache import scratch_cache
    from advisor.models.placement import cpu_description

    cache = scratch_cache("bench-guidance-")
    out = Path(tempfile.mkdtemp(prefix="bench-guidance-out-"))
    base = ["--model", MODEL, "--method", args.method, "--task", args.task]
    one = ["assess", *base, "--ratio", "0.25", "--json"]
    run_cli([*one, "--out", str(out / "warmup")], cache, args.threads)
    full = run_cli([*one, "--out", str(out / "full")], cache, args.threads)
    quick = ["--no-decode", "--no-hierarchy", "--out", str(out / "a")]
    assess = run_cli([*one, *quick], cache, args.threads)
    plan_cmd = ["plan", *base, "--json"]
    cold = run_cli([*plan_cmd, "--out", str(out / "plan")], cache, args.threads)
    warm = run_cli([*plan_cmd, "--out", str(out / "plan-again")], cache, args.threads)
    plan = json.loads((out / "plan" / "plan.json").read_text())
    row = plan["map"]["tasks"][args.task]
    read = [u["items"] for u in row.get("units", [])]
    figures = {
        "cpu": cpu_description(),
        "task": args.task,
        "method": args.method,
        "assess_s": round(assess["wall_s"], 1),
        "assess_with_report_extras_s": round(full["wall_s"], 1),
        "plan_s": round(cold["wall_s"], 1),
        "plan_seconds": plan["seconds"],
        "map_vs_assess": round(plan["seconds"]["map"] / assess["wall_s"], 2),
        "plan_vs_assess": round(cold["wall_s"] / assess["wall_s"], 2),
        "plan_rerun_s": round(warm["wall_s"], 1),
        "units": plan["map"]["layers"],
        "items_per_unit": {"mean": sum(read) / max(len(read), 1), "of": row.get("items")},
        "go_alone": len(plan["candidates"]),
        "sets_verified": len(plan["checked"]),
        "plan_units": plan["units"],
        "verified": plan["verified"] and plan["verified"]["verdicts"],
        "peak_rss_mib": {"assess": assess["peak_rss_mib"], "plan": cold["peak_rss_mib"]},
    }
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
