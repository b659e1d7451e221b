"""Choosing which weights to zero, with exact counts and a deterministic tie-break.

The built-in models are de-quantised 4-bit weights, so a score such as |W| has many exact
ties. A plain ``score <= threshold`` test would then zero more weights than asked for, and
``topk`` breaks ties in an unspecified order. Here every selection sorts by (score, key),
where ``key`` is a seeded random permutation: among equal scores the order is random but
fixed by the seed, and exactly the requested number of weights is chosen.
"""

from __future__ import annotations

import re
import zlib

import torch

from advisor.errors import AdvisorError

PATTERNS = ("unstructured", "2:4", "4:8")
_NM = re.compile(r"^(\d+):(\d+)$")


def parse_pattern(pattern: str) -> tuple[int, int] | None:
    """``None`` for unstructured, else ``(n, m)``: keep at most n of every m weights."""
    if pattern == "unstructured":
        return None
    match = _NM.match(pattern)
    if pattern not in PATTERNS or match is None:
        raise AdvisorError(
            f"Unknown sparsity pattern '{pattern}'. Use one of {', '.join(PATTERNS)}: "
            f"'2:4' keeps 2 of every 4 consecutive weights of a row (50% sparsity)."
        )
    return int(match.group(1)), int(match.group(2))


def tie_keys(shape: tuple[int, ...], seed: int, name: str) -> torch.Tensor:
    """Distinct random integers of ``shape``, fixed by ``seed`` and the layer ``name``."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    numel = 1
    for size in shape:
        numel *= size
    return torch.randperm(numel, generator=generator).view(shape)


def composite(scores: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """One int64 per weight ordering by (score, key): unique, so any sort is deterministic.

    Scores are non-negative; the bit pattern of a non-negative float32 orders like its
    value, so it fills the high 32 bits and the key the low ones. Float64 scores are
    rounded to float32 first, which only merges values within ~1e-7 of each other.
    """
    bits = (scores.float() + 0.0).view(torch.int32).long()  # + 0.0 turns -0.0 into 0.0
    return (bits << 32) | keys


def argsort_lex(scores: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Indices sorting the last dim ascending by score, ties ordered by key."""
    return torch.sort(composite(scores, keys), dim=-1).indices


def split_count(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` integers differing by at most one, summing to total."""
    return [(total * (i + 1)) // parts - (total * i) // parts for i in range(parts)]


def target_zeros(numel: int, sparsity: float) -> int:
    """How many of ``numel`` weights to zero for ``sparsity`` (nearest integer)."""
    return round(sparsity * numel)


def lowest_mask(scores: torch.Tensor, count: int, keys: torch.Tensor) -> torch.Tensor:
    """True at exactly ``count`` positions: the lowest scores of the whole tensor."""
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    if count:
        lowest = torch.topk(composite(scores.flatten(), keys.flatten()), count, largest=False)
        mask[lowest.indices] = True
    return mask.view(scores.shape)


def row_mask(scores: torch.Tensor, count: int, keys: torch.Tensor) -> torch.Tensor:
    """True at ``count`` positions in all, spread evenly over rows, lowest scores per row.

    Wanda compares weights within an output row; rows get ``count // rows`` or one more.
    """
    rows = scores.shape[0]
    order = argsort_lex(scores, keys)
    per_row = torch.tensor(split_count(count, rows)).unsqueeze(1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(scores.shape[1]).expand_as(order).contiguous())
    return rank < per_row


def nm_mask(scores: torch.Tensor, n: int, m: int, keys: torch.Tensor) -> torch.Tensor:
    """True at the ``m - n`` lowest scores of every group of ``m`` consecutive inputs."""
    rows, cols = scores.shape
    if cols % m:
        raise AdvisorError(
            f"A layer with {cols} inputs cannot take the {n}:{m} pattern: {cols} is not a "
            f"multiple of {m}. Use --pattern unstructured for this model."
        )
    grouped = scores.reshape(rows, cols // m, m)
    order = argsort_lex(grouped, keys.reshape(rows, cols // m, m))
    mask = torch.zeros_like(grouped, dtype=torch.bool)
    mask.scatter_(2, order[..., : m - n], True)
    return mask.view(rows, cols)


def select(
    scores: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None,
    keys: torch.Tensor,
    per_row: bool,
) -> torch.Tensor:
    """The pruning mask (True = zero this weight) for a 2-D score matrix."""
    if nm is not None:
        return nm_mask(scores, nm[0], nm[1], keys)
    count = target_zeros(scores.numel(), sparsity)
    return row_mask(scores, count, keys) if per_row else lowest_mask(scores, count, keys)


def check_nm(mask: torch.Tensor, n: int, m: int) -> bool:
    """True when every group of ``m`` consecutive weights of each row keeps at most ``n``."""
    rows, cols = mask.shape
    kept = (~mask).reshape(rows, cols // m, m).sum(-1)
    return bool((kept <= n).all())
