"""The representation hierarchy of a pruned model against its dense original (DESIGN.md §2–3).

For every item: the embedding space (residual stream per layer), the logit space (final
logits and the per-layer logit lens, final norm applied), the probability space
(next-token distribution at the end of the prompt), the categorical subspace of choice
items, and for generative items the accumulation of error over greedy decoding
(:mod:`advisor.accumulation`). Results are a tidy JSON-ready :class:`Measurements`: per
item, per layer and per step, plus aggregates (mean, median, p90, worst) per task type.

Dense outputs are cached on disk (:mod:`advisor.dense_cache`), so measuring a second
pruned configuration against the same dense model and items runs only the pruned model.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from advisor import __version__, accumulation, dense_cache, divergence, forward
from advisor.items import Item, items_hash
from advisor.side import SideOutputs, is_generative, run_side

LENS_NOTE = (
    "logit lens: lm_head(final_norm(h)) of each layer's residual stream at the last prompt "
    "token — the model's final norm is applied before the output head"
)
STREAM_NOTE = (
    "stream k = residual stream after dense block k-1 (stream 0 = input to block 0); a "
    "block-dropped model is compared at the stream after its last kept block <= k-1"
)
DEFAULT_TOP_K = 10

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


# --------------------------------------------------------------------------- alignment


def layer_alignment(dense_blocks: int, pruned_model: Any) -> list[int]:
    """For each dense stream k (0..dense_blocks), the pruned stream to compare it with.

    Reads ``config.prune_advisor["dropped_layers"]`` (original indices of removed blocks;
    the kept blocks stay in order). Without it, streams align one to one.
    """
    info = getattr(pruned_model.config, "prune_advisor", None) or {}
    dropped = sorted(set(info.get("dropped_layers") or []))
    pruned_blocks = len(forward.decoder_layers(pruned_model))
    if pruned_blocks + len(dropped) != dense_blocks:
        raise ValueError(
            f"The pruned model runs {pruned_blocks} blocks and declares {len(dropped)} dropped, "
            f"but the dense model has {dense_blocks}: their layers cannot be aligned."
        )
    kept = [i for i in range(dense_blocks) if i not in set(dropped)]
    # Stream after original block i = stream after the last kept block <= i, i.e. the
    # pruned stream numbered by how many kept blocks are <= i (0 = block-0 input).
    return [0] + [sum(1 for b in kept if b <= i) for i in range(dense_blocks)]


# --------------------------------------------------------------------------- per item


def _floats(t: torch.Tensor) -> list[float]:
    return [float(x) for x in t.tolist()]


def embedding_space(
    last_d: torch.Tensor,
    mean_d: torch.Tensor,
    last_p: torch.Tensor,
    mean_p: torch.Tensor,
    align: Sequence[int],
) -> dict[str, Any]:
    """Per-stream cosine (last token, mean-pooled) and orthogonal energy, plus summaries.

    ``*_d``: ``[n_dense, d]``; ``*_p``: ``[n_pruned, d]``; ``align[k]`` the pruned stream of
    dense stream k. ``*_layers`` summaries average streams 1.. (stream 0, the embedding
    lookup, is identical unless the embeddings themselves are pruned).
    """
    idx = torch.as_tensor(list(align))
    cos_last = divergence.cosine(last_d, last_p[idx])
    cos_mean = divergence.cosine(mean_d, mean_p[idx])
    orth = divergence.orthogonal_energy(last_d, last_p[idx])
    return {
        "cos_last": _floats(cos_last),
        "cos_mean": _floats(cos_mean),
        "orth_energy_last": _floats(orth),
        "cos_last_final": float(cos_last[-1]),
        "cos_last_layers": float(cos_last[1:].mean()),
        "cos_mean_final": float(cos_mean[-1]),
        "cos_mean_layers": float(cos_mean[1:].mean()),
        "orth_energy_final": float(orth[-1]),
    }


def logit_lens(model: Any, streams: torch.Tensor) -> torch.Tensor:
    """``[n, V]`` logit lens of ``[n, d]`` residual-stream states: the model's own final norm
    and head applied to each (:data:`LENS_NOTE`)."""
    return forward.head_logits(model, streams)


LENS_BYTES = 64 * 2**20  # logit-lens logits held at once, per model


def lens_groups(n_items: int, streams: int, vocab: int) -> list[list[int]]:
    """Consecutive item indices, grouped so that one group's ``[G, streams, vocab]`` fp32
    logit lens stays within :data:`LENS_BYTES` (at least one item per group)."""
    size = max(1, LENS_BYTES // max(1, streams * vocab * 4))
    return [list(range(s, min(s + size, n_items))) for s in range(0, n_items, size)]


def logit_space(lens_dense: torch.Tensor, lens_pruned: torch.Tensor) -> dict[str, Any]:
    """Final-logit cosine and Δz spread, and per-layer logit-lens cosine, KL and top-1.

    ``lens_*``: ``[L, V]`` lens logits of the aligned streams 1..L (the last row is each
    model's final logits).
    """
    z_d, z_p = lens_dense[-1], lens_pruned[-1]
    spread = divergence.delta_z_spread(z_d, z_p)
    lens_cos = divergence.cosine(lens_dense, lens_pruned)
    lens_kl = divergence.kl_logits(lens_dense, lens_pruned)
    lens_top1 = (lens_dense.argmax(-1) == lens_pruned.argmax(-1)).double()
    return {
        "cos_logits": float(lens_cos[-1]),
        "dz_std": float(spread["dz_std"]),
        "dz_std_p": float(spread["dz_std_p"]),
        "lens_cos": _floats(lens_cos),
        "lens_kl": _floats(lens_kl),
        "lens_top1": _floats(lens_top1),
        "lens_cos_layers": float(lens_cos.mean()),
        "lens_kl_layers": float(lens_kl.mean()),
    }


def probability_space(
    z_dense: torch.Tensor, z_pruned: torch.Tensor, temperature: float, top_k: int = DEFAULT_TOP_K
) -> dict[str, Any]:
    """Next-token distributions: KL at T=1 and at ``temperature`` with their second-order
    estimates Var_p(Δz)/2T², JS, cosine, top-1 agreement, top-k overlap, Δp of the dense
    top token (pruned minus dense probability, T=1)."""
    logp = divergence.log_probs(z_dense)
    logq = divergence.log_probs(z_pruned)
    top = int(z_dense.argmax())
    return {
        "kl_t1": float(divergence.kl(logp, logq)),
        "kl_est_t1": float(divergence.kl_second_order(z_dense, z_pruned, 1.0)),
        "kl_T": float(divergence.kl_logits(z_dense, z_pruned, temperature)),
        "kl_est_T": float(divergence.kl_second_order(z_dense, z_pruned, temperature)),
        "js": float(divergence.js(logp, logq)),
        "cos_probs": float(divergence.cosine(logp.exp(), logq.exp())),
        "top1_agree": float(top == int(z_pruned.argmax())),
        "topk_overlap": float(divergence.topk_overlap(z_dense, z_pruned, top_k)),
        "dp_top": float(logq[top].exp() - logp[top].exp()),
        "dense_top_token": top,
        "pruned_top_token": int(z_pruned.argmax()),
    }


def choice_scores(logprobs: Sequence[float], n_tokens: Sequence[int], norm: str) -> torch.Tensor:
    """Per-candidate log-scores: summed log-likelihood (``"sum"``) or per token (``"mean"``,
    lm-eval's length normalisation; token-mode candidates are one token, so both agree)."""
    lp = torch.as_tensor(list(logprobs), dtype=torch.float64)
    if norm == "mean":
        return lp / torch.as_tensor(list(n_tokens), dtype=torch.float64)
    if norm == "sum":
        return lp
    raise ValueError(f"choice_norm must be 'mean' or 'sum', not {norm!r}.")


def subspace(
    scores_dense: torch.Tensor, scores_pruned: torch.Tensor, gold: int | None
) -> dict[str, Any]:
    """The categorical subspace: both models' distributions renormalised over the candidates.

    ``margin_*``: log-odds of the dense model's choice against the best other candidate, in
    each model; ``margin_change`` = pruned − dense (negative: the pruned model is less sure
    of the dense answer, below −margin_dense it picks another).
    """
    logq_d = divergence.renormalise(scores_dense)
    logq_p = divergence.renormalise(scores_pruned)
    a = int(logq_d.argmax())
    b = int(logq_p.argmax())
    out: dict[str, Any] = {
        "dense_dist": _floats(logq_d.exp()),
        "pruned_dist": _floats(logq_p.exp()),
        "dense_choice": a,
        "pruned_choice": b,
        "kl": float(divergence.kl(logq_d, logq_p)),
        "argmax_agree": float(a == b),
        "gold": gold,
    }
    if len(logq_d) > 1:
        others = [j for j in range(len(logq_d)) if j != a]
        margin_d = float(logq_d[a] - logq_d[others].max())
        margin_p = float(logq_p[a] - logq_p[others].max())
        out.update(margin_dense=margin_d, margin_pruned=margin_p, margin_change=margin_p - margin_d)
    if gold is not None:
        out.update(dense_correct=float(a == gold), pruned_correct=float(b == gold))
    return out


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


# --------------------------------------------------------------------------- orchestration


@dataclass
class Measurements:
    """Tidy results of one dense-vs-pruned measurement run (JSON-ready via :meth:`to_dict`).

    ``items``: one dict per item (``id``, ``task``, and one block per space measured);
    ``aggregates``: per task type, plus ``"all"``; ``meta``: models, settings, notes,
    timings and whether the dense cache was hit.
    """

    meta: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    aggregates: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of lists, floats, ints and strings."""
        return {"meta": self.meta, "items": self.items, "aggregates": self.aggregates}

    def save(self, path: str | Path) -> Path:
        """Write the results as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    def scalar(self, space: str, name: str, stat: str = "mean", task: str = "all") -> float | None:
        """One aggregate number, e.g. ``scalar("probability", "kl_t1")``; None if absent."""
        block = self.aggregates.get(task, {}).get(space, {}).get(name)
        return None if block is None else block[stat]


def unwrap_model(obj: Any) -> Any:
    """The ``transformers`` model inside a LoadedModel, a pruning result or the model itself."""
    if hasattr(obj, "config") and callable(obj):
        return obj
    inner = getattr(obj, "model", None)
    if inner is not None and hasattr(inner, "config"):
        return inner
    raise TypeError(f"Cannot find a causal LM in {type(obj).__name__}.")


def _describe(obj: Any, model: Any) -> dict[str, Any]:
    obj = getattr(obj, "loaded", obj)  # a pruning result carries its LoadedModel view
    info: dict[str, Any] = {
        "architecture": type(model).__name__,
        "blocks": len(forward.decoder_layers(model)),
    }
    for attr in ("name", "fingerprint"):
        if isinstance(getattr(obj, attr, None), str):
            info[attr] = getattr(obj, attr)
    prune = getattr(model.config, "prune_advisor", None)
    if prune:
        info["prune_advisor"] = prune
    return info


def measure(
    dense: Any,
    pruned: Any,
    items: list[Item],
    *,
    temperature: float = 1.0,
    horizon: int = accumulation.DEFAULT_HORIZON,
    cache: bool = True,
    top_k: int = DEFAULT_TOP_K,
    choice_norm: str = "mean",
    generate: bool | Sequence[bool] | None = None,
    batch_size: int = 8,
    log: Callable[[str], None] | None = None,
) -> Measurements:
    """Measure the representation hierarchy of ``pruned`` against ``dense`` on ``items``.

    ``dense``: a :class:`advisor.models.LoadedModel` (its tokenizer is used for both).
    ``pruned``: a LoadedModel, a pruning result holding ``.model``, or a bare model.
    ``temperature``: the user's decoding temperature (probability space reports T=1 too).
    ``horizon``: greedy steps per generative item (0 disables accumulation).
    ``generate``: decode every item (True), none (False), by task type (None: generative
    task types, :func:`advisor.side.is_generative`), or one flag per item.
    ``choice_norm``: how continuation candidates are scored ("mean" per token, or "sum").
    ``cache``: reuse / store the dense side on disk. ``log``: called with one line per
    phase (for progress displays).
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive (greedy decoding is T -> 0; use 1e-2).")
    if not items:
        raise ValueError("No items to measure.")
    say = log or (lambda _msg: None)
    dense_model, tokenizer = unwrap_model(dense), dense.tokenizer
    pruned_model = unwrap_model(pruned)
    if isinstance(generate, list | tuple):
        if len(generate) != len(items):
            raise ValueError("generate must give one flag per item.")
        flags = [bool(g) for g in generate]
    else:
        flags = [is_generative(it) if generate is None else generate for it in items]
    flags = [f and horizon > 0 for f in flags]
    settings = {
        "horizon": horizon,
        "generate": [i for i, f in enumerate(flags) if f],
        "batch_size_invariant": True,
    }

    t0 = time.perf_counter()
    key = None
    dense_side: SideOutputs | None = None
    state = "off"
    if cache:
        from advisor.models import fingerprint_state, runtime_identity

        fingerprint = getattr(dense, "fingerprint", None) or fingerprint_state(dense_model)
        identity = runtime_identity(fingerprint, dense_model)
        key = dense_cache.cache_key(identity, items_hash(items), settings)
        dense_side = dense_cache.load(key)
        state = "hit" if dense_side is not None else "miss"
    if dense_side is None:
        say(f"dense model on {len(items)} items")
        dense_side = run_side(
            dense_model, tokenizer, items, horizon=horizon, generate=flags, batch_size=batch_size
        )
        if key is not None:
            dense_cache.save(key, dense_side)
    t1 = time.perf_counter()

    say(f"pruned model on {len(items)} items")
    # The pruned model also reads the dense continuation teacher-forced, from the same
    # prefill that starts its own free-running decoding.
    pruned_side = run_side(
        pruned_model,
        tokenizer,
        items,
        horizon=horizon,
        generate=flags,
        forced=dense_side.gen_tokens,
        batch_size=batch_size,
    )
    forced_by_item = {
        i: h for i, h in enumerate(pruned_side.forced_hidden) if h is not None and flags[i]
    }
    t2 = time.perf_counter()

    say("comparing")
    align = layer_alignment(dense_side.last.shape[1] - 1, pruned_model)
    streams = torch.as_tensor(align[1:])
    vocab = dense_model.get_output_embeddings().weight.shape[0]
    rows = []
    for group in lens_groups(len(items), len(streams), vocab):
        # One output-head call per model for the whole group: a few-row matmul is bound by
        # reading the head's weights, a few-hundred-row one by arithmetic.
        lens_dense = logit_lens(dense_model, dense_side.last[group, 1:])
        lens_pruned = logit_lens(pruned_model, pruned_side.last[group][:, streams])
        for j, i in enumerate(group):
            rows.append(
                _compare_item(
                    i,
                    items[i],
                    dense_model,
                    pruned_model,
                    tokenizer,
                    dense_side,
                    pruned_side,
                    (lens_dense[j], lens_pruned[j]),
                    forced_by_item.get(i),
                    align,
                    temperature,
                    top_k,
                    choice_norm,
                    horizon,
                )
            )
        del lens_dense, lens_pruned  # [G, L, V] each: free before the next group
    t3 = time.perf_counter()

    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    aggregates = {task: aggregate(task_rows) for task, task_rows in by_task.items()}
    aggregates["all"] = aggregate(rows)
    meta = {
        "advisor_version": __version__,
        "dense": _describe(dense, dense_model),
        "pruned": _describe(pruned, pruned_model),
        "items_hash": items_hash(items),
        "n_items": len(items),
        "temperature": temperature,
        "horizon": horizon,
        "top_k": top_k,
        "choice_norm": choice_norm,
        "kl_direction": "KL(dense || pruned)",
        "accumulation_temperature": 1.0,
        "notes": {"logit_lens": LENS_NOTE, "streams": STREAM_NOTE},
        "layer_alignment": align,
        "dense_cache": {"state": state, "key": key},
        "timing_s": {
            "dense": round(t1 - t0, 3),
            "pruned": round(t2 - t1, 3),
            "compare": round(t3 - t2, 3),
            "total": round(t3 - t0, 3),
        },
    }
    return Measurements(meta=meta, items=rows, aggregates=aggregates)


def _compare_item(
    i: int,
    item: Item,
    dense_model: Any,
    pruned_model: Any,
    tokenizer: Any,
    dense: SideOutputs,
    pruned: SideOutputs,
    lenses: tuple[torch.Tensor, torch.Tensor],
    forced: torch.Tensor | None,
    align: list[int],
    temperature: float,
    top_k: int,
    choice_norm: str,
    horizon: int,
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item.id, "task": item.task}
    with torch.inference_mode():
        row["embedding"] = embedding_space(
            dense.last[i], dense.mean[i], pruned.last[i], pruned.mean[i], align
        )
        lens_d, lens_p = lenses
        row["logit"] = logit_space(lens_d, lens_p)
        row["probability"] = probability_space(lens_d[-1], lens_p[-1], temperature, top_k)
        if dense.choice[i] is not None and pruned.choice[i] is not None:
            sub = subspace(
                choice_scores(dense.choice[i], dense.choice_tokens[i], choice_norm),  # type: ignore[arg-type]
                choice_scores(pruned.choice[i], pruned.choice_tokens[i], choice_norm),  # type: ignore[arg-type]
                item.gold,
            )
            sub["mode"] = item.candidate_mode
            row["subspace"] = sub
        if forced is not None:
            acc = accumulation.compare_generations(
                dense_model,
                pruned_model,
                dense.gen_tokens[i],  # type: ignore[arg-type]
                dense.gen_hidden[i],  # type: ignore[arg-type]
                forced,
                pruned.gen_tokens[i],  # type: ignore[arg-type]
                pruned.gen_hidden[i],  # type: ignore[arg-type]
                horizon,
            )
            acc["dense_text"] = tokenizer.decode(dense.gen_tokens[i], skip_special_tokens=True)
            acc["pruned_text"] = tokenizer.decode(pruned.gen_tokens[i], skip_special_tokens=True)
            row["accumulation"] = acc
    return row
