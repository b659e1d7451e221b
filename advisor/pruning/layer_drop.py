"""Structural drops: whole decoder blocks (ShortGPT) or attention / MLP sublayers (LLM-Drop).

Importance, least important dropped first:

* block-drop: Block Influence ``1 - cos(h_in, h_out)`` of each block, averaged over all
  calibration tokens (Men et al., ShortGPT).
* attn-drop / mlp-drop: ``1 - cos(x, x + sublayer(norm(x)))``, with ``x`` the residual
  stream entering the sublayer (He et al., "What matters in transformers?", LLM-Drop).

Dropped blocks leave the decoder's block list (docs/design.md §9b); dropped sublayers are
replaced by modules that add nothing and cache nothing, so they cost no time, no
parameters and no KV memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from advisor.cache import cache_file
from advisor.models.anatomy import decoder_layers, replace_decoder_layers
from advisor.models.layouts import block_layout
from advisor.pruning.blocks import contribution_module, run_block, sublayer_parts, walk_blocks
from advisor.pruning.calibration import Calibration
from advisor.publish import read_checked_json, write_checked_json

UNITS = ("block", "attn", "mlp")


class SkippedAttention(nn.Module):
    """A dropped attention sublayer: contributes zero and never touches the KV cache."""

    def __init__(self, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple:
        # Same return shape as the attention modules: (output, attention weights).
        return torch.zeros_like(hidden_states), None


class SkippedMLP(nn.Module):
    """A dropped MLP sublayer: contributes zero."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(hidden_states)


# --------------------------------------------------------------------------- importance


class _CosineMeter:
    """Running mean over tokens of 1 - cos(a, b)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        cos = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)
        self.total += float((1 - cos).sum())
        self.count += cos.numel()

    @property
    def value(self) -> float:
        return self.total / max(self.count, 1)


def _contributions(block: nn.Module, hidden: torch.Tensor, kwargs: dict, config: Any) -> tuple:
    """(block output, what attention added, what the MLP added) for one minibatch."""
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    for unit in ("attn", "mlp"):

        def grab(_mod, _inp, out, unit=unit):
            seen[unit] = out[0] if isinstance(out, tuple) else out

        hooks.append(contribution_module(block, unit, config).register_forward_hook(grab))
    try:
        out = run_block(block, hidden, kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return out, seen["attn"], seen["mlp"]


def importance(
    model: Any, calib: Calibration, unit: str, advance: Any = lambda: None
) -> list[float]:
    """Per-block importance for dropping ``unit`` ('block', 'attn' or 'mlp'), one pass."""
    meters = [_CosineMeter() for _ in decoder_layers(model)]

    def visit(index, block, hidden, kwargs):
        outputs = []
        for h, kw in zip(hidden, kwargs, strict=True):
            out, attn, _mlp = _contributions(block, h, kw, model.config)
            if unit == "block":
                meters[index].add(h, out)
            elif unit == "attn":
                meters[index].add(h, h + attn)
            else:
                mid = h + attn
                meters[index].add(mid, out)
            outputs.append(out)
        return outputs

    walk_blocks(model, list(calib.batches()), visit, advance)
    return [m.value for m in meters]


IMPORTANCE_VERSION = "importance-v1"


def cached_importance(
    model: Any, calib: Calibration, unit: str, identity: str, advance: Any = lambda: None
) -> list[float]:
    """:func:`importance`, from the disk cache when this dense model (``identity``), unit
    and calibration text were scored before; ``model`` must still be the dense copy."""
    path = cache_file("importance", IMPORTANCE_VERSION, identity, unit, calib.hash)
    scores = read_checked_json(path)  # None when absent or damaged: recomputed
    if isinstance(scores, list) and len(scores) == len(decoder_layers(model)):
        for _ in scores:
            advance()
        return [float(x) for x in scores]
    scores = importance(model, calib, unit, advance)
    write_checked_json(path, scores)
    return scores


def ranking(scores: list[float]) -> list[int]:
    """Block indices, least important first; equal scores keep index order."""
    return sorted(range(len(scores)), key=lambda i: (scores[i], i))


# --------------------------------------------------------------------------- surgery


def drop_blocks(model: Any, dropped: list[int]) -> None:
    """Remove whole blocks in place, keeping the others in order with fixed indices."""
    layers = decoder_layers(model)
    gone = set(dropped)
    kept = [block for i, block in enumerate(layers) if i not in gone]
    config = model.config
    layer_types = getattr(config, "layer_types", None)
    replace_decoder_layers(model, kept)
    for new_index, block in enumerate(kept):
        # The KV cache is indexed by these; stale values would collide or overflow.
        if hasattr(block, "layer_idx"):
            block.layer_idx = new_index
        attention = getattr(block, block_layout(block, config).attn)
        if hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    if layer_types is not None:
        # Gemma-3 / Qwen2 pick each block's mask (sliding or full) by position in this list.
        config.layer_types = [t for i, t in enumerate(layer_types) if i not in gone]


def drop_sublayers(model: Any, attn: list[int], mlp: list[int]) -> None:
    """Replace the attention / MLP sublayers of the given blocks (current positions)."""
    layers = decoder_layers(model)
    for unit, positions in (("attn", attn), ("mlp", mlp)):
        for position in positions:
            block = layers[position]
            names, norms = sublayer_parts(block, unit, model.config)
            # OPT's MLP is the block's own fc1 -> act -> fc2: fc1 becomes an identity (a
            # cheap pass-through) and fc2, the last of the parts, adds the zero.
            for name in names[:-1]:
                setattr(block, name, nn.Identity())
            stand_in = SkippedAttention(position) if unit == "attn" else SkippedMLP()
            setattr(block, names[-1], stand_in)
            for norm in norms:
                # A norm feeding only a skipped sublayer is dead; a post-norm of a zero
                # contribution is zero, so Identity keeps the result exact.
                setattr(block, norm, nn.Identity())
    _mark_cacheless(model)


def _mark_cacheless(model: Any) -> None:
    """Make caches built from the config hold no KV layer for skipped attention.

    ``DynamicCache(config=...)`` turns layers whose ``kv_sharing_modes`` entry is "reuse"
    into empty dummy layers. Without this, a cache layer that is never updated would
    still be consulted for the sequence length (position ids) and mask sizes whenever it
    is the first layer, and decoding would go wrong.
    """
    layers = decoder_layers(model)
    skipped = [
        isinstance(getattr(block, block_layout(block, model.config).attn), SkippedAttention)
        for block in layers
    ]
    if any(skipped):
        model.config.kv_sharing_modes = ["reuse" if s else None for s in skipped]


def drop(model: Any, unit: str, dropped: list[int]) -> None:
    """Apply a drop of ``unit`` to the given block indices, in place."""
    if unit == "block":
        drop_blocks(model, dropped)
    elif unit == "attn":
        drop_sublayers(model, dropped, [])
    else:
        drop_sublayers(model, [], dropped)


__all__ = [
    "UNITS",
    "SkippedAttention",
    "SkippedMLP",
    "drop",
    "drop_blocks",
    "drop_sublayers",
    "importance",
    "ranking",
]
