"""Where the peak memory of `assess --task <task>` comes from, phase by phase.

    PRUNE_ADVISOR_THREADS=1 .venv/bin/python benchmarks/memory_profile.py [--task rag]
        [--dtype auto]

Runs the assessment in-process (warm caches assumed: run `prune-advisor assess` once
first) and prints resident and peak RSS after each phase: libraries, the dense model
(its safetensors are memory-mapped, so weights count once they are read), pruning (for
drop methods the copy shares the dense tensors), the evidence (the pruned model's
teacher-forced prefills: KV cache and activations of one batch), the hierarchy, and the
end. The fp32 model file is printed for the 3x target.
"""

from __future__ import annotations

import argparse
import resource
from typing import Any


def _rss(tag: str, rows: list[tuple[str, float, float]]) -> None:
    with open("/proc/self/status") as fh:
        current = next(line for line in fh if line.startswith("VmRSS")).split()[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append((tag, int(current) / 1024, peak))
    print(f"{tag:34s} resident {rows[-1][1]:7.0f} MiB   peak {peak:7.0f} MiB", flush=True)


def _after(module: Any, name: str, tag: str, rows: list) -> None:
    """Print the RSS each time ``module.name`` returns."""
    original = getattr(module, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        _rss(tag, rows)
        return out

    setattr(module, name, wrapped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rag")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="auto", help="as `assess --dtype` (default: auto)")
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    _rss("python", rows)
    import torch
    import transformers  # noqa: F401

    from advisor.cli import set_threads

    set_threads()
    _rss("torch + transformers imported", rows)
    import advisor.measure as measure
    import advisor.measure.evidence as evidence
    from advisor.assess import assess
    from advisor.models import load_model
    from advisor.pruning import prune_model

    _rss("advisor imported", rows)
    dense = load_model(args.model, dtype=args.dtype)
    _rss(f"dense model loaded ({args.dtype})", rows)
    pruned = prune_model(dense, "attn-drop", ratio=0.25)
    _rss("pruned (attn-drop 25%)", rows)
    _after(evidence, "task_evidence", f"evidence: {args.task}", rows)
    _after(measure, "measure", "hierarchy measured", rows)
    assess(dense, pruned, [args.task])
    _rss("assessed", rows)
    size = sum(p.numel() * 4 for p in dense.model.parameters()) / 2**20
    print(f"fp32 parameters: {size:.0f} MiB; 3x = {3 * size:.0f} MiB; torch {torch.__version__}")


if __name__ == "__main__":
    main()
