"""Wanda (Sun et al., 2023): score each weight by |W_ij| * ||X_j||_2, the L2 norm of its
input feature over the calibration tokens, and zero the lowest scores within each output
row (or within each group of M inputs of a row for N:M). Applied block by block with the
activations of the already-pruned earlier blocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from advisor.pruning.calibration import Calibration
from advisor.pruning.masks import select, tie_keys
from advisor.pruning.sequential import prune_sequentially


class InputNorm:
    """Sum of squares of each input feature over all tokens seen."""

    def __init__(self, features: int) -> None:
        self.sumsq = torch.zeros(features, dtype=torch.float64)
        self.tokens = 0

    def add(self, x: torch.Tensor) -> None:
        self.sumsq += x.double().pow(2).sum(0)
        self.tokens += x.shape[0]

    @property
    def norm(self) -> torch.Tensor:
        return self.sumsq.sqrt()


def scores(weight: torch.Tensor, input_norm: torch.Tensor) -> torch.Tensor:
    """Wanda's importance |W_ij| * ||X_j||, in float64 to keep the ordering faithful."""
    return weight.double().abs() * input_norm.unsqueeze(0)


@torch.no_grad()
def prune_linear(
    layer: nn.Linear, stat: InputNorm, sparsity: float, nm: tuple[int, int] | None, keys
) -> None:
    """Zero the lowest-scoring weights of one linear layer, comparing within rows."""
    mask = select(scores(layer.weight, stat.norm), sparsity, nm, keys, per_row=True)
    layer.weight[mask] = 0


def prune(
    model: Any,
    calib: Calibration,
    sparsity: float,
    nm: tuple[int, int] | None,
    seed: int,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Wanda-prune every linear layer in the decoder blocks, in place."""

    def one(name: str, layer: nn.Linear, stat: InputNorm) -> None:
        keys = tie_keys(tuple(layer.weight.shape), seed, name)
        prune_linear(layer, stat, sparsity, nm, keys)

    prune_sequentially(model, calib, InputNorm, one, advance)
