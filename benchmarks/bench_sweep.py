"""What a sweep costs against one assessment, and whether its frontier is the plain loop's.

    .venv/bin/python benchmarks/bench_sweep.py [--amounts 1,2,3,4,5,6,7,8] [--rounds 2]
        [--plain-decode]

Run on demand (not a unit test). SmolLM2-135M, attn-drop, ``--task all``, the user cache
(warm: the dense side is measured by the first command if it is not cached yet; a first
unmeasured assess run makes sure). Side by side in one run, alternating, best of
``--rounds``: the real command ``prune-advisor assess --ratio 0.25 --task all`` and
``prune-advisor sweep --amounts …`` (wall time and peak RSS of each child process). Then the
plain per-amount loop, ``prune-advisor assess --layers n --task all`` for every amount
(``--no-decode`` unless ``--plain-decode``: no verdict reads the decoded items), and the
two frontiers (largest go amount per task type) side by side, and whether every verdict the
sweep gave (the frontier search skips amounts below a task type's go) is the plain loop's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import run_cli

from advisor.sweep.frontier import SKIPPED, STOPPED

MODEL = "smollm2-135m"
NOT_ASSESSED = (SKIPPED, STOPPED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amounts", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plain-decode", action="store_true")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--no-warmup", action="store_true", help="the cache is warm already")
    args = parser.parse_args()
    from advisor.cache import cache_root

    cache = cache_root()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    base = ["--model", MODEL, "--method", "attn-drop"]
    one = ["assess", *base, "--ratio", "0.25", "--task", "all", "--json"]
    if not args.no_warmup:
        run_cli([*one, "--out", str(scratch / "warmup")], cache, args.threads)  # fills caches
    times: dict[str, list[float]] = {"assess": [], "sweep": []}
    rss: dict[str, float] = {}
    summary = None
    for r in range(args.rounds):
        got = run_cli([*one, "--out", str(scratch / f"assess-{r}")], cache, args.threads)
        times["assess"].append(got["wall_s"])
        rss["assess"] = max(rss.get("assess", 0.0), got["peak_rss_mib"])
        folder = scratch / f"sweep-{r}"
        cmd = ["sweep", *base, "--amounts", args.amounts, "--task", "all", "--out", str(folder)]
        got = run_cli([*cmd, "--json"], cache, args.threads)
        times["sweep"].append(got["wall_s"])
        rss["sweep"] = max(rss.get("sweep", 0.0), got["peak_rss_mib"])
        summary = json.loads((folder / "sweep.json").read_text())
        print(
            f"round {r + 1}: assess {times['assess'][-1]:.1f} s, sweep {times['sweep'][-1]:.1f} s"
        )
    best = {k: min(v) for k, v in times.items()}
    print(f"\n| variant | wall (best of {args.rounds}) | peak RSS |\n|---|---:|---:|")
    print(f"| `assess --task all` (25%) | {best['assess']:.1f} s | {rss['assess']:.0f} MiB |")
    amounts = args.amounts.split(",")
    print(f"| `sweep` of {len(amounts)} amounts | {best['sweep']:.1f} s | {rss['sweep']:.0f} MiB |")
    print(f"| **ratio** | **{best['sweep'] / best['assess']:.2f}** | |")
    assert summary is not None
    print("\nsearch:", summary["search"], "\nprefix sharing:", summary["prefix_sharing"])
    print("per amount (s):", {s["amount"]: s["seconds"] for s in summary["steps"]})
    if args.skip_plain:
        return
    plain: dict[str, list[str]] = {}
    for n in amounts:
        cmd = ["assess", *base, "--layers", n, "--task", "all", "--json"]
        cmd += [] if args.plain_decode else ["--no-decode"]
        got = run_cli([*cmd, "--out", str(scratch / f"plain-{n}")], cache, args.threads)
        result = json.loads((scratch / f"plain-{n}" / "result.json").read_text())
        for task, record in result["tasks"].items():
            plain.setdefault(task, []).append(record["verdict"])
        print(f"plain assess --layers {n}: {got['wall_s']:.1f} s")
    print("\n| task | sweep: verdicts | plain loop: verdicts | sweep frontier | plain frontier |")
    print("|---|---|---|---:|---:|")
    same = agree = True
    for task, verdicts in plain.items():
        go = [float(a) for a, v in zip(amounts, verdicts, strict=True) if v == "go"]
        frontier = max(go) if go else None
        swept = [s["verdicts"][task] for s in summary["steps"]]
        same &= summary["largest_go"][task] == frontier
        # every verdict the sweep gave (not skipped / stopped) is the plain loop's
        agree &= all(s == p for s, p in zip(swept, verdicts, strict=True) if s not in NOT_ASSESSED)
        print(
            f"| {task} | {' '.join(swept)} | {' '.join(verdicts)} | "
            f"{summary['largest_go'][task]} | {frontier} |"
        )
    given = sum(v not in NOT_ASSESSED for s in summary["steps"] for v in s["verdicts"].values())
    print(
        f"\nfrontiers identical: {same}; the sweep's {given} verdicts equal the plain "
        f"loop's: {agree}"
    )


if __name__ == "__main__":
    main()
