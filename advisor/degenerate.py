"""Is a pruned model broken outright? A cheap probe run before any measurement.

Aggressive pruning can leave a model whose outputs are NaN / inf (nothing downstream can
be measured) or that no longer reads its input: the same next-token distribution for
every prompt, or greedy text that is one token repeated (e.g. magnitude sparsity 0.99 on
a tied-embedding model, which then echoes its last input token). Such a model is no-go for
every task type, whatever the rules say; the probe names what is wrong instead of letting
the measurement crash or average over garbage.

Each check is relative to the dense model, so a dense model that itself repeats tokens
(a tiny random test model does) does not make its pruned copy "degenerate".
"""

from __future__ import annotations

from typing import Any

import torch

PROBES = (
    "The history of the city begins in the early medieval period, when",
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:",
    "The river flows north through the valley and reaches the sea near",
    "Review: a warm, funny and beautifully acted film.\nSentiment:",
)
STEPS = 12
# Next-token log-probabilities closer than this across all probes count as identical.
CONSTANT_ATOL = 1e-5


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def _last_logprobs(model: Any, tokenizer: Any) -> list[torch.Tensor]:
    rows = []
    for prompt in PROBES:
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(_device(model))
        rows.append(model(input_ids=ids).logits[0].float().cpu())
    return rows


def _constant(logits: list[torch.Tensor]) -> bool:
    last = [torch.log_softmax(row[-1], -1) for row in logits]
    return all(torch.allclose(last[0], other, atol=CONSTANT_ATOL, rtol=0) for other in last[1:])


def _collapsed(model: Any, tokenizer: Any) -> bool:
    from advisor.forward import greedy_generate

    generated = greedy_generate(model, tokenizer, list(PROBES), STEPS, stop_at_eos=False)
    return all(len(set(tokens)) <= 1 for tokens in generated.tokens)


def degeneracy(dense: Any, pruned: Any) -> str | None:
    """Why the pruned model is degenerate, in one sentence, or None when it is not.

    ``dense`` and ``pruned`` are LoadedModel-likes (``.model``, ``.tokenizer``); the dense
    tokenizer is used for both.
    """
    tokenizer = dense.tokenizer
    pruned_logits = _last_logprobs(pruned.model, tokenizer)
    if not all(torch.isfinite(row).all() for row in pruned_logits):
        return (
            "the pruned model's outputs are NaN or infinite on ordinary prompts, so it cannot "
            "produce text at all; nothing further was measured."
        )
    if _constant(pruned_logits) and not _constant(_last_logprobs(dense.model, tokenizer)):
        return (
            "the pruned model's output does not depend on its input: it gives the same "
            "next-token distribution for every prompt, so it cannot do any task."
        )
    if _collapsed(pruned.model, tokenizer) and not _collapsed(dense.model, tokenizer):
        return (
            f"the pruned model has collapsed: on every probe prompt its next {STEPS} greedy "
            f"tokens are one token repeated (the dense model's are not)."
        )
    return None
