"""Aggregates of per-item measurements: mean, median, p90 and worst per scalar, per-layer
and per-step means, and how each model answers a task's choice items."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

# Direction of each scalar: "up" = higher is closer to dense, "down" = lower is, a number
# = closer to that value is. It decides which value is the "worst" in an aggregate.
SCALARS: dict[str, dict[str, str | float]] = {
    "embedding": {
        "cos_last_final": "up",
        "cos_last_layers": "up",
        "cos_mean_final": "up",
        "cos_mean_layers": "up",
        "orth_energy_final": "down",
    },
    "logit": {
        "cos_logits": "up",
        "dz_std": "down",
        "dz_std_p": "down",
        "lens_cos_layers": "up",
        "lens_kl_layers": "down",
    },
    "probability": {
        "kl_t1": "down",
        "kl_est_t1": "down",
        "kl_T": "down",
        "kl_est_T": "down",
        "js": "down",
        "cos_probs": "up",
        "top1_agree": "up",
        "topk_overlap": "up",
        "dp_top": 0.0,
    },
    "subspace": {
        "kl": "down",
        "argmax_agree": "up",
        "margin_change": 0.0,
        "dense_correct": "up",
        "pruned_correct": "up",
    },
    "accumulation": {
        "accumulation_score": "down",
        "first_divergence_or_horizon": "up",
        "token_agreement": "up",
        "top1_agreement_teacher_forced": "up",
        "kl_tf_mean": "down",
        "kl_free_mean": "down",
        "kl_free_step0": "down",
        "kl_free_late": "down",
        "log_kl_slope_free": "down",
        "length_ratio": 1.0,
        "repetition_inflation": 0.0,
    },
}
PER_LAYER = {
    "embedding": ("cos_last", "cos_mean", "orth_energy_last"),
    "logit": ("lens_cos", "lens_kl", "lens_top1"),
}


# --------------------------------------------------------------------------- aggregates


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise(values: list[float], direction: str | float) -> dict[str, float | int]:
    """mean, median, p90 (90th percentile by linear interpolation), worst and n."""
    if direction == "up":
        worst = min(values)
    elif direction == "down":
        worst = max(values)
    else:
        worst = max(values, key=lambda v: abs(v - float(direction)))
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "p90": _quantile(values, 0.9),
        "worst": worst,
        "n": len(values),
    }


def _answer_shares(choices: list[int]) -> dict[str, float]:
    counts = Counter(choices)
    return {str(k): counts[k] / len(choices) for k in sorted(counts)}


def subspace_answers(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How each model answers a task's choice items, so degenerate answering shows.

    Shares of each candidate position, the majority share, agreement, the agreement two
    models with these answer shares would reach by chance, and Cohen's kappa (None when
    chance agreement is 1, e.g. both always answer the first candidate).
    """
    dense = [r["dense_choice"] for r in rows]
    pruned = [r["pruned_choice"] for r in rows]
    share_d, share_p = _answer_shares(dense), _answer_shares(pruned)
    agree = sum(a == b for a, b in zip(dense, pruned, strict=True)) / len(rows)
    chance = sum(share_d[k] * share_p.get(k, 0.0) for k in share_d)
    out: dict[str, Any] = {
        "dense_answer_shares": share_d,
        "pruned_answer_shares": share_p,
        "dense_majority_share": max(share_d.values()),
        "pruned_majority_share": max(share_p.values()),
        "agreement": agree,
        "chance_agreement": chance,
        "kappa": None if chance >= 1.0 - 1e-12 else (agree - chance) / (1.0 - chance),
    }
    gold = [r for r in rows if r.get("gold") is not None]
    if gold:
        out["dense_accuracy"] = statistics.fmean(r["dense_correct"] for r in gold)
        out["pruned_accuracy"] = statistics.fmean(r["pruned_correct"] for r in gold)
        out["n_gold"] = len(gold)
    return out


def _per_index_mean(lists: list[list[float]]) -> dict[str, list[float]]:
    width = max(len(v) for v in lists)
    means, counts = [], []
    for k in range(width):
        column = [v[k] for v in lists if len(v) > k]
        means.append(statistics.fmean(column))
        counts.append(len(column))
    return {"mean": means, "n": counts}


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregates of a list of per-item results (one task type): scalars, layers, steps."""
    out: dict[str, Any] = {"n_items": len(rows)}
    for space, metrics in SCALARS.items():
        present = [r[space] for r in rows if r.get(space)]
        if not present:
            continue
        block: dict[str, Any] = {}
        for name, direction in metrics.items():
            values = [p[name] for p in present if p.get(name) is not None]
            if values:
                block[name] = summarise(values, direction)
        for name in PER_LAYER.get(space, ()):
            block[f"{name}_per_layer"] = _per_index_mean([p[name] for p in present])["mean"]
        if space == "subspace":
            block["answers"] = subspace_answers(present)
        if space == "accumulation":
            for name in ("kl_teacher_forced", "kl_free_running"):
                series = [p[name] for p in present if p[name]]
                block[f"{name}_per_step"] = (
                    _per_index_mean(series) if series else {"mean": [], "n": []}
                )
            diverged = [p["first_divergence"] is not None for p in present]
            block["diverged_share"] = sum(diverged) / len(diverged)
        out[space] = block
    return out
