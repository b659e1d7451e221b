"""Is bf16 a free speed-up for `assess`? Same config, same items, fp32 vs bf16 (on demand).

    .venv/bin/python benchmarks/bf16.py [--task rag] [--method attn-drop --ratio 0.25]

Prints, per dtype, the wall time of the measurement (dense and pruned side, no cache) and
the rule features of the task, then each feature's bf16 - fp32 difference against the
spread of that feature across the fitted cases (``stats.sd`` in the shipped rules): the
question is whether bf16 rounding moves a feature by a meaningful part of what separates
go from no-go.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from advisor.measure import measure
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.rules.features import features_of
from advisor.rules.rules_file import load_rules
from advisor.suites import build_suite, primary_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rag")
    parser.add_argument("--method", default="attn-drop")
    parser.add_argument("--ratio", type=float, default=0.25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = primary_items(build_suite(args.task, "calibration", 0))
    features = {}
    for dtype in ("float32", "bfloat16"):
        dense = load_model("smollm2-135m", dtype=dtype)
        pruned = prune_model(dense, args.method, ratio=args.ratio)
        start = time.perf_counter()
        result = measure(dense, pruned.loaded, items, cache=False)
        seconds = time.perf_counter() - start
        features[dtype] = features_of(result.aggregates[args.task])
        print(f"{dtype}: {seconds:.1f} s for {len(items)} {args.task} items (dense + pruned)")
    rules = load_rules()[0]
    stats = rules["tasks"][args.task].get("stats", {})
    print(f"{'feature':24s} {'fp32':>10s} {'bf16':>10s} {'diff / case sd':>15s}")
    for name, value in features["float32"].items():
        other = features["bfloat16"].get(name)
        sd = stats.get(name, {}).get("sd")
        ratio = f"{abs(other - value) / sd:.2f}" if sd and other is not None else "—"
        print(f"{name:24s} {value:10.4f} {other:10.4f} {ratio:>15s}")
    print(json.dumps(features))


if __name__ == "__main__":
    main()
