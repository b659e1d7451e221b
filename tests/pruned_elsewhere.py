"""Checkpoints as other pruning tools write them, made from a tiny model (tests only).

llm-compressor cannot be installed beside this project's pinned transformers (every
release that accepts torch 2.13 wants transformers <= 5.17), so these helpers do what the
tools do and save the way they save: plain ``save_pretrained`` folders without any
prune-advisor key or manifest.

* :func:`drop_blocks_plain` — ShortGPT / LLM-Drop: blocks removed, the rest untouched.
* :func:`heal` — a short fine-tune after pruning, as small random moves of every weight.
* :func:`shrink` — width pruning (Minitron / LLM-Pruner): the same architecture with a
  smaller MLP, fewer heads or a narrower residual stream, keeping the leading channels.
* :func:`write_bitmask` — compressed-tensors' bitmask on-disk format (written by
  llm-compressor with ``save_compressed=True`` up to compressed-tensors 0.14).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from advisor.pruning.layer_drop import drop_blocks


def save_plain(model: Any, tokenizer: Any, folder: Path) -> Path:
    """``save_pretrained`` of model and tokenizer, nothing else (no prune-advisor key)."""
    model = copy.deepcopy(model)
    if hasattr(model.config, "prune_advisor"):
        del model.config.prune_advisor
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def drop_blocks_plain(model: Any, dropped: list[int]) -> Any:
    """A copy of ``model`` without the blocks ``dropped`` (original indices)."""
    model = copy.deepcopy(model)
    drop_blocks(model, dropped)
    return model


@torch.no_grad()
def heal(model: Any, scale: float = 0.01, seed: int = 0) -> Any:
    """A copy with every weight moved by ``scale`` of its tensor's spread (a fine-tune)."""
    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.add_(scale * p.std() * torch.randn(p.shape, generator=gen))
    return model


@torch.no_grad()
def shrink(model: Any, **config_changes: Any) -> Any:
    """The architecture of ``model`` with ``config_changes`` (e.g. ``intermediate_size``),
    every tensor its dense counterpart's leading slice: the first MLP channels, the first
    heads, the first residual channels."""
    config = copy.deepcopy(model.config)
    for key, value in config_changes.items():
        setattr(config, key, value)
    small = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    dense = model.state_dict()
    for name, tensor in small.state_dict().items():
        tensor.copy_(dense[name][tuple(slice(0, n) for n in tensor.shape)])
    return small


def _pack(mask: torch.Tensor) -> torch.Tensor:
    """``[rows, cols]`` bool → ``[rows, ceil(cols / 8)]`` uint8, little-endian bits."""
    rows, cols = mask.shape
    padded = torch.zeros(rows, (cols + 7) // 8 * 8, dtype=torch.uint8)
    padded[:, :cols] = mask.to(torch.uint8)
    weights = (2 ** torch.arange(8)).to(torch.uint8)
    return (padded.reshape(rows, -1, 8) * weights).sum(-1).to(torch.uint8)


def write_bitmask(folder: Path, out: Path, fmt: str = "sparse-24-bitmask") -> Path:
    """Rewrite ``folder`` with its block linears in compressed-tensors' bitmask format, as
    compressed-tensors 0.14 writes it (checked against it: benchmarks/legacy_compress.py):
    ``M.compressed`` (the non-zero values, row by row), ``M.bitmask``, ``M.shape`` keyed by
    the module path ``M``, and config.json's ``quantization_config`` naming the format."""
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    state = load_file(folder / "model.safetensors")
    packed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if value.dim() == 2 and ".layers." in key and key.endswith("proj.weight"):
            module = key[: -len(".weight")]  # compressed-tensors keys by module path
            mask = value != 0
            kept = value[mask]
            counts = mask.sum(1)
            if "24" in fmt and bool((counts == counts[0]).all()):  # stored [rows, cols / 2]
                kept = kept.reshape(value.shape[0], -1)
            packed[f"{module}.compressed"] = kept.contiguous()
            packed[f"{module}.bitmask"] = _pack(mask)
            packed[f"{module}.shape"] = torch.tensor([[n] for n in value.shape])
        else:
            packed[key] = value.contiguous()
    save_file(packed, out / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "compressed-tensors",
        "format": fmt,
        "sparsity_config": {
            "format": fmt,
            "sparsity_structure": "2:4" if "24" in fmt else "unstructured",
            "targets": ["Linear"],
            "ignore": ["lm_head"],
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for item in folder.iterdir():
        if item.name != "model.safetensors" and item.name != "config.json":
            (out / item.name).write_bytes(item.read_bytes())
    return out
