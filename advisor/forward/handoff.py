"""Kept prefills: one prompt's KV cache cut out of its batch, and a batch rebuilt from them.

`assess` runs each generative calibration prompt through the pruned model for the
verdict's evidence (a prefill, then a teacher-forced read), and the report then decodes a
few of the same prompts freely. Inside :func:`advisor.forward.reuse` with
``keep_prefill``, the evidence's prefill of those prompts is kept row by row (its KV
cache, attention-mask row, last position and stream summaries) and the decoding starts
from it instead of running the prompt again (docs/design.md §5c).

A row is cut at its first real token (leading padding carries nothing); a batch rebuilt
from rows of different lengths is left-padded again, K/V zeros under a zero mask, which
is what a fresh left-padded prefill holds there too. Only caches whose layers are plain
dynamic layers holding every slot (or none: attention pruned away) are cut: a
sliding-window layer that has already dropped slots, or a cache of another kind, is never
kept, and those prompts are simply prefilled again. Nor is a prefill run under a sweep's
layer-prefix replay (:mod:`advisor.forward.layer_replay`): its skipped layers' cache slots are
zeros that only the replay itself may leave unread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from advisor.forward import layer_replay
from advisor.forward.reuse import KEEP_PREFILL, memo

# DummyLayer: transformers' stand-in where a layer has no attention (its config says "dummy").
_PLAIN_LAYERS = ("DynamicLayer", "DynamicSlidingWindowLayer", "DummyLayer")


@dataclass
class RowPrefill:
    """One prompt's prefill: per-layer keys and values ``[1, heads, L, head_dim]`` (None
    for a layer without attention), its attention-mask row ``[L]``, its last position id
    ``[1]``, and its stream summaries at the last prompt token and mean-pooled
    (``[n_streams, d]`` each)."""

    keys: list[torch.Tensor | None]
    values: list[torch.Tensor | None]
    mask: torch.Tensor
    position: torch.Tensor
    last: torch.Tensor
    mean: torch.Tensor


def _filled(layer: Any) -> bool:
    """Whether a cache layer holds keys: a layer whose attention was pruned away (attn-drop)
    never writes any."""
    keys = getattr(layer, "keys", None)
    return keys is not None and keys.numel() > 0


def _layers(cache: Any, width: int) -> list[Any] | None:
    """The cache's layers if every one is a plain dynamic layer, empty or holding all
    ``width`` slots, else None (nothing is cut from it)."""
    layers = list(getattr(cache, "layers", None) or [])
    plain = all(
        type(layer).__name__ in _PLAIN_LAYERS
        and (not _filled(layer) or layer.keys.shape[-2] == width)
        for layer in layers
    )
    return layers if plain and any(_filled(layer) for layer in layers) else None


def _row(states: torch.Tensor, row: int, start: int) -> torch.Tensor:
    return states[row : row + 1, :, start:].clone()


def rows_of(
    cache: Any,
    mask: torch.Tensor,
    positions: torch.Tensor,
    last: torch.Tensor,
    mean: torch.Tensor,
    rows: Sequence[int],
) -> list[RowPrefill] | None:
    """``rows`` of a freshly prefilled batch as :class:`RowPrefill` (copies: the batch's
    own tensors are freed with it), or None when the cache cannot be cut."""
    layers = _layers(cache, mask.shape[1])
    if layers is None:
        return None
    out = []
    for r in rows:
        start = int(mask[r].nonzero()[0])
        out.append(
            RowPrefill(
                keys=[_row(layer.keys, r, start) if _filled(layer) else None for layer in layers],
                values=[
                    _row(layer.values, r, start) if _filled(layer) else None for layer in layers
                ],
                mask=mask[r, start:].clone(),
                position=positions[r, -1:].clone(),
                last=last[r].clone(),
                mean=mean[r].clone(),
            )
        )
    return out


def keep(model: Any, seqs: Sequence[Sequence[int]], prefilled: tuple) -> None:
    """Keep the rows of a prefilled batch (``prefilled``: cache, mask, positions, last,
    mean, as :func:`advisor.forward.decoding` returns them) whose prompts the open
    :func:`advisor.forward.reuse` block asked to keep."""
    kept = memo(model)
    wanted = kept.get(KEEP_PREFILL) if kept is not None else None
    if not wanted or layer_replay.active(model) is not None:
        return  # a sweep's replayed layers leave zeros in the cache: never hand those on
    rows = [r for r, seq in enumerate(seqs) if tuple(seq) in wanted]
    cut = rows_of(*prefilled, rows) if rows else None
    for r, row in zip(rows, cut or [], strict=False):
        kept["prefill", tuple(seqs[r])] = row


def handed(model: Any, seq: Sequence[int]) -> RowPrefill | None:
    """The kept prefill of prompt ``seq``, if the open reuse block holds one."""
    kept = memo(model)
    return kept.get(("prefill", tuple(seq))) if kept is not None else None


def merged(model: Any, rows: Sequence[RowPrefill]) -> tuple:
    """A batch rebuilt from ``rows``: ``(cache, mask, positions, last, mean)`` laid out as
    a fresh prefill's (left-padded to the longest row; positions ``[b, 1]``, the last)."""

    width = max(row.mask.shape[0] for row in rows)
    cache = DynamicCache(config=model.config)
    for depth in range(len(rows[0].keys)):
        if rows[0].keys[depth] is None:
            continue  # a layer without attention: its cache layer stays empty, as in a prefill
        keys = [F.pad(r.keys[depth], (0, 0, width - r.mask.shape[0], 0)) for r in rows]
        values = [F.pad(r.values[depth], (0, 0, width - r.mask.shape[0], 0)) for r in rows]
        cache.update(torch.cat(keys), torch.cat(values), depth)
    mask = torch.stack([F.pad(r.mask, (width - r.mask.shape[0], 0)) for r in rows])
    positions = torch.stack([r.position for r in rows])
    last = torch.stack([r.last for r in rows])
    mean = torch.stack([r.mean for r in rows])
    return cache, mask, positions, last, mean
