"""Sequential, activation-aware pruning of every linear layer in the decoder blocks.

Shared by Wanda and SparseGPT: block by block, the inputs of each linear layer are
gathered on the calibration tokens (with every earlier block already pruned), the block's
linears are pruned from those statistics, and the pruned block's outputs feed the next
block, so each block adapts to the errors of the ones before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from advisor.pruning.blocks import block_linears, forward_all, walk_blocks
from advisor.pruning.calibration import Calibration


class InputStat(Protocol):
    """Accumulates a statistic of a linear layer's inputs over calibration tokens."""

    def add(self, x: torch.Tensor) -> None: ...


def _collect(block: nn.Module, hidden, kwargs, make_stat) -> dict[str, Any]:
    """Run the block on all minibatches, feeding each linear's inputs to its statistic."""
    stats = {name: make_stat(lin.in_features) for name, lin in block_linears(block).items()}
    hooks = [
        lin.register_forward_pre_hook(
            lambda _m, args, name=name: stats[name].add(args[0].reshape(-1, args[0].shape[-1]))
        )
        for name, lin in block_linears(block).items()
    ]
    try:
        forward_all(block, hidden, kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return stats


def prune_sequentially(
    model: Any,
    calib: Calibration,
    make_stat: Callable[[int], Any],
    prune_linear: Callable[[str, nn.Linear, Any], None],
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Prune every block's linears with ``prune_linear(qualified name, layer, statistic)``."""

    def visit(index, block, hidden, kwargs):
        stats = _collect(block, hidden, kwargs, make_stat)
        for name, lin in block_linears(block).items():
            prune_linear(f"layers.{index}.{name}", lin, stats[name])
        return forward_all(block, hidden, kwargs)

    walk_blocks(model, list(calib.batches()), visit, advance)
