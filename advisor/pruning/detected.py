"""The record of what a loaded pruned checkpoint changed, in words and numbers
(docs/design.md §9b): removed layers and how they were matched, width changes, zeros and
their pattern, non-finite values, and which measurement spaces the shapes rule out."""

from __future__ import annotations

from typing import Any

import torch

from advisor.models.anatomy import hidden_width
from advisor.pruning.shapes import (
    describe_width,
    ranges,
    skipped_spaces,
    width_changes,
    zero_pattern,
)

ZERO_REPORTED = 0.01  # a share of zero weights below this is noise, not pruning


def _depth_line(depth: dict[str, Any], original: int) -> str:
    dropped = depth["dropped"]
    head = f"{len(dropped)} of {original} decoder layers removed ({ranges(dropped)})"
    if depth["match"] == "declared":
        return f"{head}, as declared in config.json"
    if depth["match"] == "exact":
        return f"{head}; the other {len(depth['kept'])} match dense layers exactly"
    return (
        f"{head}; the other {len(depth['kept'])} matched to their nearest dense layers "
        f"(fine-tuned after pruning: relative weight distance mean "
        f"{depth['distance_mean']:.4f}, max {depth['distance_max']:.4f})"
    )


def non_finite(model: Any) -> dict[str, dict[str, int]]:
    """Per parameter holding any: how many of its values are NaN and how many infinite.

    Pruning never writes them, so they are a change of their own (a broken conversion or
    fine-tune); without this a checkpoint with an all-NaN tensor read as "no change found"."""

    found = {}
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            nan = int(torch.isnan(tensor).sum())
            inf = int(torch.isinf(tensor).sum())
            if nan or inf:
                found[name] = {"nan": nan, "inf": inf}
    return found


def _non_finite_line(found: dict[str, dict[str, int]]) -> str:
    total = sum(c["nan"] + c["inf"] for c in found.values())
    kinds = [k for k in ("nan", "inf") if any(c[k] for c in found.values())]
    names = ", ".join(list(found)[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    what = " and ".join({"nan": "NaN", "inf": "infinite"}[k] for k in kinds)
    return f"weights changed: {total:,} non-finite values ({what}) in {names}"


def detect(
    dense_model: Any, model: Any, record: dict[str, Any], depth: dict[str, Any] | None
) -> dict[str, Any]:
    """``depth`` (from :func:`advisor.pruning.shapes.match_layers`, or the declared drops),
    ``width`` changes, zero ``sparsity`` and ``pattern``, ``non_finite`` values per
    parameter, ``skipped_spaces`` and ``description`` (one line each) for ``model`` against
    ``dense_model``."""
    original = record["original_num_layers"]
    dropped = record["dropped_layers"]
    kept = [i for i in range(original) if i not in set(dropped)]
    if depth is None and dropped:
        depth = {"kept": kept, "dropped": dropped, "match": "declared"}
    widths = width_changes(dense_model, model, kept)
    pattern = zero_pattern(model)
    sparsity = record["sparsity"]
    lines = [_depth_line(depth, original)] if depth else []
    lines += [describe_width(change, len(kept)) for change in widths]
    if record.get("dropped_attn"):
        lines.append(f"attention removed in layers {ranges(record['dropped_attn'])}")
    if record.get("dropped_mlp"):
        lines.append(f"MLP removed in layers {ranges(record['dropped_mlp'])}")
    if sparsity >= ZERO_REPORTED:
        lines.append(f"{sparsity:.1%} of the block linears' weights are zero ({pattern})")
    broken = non_finite(model)
    if broken:
        lines.append(_non_finite_line(broken))
    return {
        "depth": depth,
        "width": widths,
        "sparsity": sparsity,
        "pattern": pattern if sparsity >= ZERO_REPORTED else None,
        "non_finite": broken,
        "skipped_spaces": skipped_spaces(hidden_width(dense_model), hidden_width(model)),
        "description": lines or ["no change found: same layers, same widths, no zero weights"],
    }


def _label(detected: dict[str, Any], original: int) -> str:
    parts = []
    depth = detected["depth"]
    if depth:
        parts.append(f"depth {len(depth['kept'])}/{original} ({depth['match']})")
    for change in detected["width"]:
        parts.append(f"{change['part']} {change['dense']}→{change['pruned']}")
    if detected["pattern"]:
        parts.append(f"sparsity {detected['sparsity']:.2f} {detected['pattern']}")
    broken = detected.get("non_finite") or {}
    if broken:
        total = sum(c["nan"] + c["inf"] for c in broken.values())
        parts.append(f"{total:,} non-finite weights")
    return ", ".join(parts) or "unchanged"


def external_manifest(record: dict[str, Any]) -> dict[str, Any]:
    """Manifest fields for a folder pruned elsewhere (no prune_manifest.json): what was
    detected is its amount, a short label and the N:M pattern."""
    detected = record["detected"]
    return {
        "amount": "; ".join(detected["description"]),
        "amount_label": _label(detected, record["original_num_layers"]),
        "pattern": detected["pattern"],
        "detected": detected,
    }
