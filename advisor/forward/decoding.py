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
    feed_branches,
    last_position,
    lengths_of,
    pad_id,
    remember_states,
)
from advisor.forward.prefill import by_template, prefill, window_allows_holes
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
    if any(len(f) == 0 for f in forced):
        raise ValueError("Every forced continuation needs at least one token.")
    rows = [r for r, f in enumerate(forced) if len(f) >= 2]
    fed = feed_branches(model, cache, mask, positions, rows, [forced[r][:-1] for r in rows], pad)
    out = []
    for r in range(len(forced)):
        row_states = prompt_state[r : r + 1]
        if r in rows:
            row_states = torch.cat([row_states, fed[rows.index(r)]])
        out.append(row_states.cpu())
    return out


def _batch_prefill(seqs: Sequence[Sequence[int]], model: Any, pad: int, extra: int) -> tuple:
    """:func:`~advisor.forward.prefill.prefill`, except inside a reuse block: prompts
    whose prefill it kept start from it (the others are prefilled alone and the batch is
    rebuilt from rows), and the prompts it asks to keep are kept
    (:mod:`advisor.forward.handoff`)."""
    rows = [handoff.handed(model, s) for s in seqs]
    if any(row is not None for row in rows):
        fresh = [k for k, row in enumerate(rows) if row is None]
        cut: list[handoff.RowPrefill] | None = []
        if fresh:
            alone = prefill([seqs[k] for k in fresh], model, pad, extra)
            cut = handoff.rows_of(*alone, range(len(fresh)))
        if cut is not None:
            for k, row in zip(fresh, cut, strict=True):
                rows[k] = row
            width = max(row.mask.shape[0] for row in rows)  # type: ignore[union-attr]
            if window_allows_holes(model, width + extra):
                return handoff.merged(model, rows)
    prefilled = prefill(seqs, model, pad, extra)
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
        for batch in batches(by_template(seqs), batch_size, lengths_of(seqs)):
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
