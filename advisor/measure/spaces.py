"""One item's dense-vs-pruned comparison in each space (see docs/design.md §2–3).

The embedding space (residual stream per layer), the logit space (final logits and the
per-layer logit lens, final norm applied), the probability space (next-token distribution
at the end of the prompt) and the categorical subspace of choice items. Pure functions of
stored states and logits; :mod:`advisor.measure.compare` feeds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from advisor.measure import divergence
from advisor.models import anatomy

LENS_NOTE = (
    "logit lens: lm_head(final_norm(h)) of each layer's residual stream at the last prompt "
    "token — the model's final norm is applied before the output head"
)
STREAM_NOTE = (
    "stream k = residual stream after dense block k-1 (stream 0 = input to block 0); a "
    "block-dropped model is compared at the stream after its last kept block <= k-1"
)
DEFAULT_TOP_K = 10


# --------------------------------------------------------------------------- alignment


def layer_alignment(dense_blocks: int, pruned_model: Any) -> list[int]:
    """For each dense stream k (0..dense_blocks), the pruned stream to compare it with.

    Reads ``config.prune_advisor["dropped_layers"]`` (original indices of removed blocks;
    the kept blocks stay in order). Without it, streams align one to one.
    """
    info = getattr(pruned_model.config, "prune_advisor", None) or {}
    dropped = sorted(set(info.get("dropped_layers") or []))
    pruned_blocks = len(anatomy.decoder_layers(pruned_model))
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
    return anatomy.head_logits(model, streams)


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
