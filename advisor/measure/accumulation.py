"""Generation accumulation: how the dense–pruned deviation grows over greedy decoding steps.

Both models decode greedily for a horizon H from the same prompt. Two per-step KLs (at
T = 1, the models' own distributions; decoding is greedy) are compared:

* **teacher-forced** ``KL_tf(t) = KL(p_dense(·|x, y≤t) ‖ p_pruned(·|x, y≤t))`` with ``y``
  the *dense* continuation — the pruned model never sees its own mistakes, so this is the
  per-step error without feedback (what llama.cpp's ``--kl-divergence`` measures);
* **free-running** ``KL_free(t) = KL(p_dense(·|x, y≤t) ‖ p_pruned(·|x, y'≤t))`` with ``y'``
  the pruned model's *own* continuation — the error it actually ships with.

Until the first differing token both histories are identical, so ``KL_free = KL_tf``; after
it they condition on different texts and the gap is the accumulated error (docs/design.md §2).

**Accumulation score** (per item)::

    A = (1/n) Σ_{t<n} [ log(1 + KL_free(t)) − log(1 + KL_tf(t)) ]

over the n steps where both continuations are still running. Why this form: it is exactly
0 for identical models (and for any pair whose greedy outputs never differ, whatever their
per-step error), positive when feeding back its own tokens makes the pruned model worse
than its one-step error predicts, and the log1p keeps one catastrophic step (KL of 15–47
nats in the paper) from outweighing the rest while staying ≈ KL for small values. It is a
mean per step, in nats-like units, so different horizons are comparable.

Default horizon H = 48: on SmolLM2-135M the first divergence comes after ~2–10 tokens
(docs/design.md §5a), so 48 steps leave tens of post-divergence steps for the slope and the
score, while two greedy decodes of 48 tokens per item keep a calibration run to seconds
per item on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from advisor.measure import divergence
from advisor.models import anatomy

DEFAULT_HORIZON = 48
KL_FLOOR = 1e-6  # KL below a micro-nat is float noise; the log-KL slope is floored there.
REPEAT_N = 3


def repetition_rate(tokens: Sequence[int], n: int = REPEAT_N) -> float:
    """Share of the n-grams in ``tokens`` that repeat an earlier one (0 = no repetition)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


def first_divergence(dense: Sequence[int], pruned: Sequence[int]) -> int | None:
    """The first step where the two continuations differ, or None if they are identical."""
    for t, (a, b) in enumerate(zip(dense, pruned, strict=False)):
        if a != b:
            return t
    return None if len(dense) == len(pruned) else min(len(dense), len(pruned))


def token_agreement(dense: Sequence[int], pruned: Sequence[int], horizon: int) -> float:
    """Share of the ``horizon`` positions holding the same token; a position after a
    continuation's end counts as 'ended', which agrees only with 'ended'."""
    pad = [-1] * horizon
    a = (list(dense) + pad)[:horizon]
    b = (list(pruned) + pad)[:horizon]
    return sum(x == y for x, y in zip(a, b, strict=True)) / horizon if horizon else 1.0


def log_kl_slope(values: Sequence[float]) -> float:
    """Least-squares slope of ln(max(KL, KL_FLOOR)) against the step index (0 if < 2 steps)."""
    n = len(values)
    if n < 2:
        return 0.0
    ys = [math.log(max(v, KL_FLOOR)) for v in values]
    mx = (n - 1) / 2
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in range(n))
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sxx


def accumulation_score(kl_tf: Sequence[float], kl_free: Sequence[float]) -> float:
    """A = mean over common steps of log1p(KL_free) − log1p(KL_tf) (module docstring)."""
    n = min(len(kl_tf), len(kl_free))
    if n == 0:
        return 0.0
    return sum(math.log1p(kl_free[t]) - math.log1p(kl_tf[t]) for t in range(n)) / n


def compare_generations(
    dense_model: Any,
    pruned_model: Any,
    dense_tokens: Sequence[int],
    dense_hidden: torch.Tensor,
    forced_hidden: torch.Tensor,
    pruned_tokens: Sequence[int],
    pruned_hidden: torch.Tensor,
    horizon: int,
) -> dict[str, Any]:
    """Per-step and summary accumulation measures of one item (JSON-ready).

    ``dense_hidden``/``pruned_hidden``: each model's per-step states along its own greedy
    continuation; ``forced_hidden``: the pruned model's states along the dense one. Logits
    are rebuilt here one item at a time, so at most three ``[H, V]`` tensors live at once.
    """
    with torch.inference_mode():
        z_dense = anatomy.head_logits(dense_model, dense_hidden)
        z_forced = anatomy.head_logits(pruned_model, forced_hidden)
        z_free = anatomy.head_logits(pruned_model, pruned_hidden)
        common = min(len(dense_tokens), len(pruned_tokens))
        kl_tf = divergence.kl_logits(z_dense, z_forced).tolist()
        kl_free = divergence.kl_logits(z_dense[:common], z_free[:common]).tolist()
        forced_top1 = (z_forced.argmax(-1) == torch.as_tensor(list(dense_tokens))).tolist()
    diverged_at = first_divergence(dense_tokens, pruned_tokens)
    late = kl_free[len(kl_free) // 2 :]
    rep_d = repetition_rate(dense_tokens)
    rep_p = repetition_rate(pruned_tokens)
    return {
        "steps_dense": len(dense_tokens),
        "steps_pruned": len(pruned_tokens),
        "kl_teacher_forced": kl_tf,
        "kl_free_running": kl_free,
        "top1_teacher_forced": [int(x) for x in forced_top1],
        "first_divergence": diverged_at,
        # Censored at the horizon when the continuations never differ, for averaging.
        "first_divergence_or_horizon": horizon if diverged_at is None else diverged_at,
        "token_agreement": token_agreement(dense_tokens, pruned_tokens, horizon),
        "top1_agreement_teacher_forced": sum(forced_top1) / max(len(forced_top1), 1),
        "kl_tf_mean": sum(kl_tf) / max(len(kl_tf), 1),
        "kl_free_mean": sum(kl_free) / max(len(kl_free), 1),
        "kl_free_step0": kl_free[0] if kl_free else 0.0,
        "kl_free_late": sum(late) / max(len(late), 1),
        "log_kl_slope_tf": log_kl_slope(kl_tf),
        "log_kl_slope_free": log_kl_slope(kl_free),
        "length_ratio": len(pruned_tokens) / max(len(dense_tokens), 1),
        "repetition_dense": rep_d,
        "repetition_pruned": rep_p,
        "repetition_inflation": rep_p - rep_d,
        "accumulation_score": accumulation_score(kl_tf, kl_free),
    }


EXAMPLES_PER_TASK = 2


def example_pairs(rows: list[dict[str, Any]], items: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's example text pairs: dense and pruned greedy texts of the first
    EXAMPLES_PER_TASK decoded items per task type (``rows``: measured items with their
    ``accumulation``; ``items``: the suite items by id), prompts cut to their last 400
    characters."""
    picked: dict[str, int] = {}
    examples = []
    for row in rows:
        acc = row.get("accumulation")
        if not acc or picked.get(row["task"], 0) >= EXAMPLES_PER_TASK:
            continue
        picked[row["task"]] = picked.get(row["task"], 0) + 1
        examples.append(
            {
                "task": row["task"],
                "id": row["id"],
                "prompt_tail": items[row["id"]].prompt[-400:],
                "dense": acc["dense_text"],
                "pruned": acc["pruned_text"],
                "first_divergence": acc.get("first_divergence"),
            }
        )
    return examples
