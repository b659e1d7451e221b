"""Magnitude pruning: zero the weights with the smallest absolute value in every linear
layer of the decoder blocks. No calibration data; unstructured selection is layer-wise
(the usual baseline), N:M selection is per row within each group of M inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from advisor.models.anatomy import decoder_layers
from advisor.pruning.blocks import block_linears
from advisor.pruning.masks import select, tie_keys


@torch.no_grad()
def prune(
    model: Any,
    sparsity: float,
    nm: tuple[int, int] | None,
    seed: int,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Zero the smallest-|W| weights of every block linear, in place."""
    for index, block in enumerate(decoder_layers(model)):
        for name, lin in block_linears(block).items():
            weight = lin.weight
            keys = tie_keys(tuple(weight.shape), seed, f"layers.{index}.{name}")
            mask = select(weight.abs(), sparsity, nm, keys, per_row=False)
            weight[mask] = 0
        advance()
