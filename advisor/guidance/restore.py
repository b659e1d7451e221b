"""Restoring one layer's dense weights in a sparsity pruning (blame, docs/guidance.md).

A sparsity pruning (magnitude, Wanda, SparseGPT here; or a checkpoint pruned elsewhere with
zeroed or rewritten weights) keeps every unit but changes the linear weights of every
decoder block. Its blame restores one layer at a time: that block's linear weights (and
biases) are put back to the dense model's, every other layer stays pruned, and the
evidence is read again. Only layers whose weights differ from the dense model's are
restored (a layer left as it was would gain exactly nothing). The copy shares every tensor
with the two models (no weights are copied), so its layer prefix before the restored
layer is the pruned model's, tensor for tensor, and is replayed like the map's
(:mod:`advisor.forward.layer_replay`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from advisor.models.anatomy import decoder_layers
from advisor.models.loading import LoadedModel
from advisor.pruning import STRUCTURAL, working_copy
from advisor.pruning.blocks import block_linears

RESTORE = "dense weights"  # what a sparsity blame restores per layer


def _linears(model: Any) -> list[dict[str, Any]]:
    return [block_linears(block) for block in decoder_layers(model)]


def changed_layers(dense: Any, pruned: Any) -> list[int] | None:
    """The decoder layers of ``pruned`` (a model) whose linear weights differ from
    ``dense``'s; None where the two do not line up (layer count, names or shapes differ:
    units were removed, not weights changed)."""
    ours, theirs = _linears(dense), _linears(pruned)
    if len(ours) != len(theirs):
        return None
    changed = []
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a.keys() != b.keys() or any(a[k].weight.shape != b[k].weight.shape for k in a):
            return None
        with torch.inference_mode():
            if any(not _same(a[k], b[k]) for k in a):
                changed.append(index)
    return changed


def _same(a: Any, b: Any) -> bool:
    if a.weight is not b.weight and not torch.equal(a.weight, b.weight.to(a.weight.dtype)):
        return False
    if (a.bias is None) != (b.bias is None):
        return False
    return a.bias is None or torch.equal(a.bias, b.bias.to(a.bias.dtype))


def _like(tensor: Any, other: Any) -> Any:
    """``tensor`` itself (shared) where it matches ``other``'s dtype and device, else a
    converted copy."""
    if tensor.dtype == other.dtype and tensor.device == other.device:
        return tensor
    return torch.nn.Parameter(tensor.to(other.device, other.dtype), requires_grad=False)


def restored_layer(pruned: LoadedModel, dense: LoadedModel, layer: int) -> LoadedModel:
    """``pruned`` (a LoadedModel) with decoder layer ``layer``'s linear weights and biases
    put back to ``dense``'s: a copy that shares every tensor with the two models."""
    model = working_copy(pruned.model, STRUCTURAL)  # shares the pruned tensors
    source = _linears(dense.model)[layer]
    for name, linear in _linears(model)[layer].items():
        linear.weight = _like(source[name].weight, linear.weight)
        if linear.bias is not None and source[name].bias is not None:
            linear.bias = _like(source[name].bias, linear.bias)
    name = f"{pruned.name} (layer {layer} restored)"
    return dataclasses.replace(
        pruned, name=name, model=model, fingerprint=f"{pruned.fingerprint}/{name}"
    )
