"""Write a sparse model folder in compressed-tensors' legacy bitmask layout with the real
compressed-tensors 0.14 (the last release with sparse compressors), for checking that
``prune-advisor assess --pruned`` unpacks what llm-compressor wrote with
``save_compressed=True`` before compressed-tensors 0.15 (docs/design.md §9b).

compressed-tensors 0.14 does not install beside this project's pins; put it on a path of
its own and run it with llm-compressor's environment (torch, transformers, pydantic,
loguru), e.g.:

    pip install --target /tmp/ct14 --no-deps compressed-tensors==0.14.0
    PYTHONPATH=/tmp/ct14 /tmp/llmc/bin/python benchmarks/legacy_compress.py \\
        --model /tmp/llmc-out/sparsegpt-24-plain --out /tmp/llmc-out/sparsegpt-24-bitmask

It imports nothing from prune-advisor.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    """Compress ``--model``'s weights in ``--format`` and save the folder to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--format", default="sparse-24-bitmask",
                        choices=("sparse-24-bitmask", "sparse-bitmask"))  # fmt: skip
    args = parser.parse_args()

    import compressed_tensors
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.config import SparsityCompressionConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    config = SparsityCompressionConfig.load_from_registry(
        args.format,
        targets=["re:.*layers.*proj$"],
        ignore=["lm_head"],
        sparsity_structure="2:4" if "24" in args.format else "unstructured",
    )
    compressor = ModelCompressor.from_pretrained_model(model, sparsity_config_or_format=config)
    state = compressor.compress(model)
    model.save_pretrained(args.out, state_dict=state, safe_serialization=True)
    compressor.update_config(args.out)
    AutoTokenizer.from_pretrained(args.model).save_pretrained(args.out)
    print(f"compressed-tensors {compressed_tensors.__version__}: {args.out}")


if __name__ == "__main__":
    main()
