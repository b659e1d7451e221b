"""Per-token decoding latency, dense against pruned, measured the same way for both."""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import DynamicCache

from advisor import forward
from advisor.models.loading import LoadedModel


@torch.inference_mode()
def ms_per_token(model: Any, prompt: torch.Tensor, tokens: int) -> float:
    """Greedy decoding with a KV cache, batch 1: wall-clock ms per decoded token."""

    kw = {forward.cache_kwarg(model): DynamicCache(config=model.config), "use_cache": True}
    next_id = model(prompt, **kw).logits[:, -1:].argmax(-1)
    start = time.perf_counter()
    for _ in range(tokens):
        logits = model(next_id, **kw).logits
        next_id = logits[:, -1:].argmax(-1)
    return (time.perf_counter() - start) / tokens * 1000


def paired_latency(
    dense: LoadedModel, pruned: Any, prompt: torch.Tensor, tokens: int = 16, rounds: int = 3
) -> dict[str, float]:
    """Dense and pruned ms/token, each the best of ``rounds`` runs taken alternately so
    both see the same load on a shared machine, and the speed-up (dense / pruned)."""
    dense_ms, pruned_ms = [], []
    for _ in range(rounds):
        dense_ms.append(ms_per_token(dense, prompt, tokens))
        pruned_ms.append(ms_per_token(pruned, prompt, tokens))
    d, p = min(dense_ms), min(pruned_ms)
    return {
        "dense_ms_per_token": d,
        "pruned_ms_per_token": p,
        "speedup": d / p,
        "tokens": tokens,
        "rounds": rounds,
    }


SPEED_PROMPT = "The history of the city begins in the early medieval period, when"
LATENCY_TOKENS = 4
LATENCY_ROUNDS = 2
LATENCY_MEMO = "dense_ms_per_token"


def _prompt(dense: LoadedModel) -> torch.Tensor:
    return dense.tokenizer(SPEED_PROMPT, return_tensors="pt").input_ids


def dense_latency(dense: LoadedModel) -> float:
    """The dense model's ms/token, measured now and kept in ``dense.extra``: what
    :func:`latency` then compares with when the dense model is no longer loaded."""
    prompt = _prompt(dense)
    rounds = [ms_per_token(dense.model, prompt, LATENCY_TOKENS) for _ in range(LATENCY_ROUNDS)]
    dense.extra[LATENCY_MEMO] = min(rounds)
    return dense.extra[LATENCY_MEMO]


def latency(dense: LoadedModel, pruned_model: Any) -> dict[str, float]:
    """Dense and pruned ms/token over :data:`LATENCY_TOKENS` tokens: paired
    (:func:`paired_latency`), or against the dense speed kept by :func:`dense_latency`."""
    kept = getattr(dense, "extra", {}).get(LATENCY_MEMO)
    prompt = _prompt(dense)
    if kept is None:
        return paired_latency(dense.model, pruned_model, prompt, LATENCY_TOKENS, LATENCY_ROUNDS)
    pruned = min(ms_per_token(pruned_model, prompt, LATENCY_TOKENS) for _ in range(LATENCY_ROUNDS))
    return {
        "dense_ms_per_token": kept,
        "pruned_ms_per_token": pruned,
        "speedup": kept / pruned,
        "tokens": LATENCY_TOKENS,
        "rounds": LATENCY_ROUNDS,
    }
