"""The low-memory order against the default, and both under a memory cap.

    PRUNE_ADVISOR_THREADS=1 .venv/bin/python benchmarks/low_memory.py
        [--model gemma3-270m] [--task rag] [--dtype bfloat16] [--cap-mib N] [--rounds 1]

Run on demand (not a unit test). Two ways of getting the pruned model, each assessed by
the real command, default order and ``--low-memory``, alternating, warm caches (a first
unmeasured run fills them): wanda 20% pruned now (the default order prunes a full copy),
and a Wanda 2:4 checkpoint written by ``prune-advisor prune`` (the default order holds it
beside the dense model). Printed per run: wall time, peak RSS of the child, the verdict
and predicted retention (they must agree). Then both orders again inside a cgroup whose
memory limit is ``--cap-mib`` (default: halfway between the two orders' peaks for the
method: a model that fits once but not twice). The cap needs root and a cgroup v1 memory
controller; where there is none it is reported and skipped.

What a cap shows depends on the dtype. An fp32 safetensors model is memory-mapped: its
pages are file-backed, so under a cap the kernel drops and re-reads them, and the default
order survives caps below its peak RSS. A converted dtype (``--dtype bfloat16``), like
weights on a GPU, is anonymous memory that cannot be dropped: there the default order is
killed and the low-memory order finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import run_cli

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")


def _cap(mib: int) -> Path | None:
    """A cgroup limited to ``mib`` MiB of memory (no swap), or None where none can be made."""
    folder = CGROUP_ROOT / "prune-advisor-bench"
    try:
        folder.mkdir(exist_ok=True)
        (folder / "memory.limit_in_bytes").write_text(str(mib * 2**20))
        swap = folder / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(mib * 2**20))
    except OSError as exc:
        print(f"no memory cap here ({exc}); the capped runs are skipped")
        return None
    return folder


def _verdict(out: bytes, task: str) -> str:
    try:
        found = json.loads(out)["tasks"][task]
    except (ValueError, KeyError):
        return "(no result)"
    pred = found.get("prediction") or {}
    if not pred:
        return found["verdict"]
    low, high = pred["interval"]
    return f"{found['verdict']} {pred['retention']:.3f} [{low:.2f}, {high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--task", default="rag")
    parser.add_argument("--cap-mib", type=int, default=None)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from advisor.cache import cache_root

    cache = cache_root()
    scratch = Path(tempfile.mkdtemp(prefix="bench-lowmem-"))
    checkpoint = scratch / "wanda-2-4"
    run_cli(["prune", "--model", args.model, "--method", "wanda", "--sparsity", "0.5",
             "--pattern", "2:4", "--dtype", args.dtype, "--out", str(checkpoint)],
            cache, args.threads)  # fmt: skip
    ways = {
        "wanda 20% pruned now": ["--method", "wanda", "--sparsity", "0.2"],
        "wanda 2:4 checkpoint": ["--pruned", str(checkpoint)],
    }
    common = ["assess", "--model", args.model, "--task", args.task, "--dtype", args.dtype]
    common.append("--json")
    peaks: dict[tuple[str, str], float] = {}
    warm = [*common, *ways["wanda 20% pruned now"], "--out", str(scratch / "warm")]
    run_cli(warm, cache, args.threads)  # fills the dense side's caches
    for name, how in ways.items():
        for r in range(args.rounds):
            for order, flag in (("default", []), ("low-memory", ["--low-memory"])):
                out = str(scratch / f"{order}-{r}")
                got = run_cli([*common, *how, *flag, "--out", out], cache, args.threads)
                peaks[name, order] = max(peaks.get((name, order), 0.0), got["peak_rss_mib"])
                print(
                    f"{name:22s} {order:10s} wall {got['wall_s']:6.1f} s   peak RSS "
                    f"{got['peak_rss_mib']:6.0f} MiB   {_verdict(got['out'], args.task)}",
                    flush=True,
                )
    name = "wanda 20% pruned now"
    cap = args.cap_mib or int((peaks[name, "default"] + peaks[name, "low-memory"]) / 2)
    cgroup = _cap(cap)
    if cgroup is None:
        return
    how = ways[name]
    for order, flag in (("default", []), ("low-memory", ["--low-memory"])):
        out = str(scratch / f"capped-{order}")
        got = run_cli([*common, *how, *flag, "--out", out], cache, args.threads, cgroup, False)
        ended = "killed (out of memory)" if got["code"] in (-9, 137) else f"exit {got['code']}"
        print(
            f"capped at {cap} MiB: {order:10s} {ended:24s} wall {got['wall_s']:6.1f} s"
            f"   peak RSS {got['peak_rss_mib']:6.0f} MiB   {_verdict(got['out'], args.task)}",
            flush=True,
        )
    cgroup.rmdir()


if __name__ == "__main__":
    main()
