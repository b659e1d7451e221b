"""Prune a local model with llm-compressor's one-shot API, as its users do, for checking
that ``prune-advisor assess --pruned`` reads what it writes (docs/design.md §9b).

llm-compressor cannot be installed beside this project's pinned transformers (every
release that accepts torch 2.13 requires transformers <= 5.17), so run this in its own
environment; it imports nothing from prune-advisor:

    python3 -m venv /tmp/llmc && /tmp/llmc/bin/pip install torch==2.13.0 llmcompressor==0.14.0.1
    /tmp/llmc/bin/python benchmarks/llmcompressor_oneshot.py --model DENSE_FOLDER \\
        --out /tmp/llmc-out --modifier sparsegpt --structure 2:4

It writes ``OUT/<modifier>-<structure>-plain`` (``save_compressed=False``) and
``OUT/<modifier>-<structure>-compressed`` (``save_compressed=True``). Calibration text is
local (``--text FILE``, default: this repository's README), never a hub dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def calibration(text_file: Path, tokenizer, samples: int, length: int):
    """``samples`` chunks of about ``length`` tokens of local text, as a datasets.Dataset."""
    from datasets import Dataset

    ids = tokenizer(text_file.read_text())["input_ids"]
    step = max(1, min(length, len(ids) // samples))
    chunks = [ids[i * step : i * step + length] for i in range(samples)]
    masks = [[1] * len(c) for c in chunks]
    return Dataset.from_dict({"input_ids": chunks, "attention_mask": masks})


def recipe(modifier: str, structure: str, sparsity: float):
    """The llm-compressor modifier for ``modifier`` (sparsegpt, wanda, magnitude)."""
    from llmcompressor.modifiers.pruning import (
        MagnitudePruningModifier,
        SparseGPTModifier,
        WandaPruningModifier,
    )

    targets = ["re:.*layers.*proj$", "re:.*layers.*fc\\d$", "re:.*layers.*dense.*$"]
    if modifier == "magnitude":
        return MagnitudePruningModifier(
            targets=targets, init_sparsity=sparsity, final_sparsity=sparsity,
            start=0, end=1, update_frequency=1, mask_structure=structure,
        )  # fmt: skip
    cls = SparseGPTModifier if modifier == "sparsegpt" else WandaPruningModifier
    return cls(sparsity=sparsity, mask_structure=structure, targets=["Linear"],
               ignore=["re:.*lm_head"])  # fmt: skip


def main() -> None:
    """Run one-shot pruning and save the model twice (plain and compressed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--modifier", choices=("sparsegpt", "wanda", "magnitude"),
                        default="sparsegpt")  # fmt: skip
    parser.add_argument("--structure", default="2:4")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--text", type=Path, default=Path(__file__).parents[1] / "README.md")
    args = parser.parse_args()

    import torch
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    data = calibration(args.text, tokenizer, args.samples, args.length)
    oneshot(
        model=model,
        tokenizer=tokenizer,
        dataset=data,
        recipe=recipe(args.modifier, args.structure, args.sparsity),
        num_calibration_samples=args.samples,
        max_seq_length=args.length,
    )
    name = f"{args.modifier}-{args.structure.replace(':', '')}"
    for compressed in (False, True):
        folder = args.out / f"{name}-{'compressed' if compressed else 'plain'}"
        model.save_pretrained(folder, save_compressed=compressed)
        tokenizer.save_pretrained(folder)
        print(folder)


if __name__ == "__main__":
    main()
