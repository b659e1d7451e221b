"""Blame for a verdict: which removed or sparsified units cost each task type the most.

For a structural pruning (its record names the removed blocks, attention or MLP
sublayers, as original layer indices: pruned here, or pruned elsewhere with the removed
layers inferred, docs/checkpoints.md), each removed unit is restored in turn (the model
re-made from the dense one with every other unit removed). For a sparsity pruning
(weights zeroed or rewritten in place: magnitude, Wanda, SparseGPT, or a checkpoint
pruned elsewhere whose layers line up with the dense model's), each changed layer's dense
weights are restored in turn (:mod:`advisor.guidance.restore`). Either way each assessed
task type's evidence is read again, on every calibration item its verdict could read
(:func:`advisor.guidance.rows.task_row`, cached and prefix-shared like the map: a verdict
may commit on a quarter of them, but a ranking needs the finer count), and the
restorations that raise the predicted retention most come first; equal retentions are
ordered by the divergence from the dense model (:data:`advisor.guidance.rows.DIVERGENCE`:
the NLL of the dense answers moves before their count does). A pruning that removed
units of more than one kind is not blamed (the result says why).
"""

from __future__ import annotations

from typing import Any

from advisor.forward.layer_replay import LayerReplay
from advisor.guidance.restore import RESTORE, changed_layers
from advisor.guidance.rows import AS_IS, EVERY_ITEM, TaskRun, task_row, unit_cost
from advisor.models.loading import LoadedModel
from advisor.pruning import METHODS
from advisor.pruning.pruned import RECORD_KEY
from advisor.rules.rules_file import load_rules
from advisor.truth.evaluate import dense_results

# The record's lists of removed units, by the registry's unit kind.
RECORD_LISTS = {"block": "dropped_layers", "attn": "dropped_attn", "mlp": "dropped_mlp"}


def removed_units(record: dict[str, Any]) -> tuple[str, list[int]] | None:
    """(the structural method, the original indices) of a pruning record that removed units
    of one kind; None for anything else (weights zeroed, kinds mixed, nothing removed)."""

    method = METHODS.get(record.get("method") or "")
    if method is not None and method.unit is None:  # weights zeroed: no unit removed
        return None
    found = [(m.name, record.get(RECORD_LISTS[m.unit]) or []) for m in METHODS.values() if m.unit]
    found = [(name, units) for name, units in found if units]
    if len(found) != 1:
        return None
    name, units = found[0]
    return name, sorted(units)


def _what(dense: LoadedModel, pruned: Any) -> tuple[str, str, list[int]] | str:
    """(the method, what is restored, the units or layers to restore) of ``pruned``, or
    why it cannot be blamed."""

    record = getattr(pruned.loaded.model.config, RECORD_KEY, None) or {}
    found = removed_units(record)
    if found is not None:
        return found[0], "units", found[1]
    layers = changed_layers(dense.model, pruned.loaded.model)
    if layers is None:
        return (
            "Blame restores removed units of one kind, or a sparsified layer's dense "
            "weights; this pruning's layers do not line up with the dense model's."
        )
    if not layers:
        return "No layer's weights differ from the dense model's: nothing to restore."
    return record.get("method") or "sparsity", RESTORE, layers


def restoration_order(row: dict[str, Any]) -> tuple[float, float, int]:
    """A restoration's place in the ranking: the larger gain in predicted retention first;
    of equal gains, the smaller divergence from the dense model; then the lower layer."""
    return -row["gain"], row["divergence"], row["unit"]


def blame(
    dense: LoadedModel,
    pruned: Any,
    verdicts: dict[str, Any],
    suites: dict[str, list],
    rules_path: Any,
    tolerance: float,
) -> dict[str, Any]:
    """For each task type of ``verdicts`` that got a prediction, every removed unit (or
    sparsified layer) of ``pruned`` restored alone: the predicted retention, interval and
    verdict then, and the gain over ``pruned`` as it is, best first, all read on every
    item of ``suites`` (the items the verdicts read; a verdict's own retention may come
    from fewer). ``rules_path`` (None: the shipped rules) and ``tolerance``: the
    verdicts' own."""

    found = _what(dense, pruned)
    if isinstance(found, str):
        return {"available": False, "reason": found}
    method, restores, units = found
    base = pruned.loaded if restores != "units" else None
    rules, _, rules_sha = load_rules(rules_path)
    tasks = {}
    for task, verdict in verdicts.items():
        rule = rules.get("tasks", {}).get(task) or {}
        if not verdict.get("prediction") or "slope" not in rule:
            continue
        items = suites[task]
        scored = dense_results(dense, items)
        removed = tuple(units) if base is None else ()
        run = TaskRun(
            dense, method, task, items, scored, rule, tolerance, removed, EVERY_ITEM, base
        )
        # the pruning as it is, read like its restorations (one model: nothing to replay)
        before = unit_cost(run, AS_IS, pruned.loaded, LayerReplay([pruned.loaded.model], set()))
        rows = [
            {k: row[k] for k in ("unit", "retention", "interval", "verdict", "divergence")}
            | {"gain": round(row["retention"] - before["retention"], 4)}
            for row in task_row(run, units, rules_sha)
        ]
        rows.sort(key=restoration_order)
        tasks[task] = {"retention": before["retention"], "items": len(items), "restored": rows}
    return {
        "available": True,
        "method": method,
        "restores": restores,
        "units": units,
        "tasks": tasks,
    }
