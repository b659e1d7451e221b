"""Greedy decoding with a KV cache: one prefill per prompt, shared prompt prefixes run
once, and (optionally) a teacher-forced read of a given continuation from the same prefill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from advisor.forward import handoff
from advisor.forward.batching import (
    Prompt,
    PromptStates,
    batches,
    encode,
    extend_cache,
    feed_after_cache,
    last_position,
    left_pad,
    lengths_of,
    pad_id,
    remember_states,
    stack_summaries,
    summarise_streams,
)
from advisor.models import anatomy
from advisor.models.anatomy import eos_ids, input_device

# Rows decoded together: each step's cost is dominated by reading the weights, so larger
# batches are nearly free up to here (SmolLM2-135M, one CPU thread: 8 -> 24 rows cut the
# decoding time of a 24-item suite from 13.4 s to 9.5 s).
DECODE_BATCH = 24


@dataclass
class Generation:
    """Greedy continuations of a batch of prompts.

    ``tokens[i]``: generated ids, cut after the first end-of-sequence token (kept) or at the
    horizon. ``hidden[i]``: ``[len(tokens[i]), d]`` pre-norm last-stream states, row ``t``
    being the state whose :func:`head_logits` gave the distribution token ``t`` was picked
    from — so per-step distributions can be rebuilt without storing ``[H, V]`` logits.
    ``prompt_ids[i]``: the prompt's token ids. ``texts[i]``: decoded continuation.
    """

    prompt_ids: list[list[int]]
    tokens: list[list[int]]
    hidden: list[torch.Tensor]
    texts: list[str]
    ended: list[bool]


@dataclass
class Decoded:
    """One prefill per prompt, read three ways: the prompt's stream summaries (as
    :func:`prompt_states`), the greedy continuation (as :func:`greedy_generate`), and, when
    continuations to force were given, the teacher-forced states along them (as
    teacher forcing: row ``t`` predicts forced token ``t``)."""

    states: PromptStates
    generation: Generation
    forced: list[torch.Tensor] | None


def greedy_generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    *,
    batch_size: int = DECODE_BATCH,
    stop_at_eos: bool = True,
) -> Generation:
    """Greedy decoding with a KV cache, batched with left padding (see :func:`decode`)."""
    return decode(
        model, tokenizer, prompts, max_new_tokens, batch_size=batch_size, stop_at_eos=stop_at_eos
    ).generation


def _cut_at_stop(row_tokens: list[int], stop: set[int]) -> tuple[list[int], bool]:
    """A row's tokens up to and including its first end-of-sequence token, and whether it
    ended there."""
    for t, tok in enumerate(row_tokens):
        if tok in stop:
            return row_tokens[: t + 1], True
    return row_tokens, False


def _forced_rows(
    model: Any,
    cache: Any,
    mask: torch.Tensor,
    positions: torch.Tensor,
    prompt_state: torch.Tensor,
    forced: Sequence[Sequence[int]],
    pad: int,
) -> list[torch.Tensor]:
    """Teacher-forced last-stream states along each row's ``forced`` tokens, read from a
    copy of the prefill ``cache`` (the original stays ready for free decoding). Row ``t``
    predicts forced token ``t``: row 0 is the prompt's own state."""
    import copy

    if any(len(f) == 0 for f in forced):
        raise ValueError("Every forced continuation needs at least one token.")
    rows = [r for r, f in enumerate(forced) if len(f) >= 2]
    fed = None
    if rows:
        idx = torch.as_tensor(rows, device=mask.device)
        branch = copy.deepcopy(cache)
        branch.reorder_cache(idx)
        fed = feed_after_cache(
            model, branch, mask[idx], positions[idx], [forced[r][:-1] for r in rows], pad
        )
    out = []
    for r, f in enumerate(forced):
        row_states = prompt_state[r : r + 1]
        if fed is not None and r in rows:
            row_states = torch.cat([row_states, fed[rows.index(r), : len(f) - 1]])
        out.append(row_states.cpu())
    return out


# Prompts of one suite often open with the same instructions and demonstrations; below
# this many shared tokens, running the prefix once is not worth a second forward call.
MIN_SHARED_PREFIX = 16


def _by_template(seqs: Sequence[Sequence[int]]) -> list[int]:
    """Batch order for prefill: prompts that open alike (same first MIN_SHARED_PREFIX
    tokens as another prompt) together, then by length; the rest by length alone."""
    head = [tuple(s[:MIN_SHARED_PREFIX]) for s in seqs]
    counts: dict[tuple[int, ...], int] = {}
    for h in head:
        counts[h] = counts.get(h, 0) + 1
    return sorted(
        range(len(seqs)), key=lambda i: (head[i] if counts[head[i]] > 1 else (), len(seqs[i]), i)
    )


def _shared_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving each at least one token."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for k in range(max(n, 0)):
        if any(s[k] != first[k] for s in seqs):
            return k
    return max(n, 0)


def _window_allows_holes(model: Any, span: int) -> bool:
    """Whether padding inside a row is harmless: sliding-window layers measure distance
    in cache slots, so a hole would push real tokens out of the window unless the whole
    row (``span`` slots) fits inside it."""
    cfg = model.config
    if "sliding_attention" not in (getattr(cfg, "layer_types", None) or []):
        return True
    window = getattr(cfg, "sliding_window", None)
    return window is not None and span <= window


def _prefill(
    seqs: Sequence[Sequence[int]], model: Any, pad: int, extra: int = 0
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a batch of prompts into a fresh KV cache; return ``(cache, attention mask,
    position ids, last-position states, mean-pooled states)`` (states ``[b, n_streams, d]``).

    A prefix shared by every row (at least MIN_SHARED_PREFIX tokens) is run once and its
    cache replicated; the rows' own suffixes follow it, left-padded, so the layout is
    ``[prefix][pad][suffix]`` with the padding masked and positions counting real tokens
    only: every row still computes what it would alone, and ends at the last column.
    ``extra``: cache slots the caller will add (decoding, forcing), for the window check.
    """
    from transformers import DynamicCache

    device = input_device(model)
    cache = DynamicCache(config=model.config)
    shared = _shared_prefix(seqs) if len(seqs) > 1 else 0
    span = max(len(s) for s in seqs) + extra
    if shared < MIN_SHARED_PREFIX or not _window_allows_holes(model, span):
        ids, mask, pos = left_pad(seqs, pad, device)
        cache, streams = extend_cache(model, ids, mask, pos, cache, summarise_streams(mask))
        return (cache, mask, pos, *stack_summaries(streams, mask.sum(1)))
    ids, mask, pos = left_pad([seqs[0][:shared]], pad, device)
    cache, streams = extend_cache(model, ids, mask, pos, cache, summarise_streams(mask))
    prefix_sums = [total for _, total in streams]  # [1, d] per stream
    cache.reorder_cache(torch.zeros(len(seqs), dtype=torch.long, device=device))
    ids, own, pos = left_pad([s[shared:] for s in seqs], pad, device)
    mask = torch.cat([torch.ones((len(seqs), shared), dtype=own.dtype, device=device), own], 1)
    pos = pos + shared
    cache, streams = extend_cache(model, ids, mask, pos, cache, summarise_streams(own))
    streams = [
        (lst, total + before) for (lst, total), before in zip(streams, prefix_sums, strict=True)
    ]
    return (cache, mask, pos, *stack_summaries(streams, mask.sum(1)))


def _batch_prefill(seqs: Sequence[Sequence[int]], model: Any, pad: int, extra: int) -> tuple:
    """:func:`_prefill`, except inside a reuse block: prompts whose prefill it kept start
    from it (the others are prefilled alone and the batch is rebuilt from rows), and the
    prompts it asks to keep are kept (:mod:`advisor.forward.handoff`)."""
    rows = [handoff.handed(model, s) for s in seqs]
    if any(row is not None for row in rows):
        fresh = [k for k, row in enumerate(rows) if row is None]
        cut: list[handoff.RowPrefill] | None = []
        if fresh:
            alone = _prefill([seqs[k] for k in fresh], model, pad, extra)
            cut = handoff.rows_of(*alone, range(len(fresh)))
        if cut is not None:
            for k, row in zip(fresh, cut, strict=True):
                rows[k] = row
            width = max(row.mask.shape[0] for row in rows)  # type: ignore[union-attr]
            if _window_allows_holes(model, width + extra):
                return handoff.merged(model, rows)
    prefilled = _prefill(seqs, model, pad, extra)
    handoff.keep(model, seqs, prefilled)
    return prefilled


def decode(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    *,
    forced: Sequence[Sequence[int]] | None = None,
    batch_size: int = DECODE_BATCH,
    stop_at_eos: bool = True,
) -> Decoded:
    """Prefill each prompt once, then greedy-decode from its KV cache.

    The prefill's hooks give the prompt's stream summaries; with ``forced`` (one non-empty
    token list per prompt) a copy of the prefill cache reads each forced continuation
    teacher-forced, so the prompt is never run twice. Each decoding step feeds one token
    per row; the attention mask grows by one real column and the position id is the row's
    own real length, so every row decodes as it would alone. A row that emitted an
    end-of-sequence token stops contributing (its later tokens are discarded); the batch
    stops when all rows are done or at ``max_new_tokens``.
    """

    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1.")
    if forced is not None and len(forced) != len(prompts):
        raise ValueError("forced must give one continuation per prompt.")
    seqs = [encode(tokenizer, p) for p in prompts]
    device = input_device(model)
    pad = pad_id(tokenizer)
    stop = eos_ids(model, tokenizer) if stop_at_eos else set()
    last: list[torch.Tensor | None] = [None] * len(seqs)
    mean: list[torch.Tensor | None] = [None] * len(seqs)
    logits: list[torch.Tensor | None] = [None] * len(seqs)
    tokens: list[list[int]] = [[] for _ in seqs]
    hidden: list[torch.Tensor | None] = [None] * len(seqs)
    ended = [False] * len(seqs)
    forced_out: list[torch.Tensor | None] = [None] * len(seqs)
    with torch.inference_mode():
        for batch in batches(_by_template(seqs), batch_size, lengths_of(seqs)):
            longest_forced = max((len(forced[i]) for i in batch), default=0) if forced else 0
            cache, mask, pos, batch_last, batch_mean = _batch_prefill(
                [seqs[i] for i in batch], model, pad, max_new_tokens + longest_forced
            )
            state = batch_last[:, -1]  # the last stream at the last prompt token
            if forced is not None:
                rows_forced = [forced[i] for i in batch]
                for i, row_states in zip(
                    batch,
                    _forced_rows(model, cache, mask, pos, state, rows_forced, pad),
                    strict=True,
                ):
                    forced_out[i] = row_states
            done = torch.zeros(len(batch), dtype=torch.bool)
            steps: list[torch.Tensor] = []
            picked: list[torch.Tensor] = []
            for step in range(max_new_tokens):
                step_logits = anatomy.head_logits(model, state)
                if step == 0:  # the prompts' own next-token logits: kept, not recomputed
                    first_logits = step_logits.cpu()
                nxt = step_logits.argmax(-1)
                steps.append(state.cpu())
                picked.append(nxt.cpu())
                done |= torch.as_tensor([int(t) in stop for t in nxt.tolist()])
                if bool(done.all()) or step == max_new_tokens - 1:
                    break
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                pos = pos[:, -1:] + 1
                cache, streams = extend_cache(
                    model, nxt[:, None].to(device), mask, pos, cache, last_position
                )
                state = streams[-1]
            chosen = torch.stack(picked, dim=1)  # [b, steps]
            states = torch.stack(steps, dim=1)  # [b, steps, d]
            for row, i in enumerate(batch):
                last[i] = batch_last[row].cpu()
                mean[i] = batch_mean[row].cpu()
                remember_states(model, seqs[i], last[i], mean[i])
                logits[i] = first_logits[row]
                tokens[i], ended[i] = _cut_at_stop(chosen[row].tolist(), stop)
                hidden[i] = states[row, : len(tokens[i])].clone()
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
    generation = Generation(prompt_ids=seqs, tokens=tokens, hidden=hidden, texts=texts, ended=ended)  # type: ignore[arg-type]
    return Decoded(
        states=PromptStates(
            last=torch.stack(last),  # type: ignore[arg-type]
            mean=torch.stack(mean),  # type: ignore[arg-type]
            logits=torch.stack(logits),  # type: ignore[arg-type]
        ),
        generation=generation,
        forced=forced_out if forced is not None else None,  # type: ignore[arg-type]
    )
