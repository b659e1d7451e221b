"""Prefill: a batch of prompts run once, a prefix they share run once for all of them.

Prompts of one suite often open with the same instructions and demonstrations (a
classification suite's four labelled examples, a math suite's worked problems). Batched
by template, each batch runs that prefix once and replicates its KV cache; only the
prompts' own suffixes follow. Every reader of prompt passes goes through here: the
prompt states, the choice scores and the decoding prefill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from advisor.forward.batching import (
    Prompt,
    PromptStates,
    batches,
    encode,
    extend_cache,
    left_pad,
    lengths_of,
    pad_id,
    recorded_call,
    remember_states,
    stack_summaries,
    summarise_streams,
)
from advisor.forward.reuse import memo
from advisor.models import anatomy
from advisor.models.anatomy import input_device

# Prompts of one suite often open with the same instructions and demonstrations; below
# this many shared tokens, running the prefix once is not worth a second forward call.
MIN_SHARED_PREFIX = 16


def by_template(seqs: Sequence[Sequence[int]]) -> list[int]:
    """Batch order for prefill: prompts that open alike (same first MIN_SHARED_PREFIX
    tokens as another prompt) together, then by length; the rest by length alone."""
    head = [tuple(s[:MIN_SHARED_PREFIX]) for s in seqs]
    counts: dict[tuple[int, ...], int] = {}
    for h in head:
        counts[h] = counts.get(h, 0) + 1
    return sorted(
        range(len(seqs)), key=lambda i: (head[i] if counts[head[i]] > 1 else (), len(seqs[i]), i)
    )


def shared_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving each at least one token."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for k in range(max(n, 0)):
        if any(s[k] != first[k] for s in seqs):
            return k
    return max(n, 0)


def window_allows_holes(model: Any, span: int) -> bool:
    """Whether padding inside a row is harmless: sliding-window layers measure distance
    in cache slots, so a hole would push real tokens out of the window unless the whole
    row (``span`` slots) fits inside it."""
    cfg = model.config
    if "sliding_attention" not in (getattr(cfg, "layer_types", None) or []):
        return True
    window = getattr(cfg, "sliding_window", None)
    return window is not None and span <= window


def prefill(
    seqs: Sequence[Sequence[int]], model: Any, pad: int, extra: int = 0, *, cache: bool = True
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a batch of prompts into a fresh KV cache; return ``(cache, attention mask,
    position ids, last-position states, mean-pooled states)`` (states ``[b, n_streams, d]``).

    A prefix shared by every row (at least MIN_SHARED_PREFIX tokens) is run once and its
    cache replicated; the rows' own suffixes follow it, left-padded, so the layout is
    ``[prefix][pad][suffix]`` with the padding masked and positions counting real tokens
    only: every row still computes what it would alone, and ends at the last column.
    ``extra``: cache slots the caller will add (decoding, forcing), for the window check.
    ``cache=False``: the caller reads only the states; the cache comes back as None (a
    batch without a shared prefix then runs without one).
    """

    device = input_device(model)
    shared = shared_prefix(seqs) if len(seqs) > 1 else 0
    span = max(len(s) for s in seqs) + extra
    if shared < MIN_SHARED_PREFIX or not window_allows_holes(model, span):
        ids, mask, pos = left_pad(seqs, pad, device)
        if not cache:
            _, streams = recorded_call(
                model, ids, mask, pos, summarise_streams(mask), use_cache=False
            )
            return (None, mask, pos, *stack_summaries(streams, mask.sum(1)))
        kv, streams = extend_cache(
            model, ids, mask, pos, DynamicCache(config=model.config), summarise_streams(mask)
        )
        return (kv, mask, pos, *stack_summaries(streams, mask.sum(1)))
    ids, mask, pos = left_pad([seqs[0][:shared]], pad, device)
    kv = DynamicCache(config=model.config)
    kv, streams = extend_cache(model, ids, mask, pos, kv, summarise_streams(mask))
    prefix_sums = [total for _, total in streams]  # [1, d] per stream
    kv.reorder_cache(torch.zeros(len(seqs), dtype=torch.long, device=device))
    ids, own, pos = left_pad([s[shared:] for s in seqs], pad, device)
    mask = torch.cat([torch.ones((len(seqs), shared), dtype=own.dtype, device=device), own], 1)
    pos = pos + shared
    kv, streams = extend_cache(model, ids, mask, pos, kv, summarise_streams(own))
    streams = [
        (lst, total + before) for (lst, total), before in zip(streams, prefix_sums, strict=True)
    ]
    return (kv if cache else None, mask, pos, *stack_summaries(streams, mask.sum(1)))


def prompt_states(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    batch_size: int = 8,
    logit_lens: bool = False,
) -> PromptStates:
    """Run each prompt once and return its stream summaries and next-token logits.

    Rows come back in the order of ``prompts`` whatever the batching. ``logit_lens=True``
    adds a ``[B, n_streams, V]`` tensor — large for real vocabularies; prefer calling
    :func:`head_logits` on ``last`` one item at a time.
    """
    seqs = [encode(tokenizer, p) for p in prompts]
    last: list[torch.Tensor | None] = [None] * len(seqs)
    mean: list[torch.Tensor | None] = [None] * len(seqs)
    kept = memo(model)
    for i, seq in enumerate(seqs):
        if kept is not None and ("states", tuple(seq)) in kept:
            last[i], mean[i] = kept["states", tuple(seq)]
    todo = [i for i in range(len(seqs)) if last[i] is None]
    with torch.inference_mode():
        fresh = [seqs[i] for i in todo]
        for part in batches(by_template(fresh), batch_size, lengths_of(fresh)):
            batch = [todo[k] for k in part]
            *_, batch_last, batch_mean = prefill(
                [seqs[i] for i in batch], model, pad_id(tokenizer), cache=False
            )
            for row, i in enumerate(batch):
                last[i] = batch_last[row].cpu()
                mean[i] = batch_mean[row].cpu()
                remember_states(model, seqs[i], last[i], mean[i])
        last_t = torch.stack(last)  # type: ignore[arg-type]
        mean_t = torch.stack(mean)  # type: ignore[arg-type]
        logits = anatomy.head_logits(model, last_t[:, -1]).cpu()
        lens = anatomy.head_logits(model, last_t).cpu() if logit_lens else None
    return PromptStates(last=last_t, mean=mean_t, logits=logits, lens=lens)
