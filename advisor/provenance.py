"""What a result records about its inputs: the pruning that made the compared model, and
what a checkpoint pruned elsewhere shows (the software that measured it:
:func:`advisor.models.placement.versions`)."""

from __future__ import annotations

from typing import Any


def pruning_record(pruned: Any) -> dict[str, Any]:
    """The result's ``pruning`` block for an :class:`advisor.pruning.PrunedModel`."""
    manifest = pruned.manifest
    record = pruned.loaded.model.config.prune_advisor
    sparsity = manifest.get("sparsity")
    achieved = sparsity.get("achieved") if isinstance(sparsity, dict) else record.get("sparsity")
    return {
        "method": manifest.get("method", record.get("method")),
        "amount": manifest.get("amount", record.get("amount")),
        "label": manifest.get("amount_label") or str(manifest.get("amount", "")),
        "pattern": manifest.get("pattern", record.get("pattern")),
        "achieved_sparsity": achieved,
        "dropped": {
            "layers": record.get("dropped_layers", []),
            "attn": record.get("dropped_attn", []),
            "mlp": record.get("dropped_mlp", []),
        },
        "parameters": pruned.loaded.parameters,
        "source": manifest.get("loaded_from", "pruned by prune-advisor"),
        "name": pruned.loaded.name,
        # A checkpoint loaded from a folder: what its weights say was pruned (§9b).
        "detected": record.get("detected"),
    }


def detected_lines(detected: dict[str, Any] | None) -> list[str]:
    """What a checkpoint pruned elsewhere shows (docs/design.md §9b), one line each:
    "detected: …" per change, "not measured: …" per space its shapes rule out."""
    if not detected:
        return []
    skipped = [f"not measured: {s['space']} space ({s['why']})" for s in detected["skipped_spaces"]]
    return [f"detected: {line}" for line in detected["description"]] + skipped
