"""How fast is `assess`, where does the time go, and how close is it to the machine's peak?

    .venv/bin/python benchmarks/bench_assess.py [--task rag] [--method attn-drop --ratio 0.25]
        [--sections cli,phases,cost,sweep] [--sweep-amounts 1,2,3,4,5,6,7,8]

Run on demand (not a unit test); prints figures for SmolLM2-135M on this machine:

* **cli** — wall time and peak resident memory of the real command
  (`prune-advisor assess … --json`) for one task type and for ``--task all``, each cold
  (empty dense and score caches: :func:`advisor.cache.scratch_cache`) and then warm (same
  scratch cache, second run).
* **phases** — the same assessment in-process (warm caches, ``--task all``): load, prune,
  dense pass, pruned pass, generation (time inside greedy decoding, both models; it is part
  of the passes), rules, report; tokens per second through the decoder; and the achieved
  FLOP/s of the forward passes against this machine's fp32 matmul peak, measured in the
  same run with a 2048³ ``torch.matmul`` on the same number of threads.
* **cost** — warm `assess --task all`, warm `assess --task <task>` and warm
  `evaluate --task all --adaptive 0` (the full evaluation split), side by side in one run;
  where ``--dtype auto`` resolves to bf16, also `assess --task all --dtype float32` and
  the evaluation in bf16, so that each ratio has a like-for-like twin.
* **sweep** — ``prune-advisor sweep`` over ``--sweep-amounts`` of the method, warm caches,
  against the warm ``assess --task all`` time of the cli section.

FLOPs are counted, not estimated from wall time: 2 × (weights of every linear layer the
model still has) per token fed (padding included: it is computed), plus the attention
products (4 × query × key positions × heads × head dim per attention layer), plus
2 × d × V per row sent through the output head.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from advisor.cache import scratch_cache
from advisor.models.placement import resolve_dtype


def matmul_peak_gflops(threads: int, size: int = 2048, rounds: int = 5) -> float:
    """Best-of-``rounds`` fp32 GFLOP/s of one ``size``³ matmul on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def run_cli(
    args: list[str], cache: Path, threads: int, cgroup: Path | None = None, check: bool = True
) -> dict[str, Any]:
    """Run the CLI; wall seconds, peak RSS (MiB) of the child, exit code. ``cgroup``: a
    cgroup folder the child joins before it starts (a memory cap); ``check``: exit on an
    exit code other than 0 or 1 (else it is returned)."""
    join = None
    if cgroup is not None:

        def join() -> None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    env = {**os.environ, "PRUNE_ADVISOR_CACHE": str(cache), "PRUNE_ADVISOR_THREADS": str(threads)}
    cmd = [sys.executable, "-c", "from advisor.cli import entry; entry()", *args]
    # Output goes to files, not pipes: a pipe nobody reads blocks the child once full.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        # A neutral working directory: `python -c` puts it first on sys.path, which would
        # shadow PYTHONPATH (how a checkout other than the installed one is benchmarked).
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            cwd=tempfile.gettempdir(),
            preexec_fn=join,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if check and code not in (0, 1):
        sys.exit(f"command failed ({code}): {' '.join(args)}\n{errors.decode()}")
    peak = usage.ru_maxrss / 1024
    return {"wall_s": wall, "peak_rss_mib": peak, "code": code, "out": output, "err": errors}


class Counter:
    """Wraps the forward entry points to count time, tokens and FLOPs."""

    def __init__(self) -> None:
        self.decoder_s = self.head_s = self.decode_s = 0.0
        self.tokens = 0
        self.flops = 0.0

    @contextmanager
    def installed(self):
        from advisor import forward
        from advisor.forward import batching
        from advisor.models import anatomy

        # `decode` is the fused prefill + decoding pass; older trees only had greedy_generate.
        decode_name = "decode" if hasattr(forward, "decode") else "greedy_generate"
        originals = (batching.decoder_call, anatomy.head_logits, getattr(forward, decode_name))

        def decoder_call(model, ids, mask, positions, **kw):
            start = time.perf_counter()
            out = originals[0](model, ids, mask, positions, **kw)
            self.decoder_s += time.perf_counter() - start
            self.tokens += ids.numel()
            self.flops += decoder_flops(model, ids.shape[0], ids.shape[1], mask.shape[1])
            return out

        def head_logits(model, hidden):
            start = time.perf_counter()
            out = originals[1](model, hidden)
            self.head_s += time.perf_counter() - start
            self.flops += 2 * out.numel() * hidden.shape[-1]
            return out

        def decode(*args, **kw):
            start = time.perf_counter()
            out = originals[2](*args, **kw)
            self.decode_s += time.perf_counter() - start
            return out

        batching.decoder_call, anatomy.head_logits = decoder_call, head_logits
        setattr(forward, decode_name, decode)
        try:
            yield self
        finally:
            batching.decoder_call, anatomy.head_logits = originals[:2]
            setattr(forward, decode_name, originals[2])


_LINEAR_CACHE: dict[int, tuple[int, int, int]] = {}


def decoder_flops(model: Any, batch: int, queries: int, keys: int) -> float:
    """Matmul FLOPs of one decoder call (see module docstring)."""
    import torch

    from advisor.models.anatomy import decoder_layers

    if id(model) not in _LINEAR_CACHE:
        linear = attention_layers = 0
        width = 0
        for layer in decoder_layers(model):
            for module in layer.modules():
                if isinstance(module, torch.nn.Linear):
                    linear += module.weight.numel()
            attn = getattr(layer, "self_attn", None)
            if attn is not None and any(isinstance(m, torch.nn.Linear) for m in attn.modules()):
                attention_layers += 1
                cfg = model.config
                width = cfg.num_attention_heads * getattr(
                    cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads
                )
        _LINEAR_CACHE[id(model)] = (linear, attention_layers, width)
    linear, attention_layers, width = _LINEAR_CACHE[id(model)]
    tokens = batch * queries
    return 2.0 * linear * tokens + 4.0 * attention_layers * tokens * keys * width


def section_cli(args: argparse.Namespace) -> dict[str, Any]:
    config = ["--method", args.method, f"--{args.amount_option}", args.amount]
    figures = {}
    for label, tasks in (("one task", ["--task", args.task]), ("all tasks", ["--task", "all"])):
        cache = scratch_cache("bench-cache-")
        out = Path(tempfile.mkdtemp(prefix="bench-out-"))
        try:
            for state in ("cold", "warm"):
                run = run_cli(
                    ["assess", *config, *tasks, "--out", str(out), "--json"], cache, args.threads
                )
                result = json.loads(run["out"])
                figures[f"{label}, {state}"] = {
                    "wall_s": round(run["wall_s"], 1),
                    "peak_rss_mib": round(run["peak_rss_mib"]),
                    "timings": result["manifest"]["timings"],
                }
                print(
                    f"  assess {label:9s} {state}: {run['wall_s']:6.1f} s, "
                    f"peak RSS {run['peak_rss_mib']:5.0f} MiB, "
                    f"phases {result['manifest']['timings']}"
                )
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    return figures


def section_phases(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from advisor.assess import assess
    from advisor.cli.app import resolve_tasks
    from advisor.measure import compare as measure_module
    from advisor.models import load_model
    from advisor.pruning import prune_model
    from advisor.report import write_report

    torch.set_num_threads(args.threads)
    phases: dict[str, float] = {}
    start = time.perf_counter()
    dense = load_model("smollm2-135m")
    phases["load"] = time.perf_counter() - start
    start = time.perf_counter()
    amount = {args.amount_option: float(args.amount) if "." in args.amount else int(args.amount)}
    pruned = prune_model(dense, args.method, **amount)
    phases["prune"] = time.perf_counter() - start
    tasks = resolve_tasks(["all"])

    # Warm the caches once, untimed, so the phases below are the warm path.
    assess(dense, pruned, tasks)

    passes = {"dense": 0.0, "pruned": 0.0}
    original_side = measure_module.record_model

    def timed_side(model, *a, **kw):
        begin = time.perf_counter()
        side = original_side(model, *a, **kw)
        passes["dense" if model is dense.model else "pruned"] += time.perf_counter() - begin
        return side

    counter = Counter()
    measure_module.record_model = timed_side
    try:
        with counter.installed():
            start = time.perf_counter()
            result = assess(dense, pruned, tasks)
            assess_s = time.perf_counter() - start
    finally:
        measure_module.record_model = original_side
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    start = time.perf_counter()
    write_report(result, out)
    phases["report"] = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    timings = result["manifest"]["timings"]
    phases.update(
        {
            "suites + dense competence (cached)": timings["competence_s"],
            "evidence (prefill passes: every verdict)": timings["evidence_s"],
            "hierarchy: dense pass (cached)": passes["dense"],
            "hierarchy: pruned pass": passes["pruned"],
            "  of which prefill + free decoding": counter.decode_s,
            "hierarchy: compare": timings["measure_s"] - passes["dense"] - passes["pruned"],
            "decoding latency (paired, batch 1)": timings["speed_s"],
        }
    )
    peak = matmul_peak_gflops(args.threads)
    forward_s = counter.decoder_s + counter.head_s
    achieved = counter.flops / forward_s / 1e9
    params = sum(p.numel() for p in dense.model.parameters())
    figures = {
        "phases_s": {k: round(v, 2) for k, v in phases.items()},
        "assess_in_process_s": round(assess_s, 1),
        "tokens_through_decoder": counter.tokens,
        "tokens_per_s": round(counter.tokens / counter.decoder_s),
        "forward_gflop": round(counter.flops / 1e9, 1),
        "forward_s": round(forward_s, 1),
        "forward_gflops": round(achieved, 1),
        "matmul_peak_gflops": round(peak, 1),
        "forward_over_peak": round(achieved / peak, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "fp32_model_mib": round(params * 4 / 2**20),
    }
    for name, seconds in phases.items():
        print(f"  {name:42s} {seconds:7.2f} s")
    for key in list(figures)[1:]:
        print(f"  {key:42s} {figures[key]}")
    return figures


def section_sweep(args: argparse.Namespace, assess_all_warm: float | None) -> dict[str, Any]:
    cache = scratch_cache("bench-cache-")
    out = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    assess = ["assess", "--method", args.method, f"--{args.amount_option}", args.amount]
    try:
        # The first run fills the dense caches; without a cli section, a second one gives
        # the warm `assess --task all` time the sweep is compared with.
        run_cli([*assess, "--task", "all", "--out", str(out / "cold")], cache, args.threads)
        if assess_all_warm is None:
            warm = run_cli(
                [*assess, "--task", "all", "--out", str(out / "warm")], cache, args.threads
            )
            assess_all_warm = warm["wall_s"]
            print(
                f"  assess all tasks warm: {assess_all_warm:.1f} s, "
                f"peak RSS {warm['peak_rss_mib']:.0f} MiB"
            )
        sweep = ["sweep", "--method", args.method, "--amounts", args.sweep_amounts, "--task", "all"]
        run = run_cli([*sweep, "--out", str(out / "sweep")], cache, args.threads)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    figures = {
        "sweep_s": round(run["wall_s"], 1),
        "amounts": args.sweep_amounts,
        "peak_rss_mib": round(run["peak_rss_mib"]),
        "assess_all_warm_s": round(assess_all_warm, 1),
        "ratio_to_assess_all_warm": round(run["wall_s"] / assess_all_warm, 2),
    }
    print(f"  sweep {args.sweep_amounts}: {run['wall_s']:.1f} s {figures}")
    return figures


def section_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Side by side in one run, same configuration and cache: warm `assess --task all`,
    warm `assess --task <task>`, and warm `evaluate --task all` on the full evaluation
    split (sequential evaluation off), each after a first run that fills the caches."""
    cache = scratch_cache("bench-cache-")
    out = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    config = ["--method", args.method, f"--{args.amount_option}", args.amount]
    runs = {
        "assess all": ["assess", *config, "--task", "all", "--out", str(out / "a")],
        f"assess {args.task}": ["assess", *config, "--task", args.task, "--out", str(out / "b")],
        "evaluate all, full split": ["evaluate", *config, "--task", "all", "--adaptive", "0"],
    }
    # assess reads its evidence in the precision --dtype auto resolves to (bf16 on a CPU
    # that runs it natively); evaluate's default stays fp32, the ground truth's precision.
    # Both are also timed in the other's precision, so each ratio has a like-for-like twin.
    auto = resolve_dtype("auto")
    print(f"  --dtype auto resolves to {auto} on this machine")
    figures: dict[str, Any] = {"auto_dtype": auto}
    if auto != "float32":
        runs["assess all, float32"] = [*runs["assess all"], "--dtype", "float32"]
        runs[f"evaluate all, full split, {auto}"] = [
            *runs["evaluate all, full split"],
            "--dtype",
            auto,
        ]
    try:
        for name, cmd in runs.items():
            run_cli(cmd, cache, args.threads)  # fills the dense caches
            warm = run_cli(cmd, cache, args.threads)
            figures[name] = {"wall_s": round(warm["wall_s"], 1)}
            figures[name]["peak_rss_mib"] = round(warm["peak_rss_mib"])
            print(f"  {name:28s} warm {warm['wall_s']:7.1f} s", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    ratio = figures["assess all"]["wall_s"] / figures["evaluate all, full split"]["wall_s"]
    figures["assess_all_over_evaluate_all"] = round(ratio, 3)
    print(f"  warm assess all / warm evaluate all (full split): {ratio:.1%}")
    if auto != "float32":
        twin = figures[f"evaluate all, full split, {auto}"]["wall_s"]
        same = figures["assess all"]["wall_s"] / twin
        figures["assess_all_over_evaluate_all_same_precision"] = round(same, 3)
        print(f"  both in {auto}: {same:.1%}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rag", help="the single task type of the one-task runs")
    parser.add_argument("--method", default="attn-drop")
    parser.add_argument("--amount-option", default="ratio", choices=["ratio", "layers", "sparsity"])
    parser.add_argument("--amount", default="0.25")
    parser.add_argument("--sections", default="cli,phases,cost,sweep")
    parser.add_argument("--sweep-amounts", default="1,2,3,4,5,6,7,8")
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("PRUNE_ADVISOR_THREADS", "1"))
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    sections = args.sections.split(",")
    figures: dict[str, Any] = {"threads": args.threads, "config": f"{args.method} {args.amount}"}
    print(
        f"SmolLM2-135M, {args.method} --{args.amount_option} {args.amount}, "
        f"{args.threads} thread(s)"
    )
    if "cli" in sections:
        print("cli (real command, wall time):")
        figures["cli"] = section_cli(args)
    if "phases" in sections:
        print("phases (in-process, warm caches, --task all):")
        figures["phases"] = section_phases(args)
    if "cost" in sections:
        print("cost (warm, side by side): assess vs the ground truth it stands in for")
        figures["cost"] = section_cost(args)
    if "sweep" in sections:
        print("sweep (warm caches, --task all):")
        warm = figures.get("cli", {}).get("all tasks, warm", {}).get("wall_s")
        figures["sweep"] = section_sweep(args, warm)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
