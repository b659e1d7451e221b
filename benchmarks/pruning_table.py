"""Every pruning method at two amounts on SmolLM2-135M (run on demand; ~5 min on 2 CPUs).

    .venv/bin/python benchmarks/pruning_table.py [--model smollm2-135m] [--tokens 16] [--threads 1]

Prints a markdown table: parameter count, achieved sparsity, per-token latency of greedy
decoding with a KV cache (batch 1, ms/token and ratio to dense), and the mean next-token
KL(dense || pruned) on held-out Wikipedia text (articles never used for calibration).
Default calibration (16 x 128 tokens, seed 0). Latencies are wall-clock on a shared
machine: the best of three runs, dense and pruned timed alternately; the ratio compares
each pruned model with the dense timings taken beside it.
"""

from __future__ import annotations

import argparse
import time

import torch

from advisor.measure.speed import ms_per_token, paired_latency
from advisor.models import load_model
from advisor.pruning import prune_model
from advisor.pruning.calibration import token_batches

GRID = [
    ("block-drop", {"layers": 2}),
    ("block-drop", {"layers": 6}),
    ("attn-drop", {"layers": 2}),
    ("attn-drop", {"layers": 6}),
    ("mlp-drop", {"layers": 2}),
    ("mlp-drop", {"layers": 6}),
    ("magnitude", {"sparsity": 0.2}),
    ("magnitude", {"sparsity": 0.5}),
    ("wanda", {"sparsity": 0.2}),
    ("wanda", {"sparsity": 0.5}),
    ("sparsegpt", {"sparsity": 0.2}),
    ("sparsegpt", {"sparsity": 0.5}),
]


@torch.inference_mode()
def log_probs(model, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.log_softmax(model(ids).logits.float(), -1) for ids in batches]


def mean_kl(dense: list[torch.Tensor], pruned: list[torch.Tensor]) -> tuple[float, float]:
    """Mean over positions of KL(dense || pruned), and top-1 agreement."""
    kls, agree = [], []
    for d, p in zip(dense, pruned, strict=True):
        kls.append((d.exp() * (d - p)).sum(-1).flatten())
        agree.append((d.argmax(-1) == p.argmax(-1)).flatten())
    return float(torch.cat(kls).mean()), float(torch.cat(agree).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=16, help="decoded tokens per timing")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads. 1 by default: batch-1 decoding is too small to split, and "
        "on a shared machine waiting for a descheduled second thread dominates the timing.",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    torch.manual_seed(0)
    dense = load_model(args.model)
    heldout = token_batches(dense.tokenizer, 8, 128, seed=0, split="heldout")
    batches = list(heldout.batches(4))
    prompt = heldout.input_ids[:1, :16]
    dense_lp = log_probs(dense.model, batches)
    dense_ms = min(ms_per_token(dense.model, prompt, args.tokens) for _ in range(3))
    print(
        f"Model {dense.name}, {dense.parameters:,} parameters; held-out text: "
        f"{heldout.tokens:,} tokens ({heldout.source}); latency: greedy decoding of "
        f"{args.tokens} tokens after a 16-token prompt, batch 1, fp32, "
        f"{torch.get_num_threads()} CPU threads.\n"
    )
    print(
        "| method | amount | parameters | achieved sparsity | ms/token | vs dense | "
        "KL(dense‖pruned) | top-1 agree | prune time |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| dense | — | {dense.parameters:,} | 0 | {dense_ms:.1f} | 1.00 | 0 | 1.000 | — |")
    for method, amount in GRID:
        t0 = time.perf_counter()
        pruned = prune_model(dense, method, **amount)
        prune_s = time.perf_counter() - t0
        timing = paired_latency(dense.model, pruned.model, prompt, args.tokens)
        paired_dense, ms = timing["dense_ms_per_token"], timing["pruned_ms_per_token"]
        kl, agree = mean_kl(dense_lp, log_probs(pruned.model, batches))
        label = (
            f"{amount['layers']} of {dense.model.config.num_hidden_layers} layers"
            if "layers" in amount
            else f"{amount['sparsity']:.0%}"
        )
        manifest = pruned.manifest
        print(
            f"| {method} | {label} | {manifest['parameters']['after']:,} | "
            f"{manifest['sparsity']['achieved']:.4f} | {ms:.1f} | {ms / paired_dense:.2f} | "
            f"{kl:.3f} | {agree:.3f} | {prune_s:.0f} s |",
            flush=True,
        )
        del pruned
    print(f"\nWall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
