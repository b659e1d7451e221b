"""What one model produces on a list of items: the raw material every comparison reads.

A :class:`Recording` holds, per item, only compact states from which every measured
quantity is rebuilt exactly: the residual stream at the last prompt token and mean-pooled
(per stream, fp32), the candidate scores of choice items, and for generative items the
greedy continuation with its pre-norm last-stream state at each step. Logits are never
stored — ``head_logits(model, state)`` rebuilds them (``d`` numbers per position instead of
``V``: 576 vs 49,152 for SmolLM2) — which is what keeps the dense cache small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from advisor import forward
from advisor.models import anatomy
from advisor.suites.items import Item


@dataclass
class Recording:
    """One model's outputs on items ``0..N-1`` (see module docstring).

    ``choice[i]``: candidate log-likelihoods — full-softmax next-token log-probs in token
    mode, summed continuation log-likelihoods in continuation mode — or ``None``;
    ``choice_tokens[i]``: tokens per candidate (1 in token mode). ``gen_*[i]``: the greedy
    continuation (``None`` for items not decoded). ``forced_hidden[i]``: the last-stream
    states along a continuation forced by the caller (the dense model's, for the pruned
    side), row ``t`` predicting its token ``t``.
    """

    last: torch.Tensor
    mean: torch.Tensor
    choice: list[list[float] | None] = field(default_factory=list)
    choice_tokens: list[list[int] | None] = field(default_factory=list)
    prompt_ids: list[list[int]] = field(default_factory=list)
    gen_tokens: list[list[int] | None] = field(default_factory=list)
    gen_hidden: list[torch.Tensor | None] = field(default_factory=list)
    gen_ended: list[bool | None] = field(default_factory=list)
    forced_hidden: list[torch.Tensor | None] = field(default_factory=list)


def record_model(
    model: Any,
    tokenizer: Any,
    items: list[Item],
    *,
    horizon: int,
    generate: list[bool],
    forced: list[list[int] | None] | None = None,
    batch_size: int = 8,
) -> Recording:
    """Run ``model`` on ``items``: one prompt forward each, candidate scoring, and greedy
    decoding of ``horizon`` tokens for the items flagged in ``generate``.

    A decoded item's prompt is run once: its prefill gives the stream summaries, its KV
    cache seeds the decoding and (with ``forced``, one continuation per decoded item) the
    teacher-forced read of the forced continuation.
    """
    prompts = [item.prompt for item in items]
    gen_items = [i for i, flag in enumerate(generate) if flag] if horizon > 0 else []
    plain = [i for i in range(len(items)) if i not in set(gen_items)]
    rec = Recording(last=torch.empty(0), mean=torch.empty(0))
    rec.gen_tokens = [None] * len(items)
    rec.gen_hidden = [None] * len(items)
    rec.gen_ended = [None] * len(items)
    rec.forced_hidden = [None] * len(items)
    last: list[torch.Tensor | None] = [None] * len(items)
    mean: list[torch.Tensor | None] = [None] * len(items)
    if plain:
        states = forward.prompt_states(
            model, tokenizer, [prompts[i] for i in plain], batch_size=batch_size
        )
        for k, i in enumerate(plain):
            last[i], mean[i] = states.last[k], states.mean[k]
    if gen_items:
        decoded = forward.decode(
            model,
            tokenizer,
            [prompts[i] for i in gen_items],
            horizon,
            forced=[forced[i] for i in gen_items] if forced is not None else None,  # type: ignore[misc]
            batch_size=max(batch_size, forward.DECODE_BATCH),
        )
        for k, i in enumerate(gen_items):
            last[i], mean[i] = decoded.states.last[k], decoded.states.mean[k]
            rec.gen_tokens[i] = decoded.generation.tokens[k]
            rec.gen_hidden[i] = decoded.generation.hidden[k]
            rec.gen_ended[i] = decoded.generation.ended[k]
            if decoded.forced is not None:
                rec.forced_hidden[i] = decoded.forced[k]
    rec.last = torch.stack(last)  # type: ignore[arg-type]
    rec.mean = torch.stack(mean)  # type: ignore[arg-type]
    rec.prompt_ids = [forward.encode(tokenizer, p) for p in prompts]

    rec.choice = [None] * len(items)
    rec.choice_tokens = [None] * len(items)
    token_items = [
        i for i, it in enumerate(items) if it.candidates and it.candidate_mode == "tokens"
    ]
    for i in token_items:
        ids = torch.as_tensor(forward.candidate_token_ids(tokenizer, items[i].candidates))
        # The prompt's next-token logits are the last stream's head output: no new forward.
        logp = torch.log_softmax(anatomy.head_logits(model, rec.last[i, -1]), -1)
        rec.choice[i] = logp[ids].tolist()
        rec.choice_tokens[i] = [1] * len(ids)
    cont_items = [
        i for i, it in enumerate(items) if it.candidates and it.candidate_mode == "continuation"
    ]
    if cont_items:
        scores = forward.continuation_logprobs(
            model,
            tokenizer,
            [items[i].prompt for i in cont_items],
            [list(items[i].candidates) for i in cont_items],
            batch_size=batch_size,
        )
        for i, row in zip(cont_items, scores, strict=True):
            rec.choice[i] = [s.logprob for s in row]
            rec.choice_tokens[i] = [s.n_tokens for s in row]
    return rec
