"""Checkpoints of SmolLM2-135M pruned the way other tools prune, for the acceptance runs of
"Assessing a checkpoint pruned elsewhere" (README). Each is a plain Hugging Face folder
written with ``save_pretrained`` — no ``prune_advisor`` key, no prune_manifest.json — so
prune-advisor must read what was pruned from the weights (docs/design.md §9b).

    .venv/bin/python benchmarks/make_checkpoints.py --out /tmp/smollm2-pruned

writes

* ``depth/``: ShortGPT — the 4 decoder layers of least Block Influence removed (26 of 30).
* ``depth-healed/``: the same, every kept weight then nudged by 0.5% of its tensor's
  spread, standing in for a short fine-tune after pruning (nearest-match detection).
* ``width/``: every MLP cut from 1536 to 1152 channels, keeping the channels of largest
  activation-based importance (Minitron-width, without its distillation), config's
  ``intermediate_size`` updated.
* ``sparse-24/``: Wanda 2:4 one-shot on the calibration text, saved uncompressed as
  llm-compressor does for a sparse-only model.
* ``sparse-24-bitmask/``: the same weights in compressed-tensors' ``sparse-24-bitmask``
  on-disk format (what llm-compressor wrote with ``save_compressed=True`` before
  compressed-tensors 0.15): ``X.compressed`` values, ``X.bitmask`` little-endian packed
  bits per row, ``X.shape``; config.json's ``quantization_config.sparsity_config``.

Never commit the folders (weights); they are rebuilt in a minute or two.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

from advisor.models import load_model
from advisor.models.anatomy import decoder_layers
from advisor.pruning import prune_model
from advisor.pruning.calibration import token_batches
from advisor.pruning.layer_drop import drop_blocks

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/
from tests.pruned_elsewhere import write_bitmask  # the on-disk format the tests use


def _save(model, tokenizer, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def depth(dense, out: Path, layers: int = 4) -> list[int]:
    """ShortGPT: drop the ``layers`` blocks of least Block Influence; returns them."""
    pruned = prune_model(dense, "block-drop", layers=layers)
    dropped = pruned.manifest["dropped_layers"]
    model = copy.deepcopy(dense.model)
    drop_blocks(model, dropped)
    _save(model, dense.tokenizer, out / "depth")
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.add_(0.005 * p.float().std() * torch.randn(p.shape, generator=gen).to(p.dtype))
    _save(model, dense.tokenizer, out / "depth-healed")
    return dropped


def _channel_activity(dense) -> list[torch.Tensor]:
    """Mean |input of down_proj| per MLP channel and block on the calibration text."""
    activity = [torch.zeros(b.mlp.down_proj.in_features) for b in decoder_layers(dense.model)]
    hooks = [
        block.mlp.down_proj.register_forward_pre_hook(
            lambda _m, args, i=i: activity[i].add_(
                args[0].reshape(-1, args[0].shape[-1]).abs().mean(0).float()
            )
        )
        for i, block in enumerate(decoder_layers(dense.model))
    ]
    try:
        with torch.inference_mode():
            for ids in token_batches(dense.tokenizer, 8, 128, 0, split="calibration").batches():
                dense.model(ids)
    finally:
        for hook in hooks:
            hook.remove()
    return activity


def width(dense, out: Path, keep: int = 1152) -> None:
    """Minitron-width: cut every MLP to the ``keep`` channels of largest activation-based
    importance (mean |channel activation| on calibration text x ‖down_proj column‖), config
    updated. (A weight-norm importance broke the model outright at this width: 12.1 nats
    per token against the dense 2.3 and ln V = 10.8; this one: 4.6.)"""
    activity = _channel_activity(dense)
    model = copy.deepcopy(dense.model)
    with torch.no_grad():
        for block, act in zip(decoder_layers(model), activity, strict=True):
            mlp = block.mlp
            score = act * mlp.down_proj.weight.float().norm(dim=0)
            idx = torch.sort(torch.topk(score, keep).indices).values
            for name in ("gate_proj", "up_proj"):
                old = getattr(mlp, name)
                new = torch.nn.Linear(old.in_features, keep, bias=False, dtype=old.weight.dtype)
                new.weight.copy_(old.weight[idx])
                setattr(mlp, name, new)
            old = mlp.down_proj
            new = torch.nn.Linear(keep, old.out_features, bias=False, dtype=old.weight.dtype)
            new.weight.copy_(old.weight[:, idx])
            mlp.down_proj = new
    model.config.intermediate_size = keep
    _save(model, dense.tokenizer, out / "width")


def sparse(dense, out: Path) -> None:
    """Wanda 2:4 one-shot, saved uncompressed and in the bitmask format."""
    pruned = prune_model(dense, "wanda", sparsity=0.5, pattern="2:4")
    model = pruned.model
    if hasattr(model.config, "prune_advisor"):
        del model.config.prune_advisor  # as llm-compressor writes it: no such key
    folder = _save(model, dense.tokenizer, out / "sparse-24")
    write_bitmask(folder, out / "sparse-24-bitmask")


def main() -> None:
    """Write every checkpoint under --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/smollm2-pruned"))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--only", nargs="*", default=["depth", "width", "sparse"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    dense = load_model(args.model)
    if "depth" in args.only:
        print("depth: dropped", depth(dense, args.out))
    if "width" in args.only:
        width(dense, args.out)
        print("width: MLP 1536 -> 1152")
    if "sparse" in args.only:
        sparse(dense, args.out)
        print("sparse: wanda 2:4")


if __name__ == "__main__":
    main()
