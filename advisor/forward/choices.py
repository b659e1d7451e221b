"""Scoring a choice item's candidates: option texts as continuations, or next tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from advisor.forward.batching import (
    Prompt,
    batches,
    encode,
    feed_branches,
    lengths_of,
    pad_id,
    remember_states,
)
from advisor.forward.prefill import by_template, prefill, prompt_states
from advisor.forward.reuse import memoised
from advisor.models import anatomy


@dataclass(frozen=True)
class OptionScore:
    """Log-likelihood of one option text as a continuation of its prompt (lm-eval style).

    ``logprob`` is the sum over the option's tokens, ``mean_logprob`` the per-token mean
    (length-normalised), ``is_greedy`` whether greedy decoding would produce exactly it.
    """

    logprob: float
    n_tokens: int
    is_greedy: bool

    @property
    def mean_logprob(self) -> float:
        """Per-token (length-normalised) log-likelihood."""
        return self.logprob / self.n_tokens


def split_continuation(tokenizer: Any, prompt: str, option: str) -> tuple[list[int], list[int]]:
    """Token ids of ``prompt`` and of ``option`` continuing it, the lm-eval way.

    Trailing spaces of the prompt move to the option, the pair is tokenised together and
    the option's tokens are what follows the prompt's own tokens — so a word boundary is
    tokenised as it would be in running text.
    """
    stripped = prompt.rstrip(" ")
    option = prompt[len(stripped) :] + option
    context = encode(tokenizer, stripped)
    whole = encode(tokenizer, stripped + option)
    if whole[: len(context)] != context or len(whole) == len(context):
        # Tokenisation merged across the boundary (or the option is empty): fall back to
        # tokenising the option on its own, which is what the model would see appended.
        return context, list(tokenizer(option, add_special_tokens=False).input_ids)
    return context, whole[len(context) :]


@torch.inference_mode()
def _prefix_shared_states(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[Sequence[int]],
    conts: Sequence[Sequence[Sequence[int]]],
    batch_size: int,
) -> list[list[torch.Tensor]]:
    """Pre-norm final states predicting each option's tokens, the prompt run only once.

    Each batch of prompts is run with a KV cache; the cache is then replicated once per
    option (``reorder_cache`` with repeated row indices) and the options' tokens are fed
    right-padded after it, with positions continuing from each prompt's real length. An
    item with four options costs one prompt forward plus the options' own tokens instead
    of four full prompt+option forwards.
    """
    pad = pad_id(tokenizer)
    out: list[list[torch.Tensor | None]] = [[None] * len(c) for c in conts]
    for batch in batches(by_template(contexts), batch_size, lengths_of(contexts)):
        longest = max((len(o) for i in batch for o in conts[i]), default=0)
        cache, mask, pos, prompt_last, prompt_mean = prefill(
            [contexts[i] for i in batch], model, pad, longest
        )
        # The prompt pass is the one the report's hierarchy reads: kept for reuse.
        for r, i in enumerate(batch):
            remember_states(model, contexts[i], prompt_last[r].cpu(), prompt_mean[r].cpu())
        first = prompt_last[:, -1]  # predicts every option's first token
        # Options of one token need nothing more; the rest feed all but their last token.
        rows = [
            (r, i, j)
            for r, i in enumerate(batch)
            for j in range(len(conts[i]))
            if len(conts[i][j]) >= 2
        ]
        feeds = [conts[i][j][:-1] for _, i, j in rows]
        states = feed_branches(model, cache, mask, pos, [r for r, _, _ in rows], feeds, pad)
        where = {(i, j): k for k, (_, i, j) in enumerate(rows)}
        for r, i in enumerate(batch):
            for j in range(len(conts[i])):
                hidden = first[r : r + 1]
                if (i, j) in where:
                    hidden = torch.cat([hidden, states[where[i, j]]])
                out[i][j] = hidden.cpu()
        del cache
    return out  # type: ignore[return-value]


def continuation_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    options: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[OptionScore]]:
    """Score every option text of every prompt as a continuation (lm-eval ``loglikelihood``).

    Returns ``scores[i][j]`` for option ``j`` of prompt ``i``. The prompt is run once per
    item and shared by its options through the KV cache; only the log-probabilities of the
    option tokens are gathered, and no full-vocabulary tensor outlives its option.
    """
    if len(prompts) != len(options):
        raise ValueError("prompts and options must have the same length.")
    contexts: list[list[int]] = []
    conts: list[list[list[int]]] = []
    for i, (prompt, opts) in enumerate(zip(prompts, options, strict=True)):
        row = []
        context: list[int] = []
        for j, opt in enumerate(opts):
            context, cont = split_continuation(tokenizer, prompt, opt)
            if not cont:
                raise ValueError(f"Option {j} of prompt {i} tokenises to nothing.")
            row.append(cont)
        if not opts:
            context = encode(tokenizer, prompt.rstrip(" "))
        contexts.append(context)
        conts.append(row)
    keys = [
        ("options", tuple(c), tuple(map(tuple, o))) for c, o in zip(contexts, conts, strict=True)
    ]

    def scored(todo: list[int]) -> list[list[OptionScore]]:
        states = _prefix_shared_states(
            model, tokenizer, [contexts[i] for i in todo], [conts[i] for i in todo], batch_size
        )
        rows = []
        with torch.inference_mode():
            for i, row_states in zip(todo, states, strict=True):
                row_scores = []
                for hidden, cont in zip(row_states, conts[i], strict=True):
                    logprobs = torch.log_softmax(anatomy.head_logits(model, hidden), dim=-1)
                    targets = torch.as_tensor(cont)
                    picked = logprobs.gather(-1, targets[:, None]).squeeze(-1)
                    greedy = bool((logprobs.argmax(-1) == targets).all())
                    row_scores.append(OptionScore(float(picked.sum()), len(targets), greedy))
                rows.append(row_scores)
        return rows

    return memoised(model, keys, scored)


def candidate_token_ids(tokenizer: Any, candidates: Sequence[str]) -> list[int]:
    """The token id of each candidate label/option (``candidate_mode="tokens"``).

    Each candidate must be a single token of this tokenizer (e.g. ``" A"``); otherwise the
    next-token distribution cannot represent it and the item should use continuation mode.
    """
    ids = []
    for cand in candidates:
        toks = tokenizer(cand, add_special_tokens=False).input_ids
        if len(toks) != 1:
            raise ValueError(
                f"Candidate {cand!r} is {len(toks)} tokens for this tokenizer; token-mode "
                f"candidates must be single tokens. Score it as a continuation instead."
            )
        ids.append(int(toks[0]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"Candidates {list(candidates)!r} map to repeated token ids {ids}.")
    return ids


def candidate_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    candidates: Sequence[Sequence[str]],
    *,
    batch_size: int = 8,
) -> list[list[float]]:
    """Next-token log-probabilities (full softmax) of each prompt's candidate tokens.

    Not renormalised: ``advisor.measure`` renormalises over the candidates.
    """
    states = prompt_states(model, tokenizer, prompts, batch_size=batch_size)
    out = []
    for logits, cands in zip(states.logits, candidates, strict=True):
        ids = torch.as_tensor(candidate_token_ids(tokenizer, cands))
        out.append(torch.log_softmax(logits, -1)[ids].tolist())
    return out
