"""Distances between a dense and a pruned representation: pure functions on tensors.

Notation of docs/design.md §2: ``z`` dense logits, ``z'`` pruned logits, ``Δz = z' − z``,
``p = softmax(z / T)``. KL is always KL(dense ‖ pruned): the dense model is the reference.
All functions reduce over the last dimension and compute in float64, because KL values of
1e-6 between nearly identical models must not drown in float32 rounding.
"""

from __future__ import annotations

import torch


def _f64(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a, b) over the last dimension (1 for identical vectors; 0 if either is zero)."""
    a, b = _f64(a), _f64(b)
    denom = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(denom > 0, (a * b).sum(-1) / denom.clamp_min(1e-300), 0.0)


def orthogonal_energy(h_dense: torch.Tensor, h_pruned: torch.Tensor) -> torch.Tensor:
    """Relative orthogonal energy ‖Δ⊥‖² / ‖h‖²: the part of Δ = h' − h orthogonal to the
    dense state h, relative to h's energy. Zero when h' is a rescaled h; unlike 1 − cos it
    grows with the size of the deviation, not only its angle."""
    h, hp = _f64(h_dense), _f64(h_pruned)
    energy = (h * h).sum(-1)
    delta = hp - h
    along = (delta * h).sum(-1, keepdim=True) / energy.clamp_min(1e-300).unsqueeze(-1)
    perp = delta - along * h
    return (perp * perp).sum(-1) / energy.clamp_min(1e-300)


def log_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(z / T) in float64."""
    return torch.log_softmax(_f64(logits) / temperature, dim=-1)


def kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = Σ p (log p − log q) from log-probabilities; 0·log 0 taken as 0."""
    logp, logq = _f64(logp), _f64(logq)
    p = logp.exp()
    terms = torch.where(p > 0, p * (logp - logq), 0.0)
    return terms.sum(-1).clamp_min(0.0)


def kl_logits(
    z_dense: torch.Tensor, z_pruned: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """KL(softmax(z/T) ‖ softmax(z'/T))."""
    return kl(log_probs(z_dense, temperature), log_probs(z_pruned, temperature))


def js(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence (natural log, in [0, ln 2]) from log-probabilities."""
    logp, logq = _f64(logp), _f64(logq)
    logm = torch.logaddexp(logp, logq) - torch.log(torch.tensor(2.0, dtype=torch.float64))
    return 0.5 * kl(logp, logm) + 0.5 * kl(logq, logm)


def kl_second_order(
    z_dense: torch.Tensor, z_pruned: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """The second-order estimate Var_{i~p}(Δz_i) / (2T²) of KL(p ‖ p'), p = softmax(z/T).

    Exact to second order in Δz; blind to a uniform shift of Δz (softmax ignores it too).
    """
    p = log_probs(z_dense, temperature).exp()
    dz = _f64(z_pruned) - _f64(z_dense)
    mean = (p * dz).sum(-1, keepdim=True)
    var = (p * (dz - mean) ** 2).sum(-1)
    return var / (2.0 * temperature**2)


def delta_z_spread(z_dense: torch.Tensor, z_pruned: torch.Tensor) -> dict[str, torch.Tensor]:
    """Spread of Δz: its standard deviation over the whole vocabulary and under p_dense (T=1).

    The second matters for the probabilities (docs/design.md §2): a shift common to the likely
    tokens is harmless, disagreement among them is not.
    """
    dz = _f64(z_pruned) - _f64(z_dense)
    p = log_probs(z_dense).exp()
    mean_p = (p * dz).sum(-1, keepdim=True)
    return {
        "dz_std": dz.std(dim=-1, unbiased=False),
        "dz_std_p": ((p * (dz - mean_p) ** 2).sum(-1)).sqrt(),
    }


def topk_overlap(z_dense: torch.Tensor, z_pruned: torch.Tensor, k: int) -> torch.Tensor:
    """|top-k(z) ∩ top-k(z')| / k."""
    k = min(k, z_dense.shape[-1])
    top_d = z_dense.topk(k, dim=-1).indices
    top_p = z_pruned.topk(k, dim=-1).indices
    hits = (top_d.unsqueeze(-1) == top_p.unsqueeze(-2)).any(-1).sum(-1)
    return hits.to(torch.float64) / k


def renormalise(scores: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over a candidate set from unnormalised log-scores."""
    return torch.log_softmax(_f64(scores), dim=-1)
