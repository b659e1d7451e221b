"""The same two-configuration sweep with and without Ray, each from a cold cache (on demand).

    PYTHONPATH=. .venv/bin/python benchmarks/ray_sweep.py [--model smollm2-135m] [--task math]

Default model: the 2-layer random Llama of the tests (written to a scratch folder), the
sweep of tests/test_distributed.py (magnitude 0.1 and 0.3; math and multiple-choice).
Each run is the whole command in a fresh process with its own empty measurement cache
(converted models are linked, not rebuilt; each run measures the dense side once, and a Ray
run pays for starting Ray and its workers); the
printed seconds are wall time. Ray gets one CPU per task and as many CPUs as the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from advisor.cli import main; sys.exit(main(sys.argv[1:]))"


def run(args: list[str], cache: Path) -> float:
    """Wall seconds of one ``prune-advisor`` command in a fresh process."""
    env = {**os.environ, "PRUNE_ADVISOR_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Default: a tiny random Llama (as the CI test).")
    parser.add_argument("--task", action="append", help="Default: math and multiple-choice.")
    parser.add_argument("--amounts", default="0.1,0.3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ray-sweep-") as scratch:
        work = Path(scratch)
        model = args.model
        sys.path.insert(0, str(ROOT))
        if model is None:
            from tests.tiny_models import save_tiny_model

            model = str(save_tiny_model(work / "tiny-llama"))
        rules = ROOT / "data" / "rules" / "default.json"
        tasks = args.task or ["math", "multiple-choice"]
        base = ["sweep", "--model", model, "--method", "magnitude", "--amounts", args.amounts,
                "--rules", str(rules), *[a for t in tasks for a in ("--task", t)]]  # fmt: skip
        from advisor.cache import scratch_cache

        seconds = {}
        for name, extra in (("local", []), ("ray", ["--ray"])):
            out = work / name
            cache = scratch_cache()  # empty measurement caches; converted models linked
            try:
                seconds[name] = run([*base, "--out", str(out), *extra], cache)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        same = [
            json.loads((work / "local" / d.name / "result.json").read_text())["tasks"]
            == json.loads((work / "ray" / d.name / "result.json").read_text())["tasks"]
            for d in sorted((work / "local").iterdir())
            if (d / "result.json").is_file()
        ]
    print(f"model: {args.model or 'tiny random Llama (2 layers)'}; amounts {args.amounts}; "
          f"tasks {', '.join(tasks)}; {os.cpu_count()} CPUs")  # fmt: skip
    print(f"without Ray: {seconds['local']:.1f} s")
    print(f"with Ray:    {seconds['ray']:.1f} s (includes starting Ray and its workers)")
    print(f"per-task results identical: {all(same)} ({len(same)} configurations)")


if __name__ == "__main__":
    main()
