"""SparseGPT (Frantar & Alistarh, 2023): prune a linear layer column block by column
block, choosing weights by the OBS saliency w^2 / [H^-1]_jj^2 and updating the remaining
weights to cancel each pruned weight's error under the calibration Hessian H = 2 X^T X / n.

Written from the paper's description: the inverse Hessian is used through the upper
Cholesky factor of H^-1 (so the per-column updates are rows of that factor), columns are
processed in blocks with a lazy update of the columns to the right, and a dampening of
``damp`` x the mean Hessian diagonal keeps H invertible. Unstructured masks are chosen per
column block (exact counts, spread evenly over the blocks); N:M masks per group of M
columns as the sweep reaches it, using the already-updated weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from advisor.pruning.calibration import Calibration
from advisor.pruning.masks import lowest_mask, nm_mask, split_count, target_zeros, tie_keys
from advisor.pruning.sequential import prune_sequentially

BLOCK = 128
SPAN = 32  # a multiple of every M, so N:M groups never straddle two spans
DAMP = 0.01


class Hessian:
    """Running 2 X^T X / n over calibration tokens (float64)."""

    def __init__(self, features: int) -> None:
        self.xtx = torch.zeros(features, features, dtype=torch.float64)
        self.tokens = 0

    def add(self, x: torch.Tensor) -> None:
        x = x.double()
        self.xtx += x.T @ x
        self.tokens += x.shape[0]

    @property
    def matrix(self) -> torch.Tensor:
        return 2 * self.xtx / max(self.tokens, 1)


def inverse_factor(hessian: torch.Tensor, damp: float = DAMP) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp * mean(diag H) * I)^-1."""
    h = hessian.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1  # inputs that are always zero: any weight is as good as another
    scale = damp * torch.diag(h).mean()
    eye = torch.eye(h.shape[0], dtype=h.dtype)
    for attempt in range(6):
        # Raise the dampening until H is numerically positive definite.
        chol, info = torch.linalg.cholesky_ex(h + scale * (10**attempt) * eye)
        if int(info) == 0:
            break
    else:
        raise RuntimeError("The calibration Hessian is not positive definite even after damping.")
    return torch.linalg.cholesky(torch.cholesky_inverse(chol), upper=True)


def _block_mask(w, d, count, keys):
    """Unstructured mask of one column block: the ``count`` lowest w^2 / d^2."""
    return lowest_mask(w.pow(2) / d.pow(2).unsqueeze(0), count, keys)


def _sweep(w, u, mask, start, end, nm, keys) -> torch.Tensor:
    """Prune columns start..end-1 one by one, updating the later columns of the span.

    Works in place on ``w`` (and, for N:M, fills ``mask`` group by group as the sweep
    reaches each group, so the choice sees the already-updated weights). Returns the
    scaled errors, for the lazy update of the columns right of the span.
    """
    w1, u1 = w[:, start:end], u[start:end, start:end]
    diag = torch.diag(u)
    errors = torch.empty_like(w1)
    for j in range(end - start):
        c = start + j
        if nm is not None and c % nm[1] == 0:
            group = slice(c, c + nm[1])
            saliency = w[:, group].pow(2) / diag[group].pow(2).unsqueeze(0)
            mask[:, group] = nm_mask(saliency, nm[0], nm[1], keys[:, group])
        col = w1[:, j]
        kept = col.masked_fill(mask[:, c], 0)
        err = (col - kept) / u1[j, j]
        w1[:, j:] -= err.unsqueeze(1) * u1[j, j:].unsqueeze(0)
        w1[:, j] = kept  # exact zeros, not float round-off
        errors[:, j] = err
    return errors


@torch.no_grad()
def prune_weight(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None,
    keys: torch.Tensor,
    block: int = BLOCK,
    damp: float = DAMP,
) -> torch.Tensor:
    """The SparseGPT-pruned copy of ``weight`` (rows = outputs, columns = inputs).

    Unstructured masks are chosen per ``block`` columns; the weight updates are applied
    eagerly within spans of ``SPAN`` columns and lazily (one matrix product) beyond,
    which gives the same result with far less memory traffic on a CPU.
    """
    w = weight.float().clone()
    u = inverse_factor(hessian, damp).float()
    cols = w.shape[1]
    mask = torch.zeros_like(w, dtype=torch.bool)
    starts = list(range(0, cols, block))
    counts = split_count(target_zeros(w.numel(), sparsity), len(starts))
    for b, start in enumerate(starts):
        end = min(start + block, cols)
        if nm is None:
            d = torch.diag(u)[start:end]
            mask[:, start:end] = _block_mask(w[:, start:end], d, counts[b], keys[:, start:end])
        for span in range(start, end, SPAN):
            stop = min(span + SPAN, end)
            errors = _sweep(w, u, mask, span, stop, nm, keys)
            w[:, stop:] -= errors @ u[span:stop, stop:]
    return w.to(weight.dtype)


def prune(
    model: Any,
    calib: Calibration,
    sparsity: float,
    nm: tuple[int, int] | None,
    seed: int,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """SparseGPT-prune every linear layer in the decoder blocks, in place."""

    def one(name: str, layer: nn.Linear, stat: Hessian) -> None:
        keys = tie_keys(tuple(layer.weight.shape), seed, name)
        layer.weight.copy_(prune_weight(layer.weight, stat.matrix, sparsity, nm, keys))

    prune_sequentially(model, calib, Hessian, one, advance)
