"""Short explanations the terminal and the report share: why a pruning is or is not faster
here, what the dense cache's state means, and one short reason per verdict.

Each is computed from the result dict alone, so a re-rendered result.json says the same,
and the terminal and the report never disagree on a number.
"""

from __future__ import annotations

from typing import Any

from advisor.verdicts import CAUTION, GO, NO_GO, NOT_ASSESSABLE

# manifest.measurement.dense_cache: where the dense side of the hierarchy came from.
DENSE_CACHE_STATES = {
    "hit": "the dense model's recordings were read from the on-disk cache (measured by an "
    "earlier run with the same model, items and settings)",
    "miss": "the dense model's recordings were measured in this run and saved to the cache",
    "off": "the cache is switched off: the dense model was measured in this run, not saved",
    "skipped": "no hierarchy was measured (--no-hierarchy, or a pruned model too broken to "
    "measure), so the dense side was not needed",
}


def dense_cache_note(state: str | None) -> str:
    """What the manifest's ``dense_cache`` state means."""
    return DENSE_CACHE_STATES.get(state or "", f"state '{state}'")


def _removed(pruning: dict[str, Any]) -> list[str]:
    dropped = pruning.get("dropped") or {}
    parts = [
        f"{len(dropped[k])} {name}"
        for k, name in (("layers", "blocks"), ("attn", "attention sublayers"), ("mlp", "MLPs"))
        if dropped.get(k)
    ]
    return parts


def speed_note(result: dict[str, Any]) -> str:
    """Why the pruned model is, or is not, faster on this machine (one or two sentences)."""
    pruning, speed = result["pruning"], result["speed"]
    ratio = speed["speedup"]
    fewer = result["model"]["parameters"] > pruning["parameters"]
    removed = _removed(pruning)
    zeros = (pruning.get("achieved_sparsity") or 0) > 0 and not removed and not fewer
    if removed or fewer:
        what = ", ".join(removed) if removed else "weights (narrower matrices)"
        noise = " (this ratio is within timing noise: a small cut, or a busy machine)"
        return (
            f"×{ratio:.2f} here: {what} removed outright, so each token does less work; "
            f"structural removal speeds up any hardware, roughly in proportion to the work "
            f"cut{noise if ratio < 1.05 else ''}."
        )
    if zeros:
        pattern = pruning.get("pattern") or "unstructured"
        kernel = (
            "2:4 turns into speed only on GPUs with sparse tensor cores (NVIDIA Ampere or "
            "newer, e.g. torch's to_sparse_semi_structured, TensorRT-LLM)"
            if pattern == "2:4"
            else f"{pattern.capitalize()} zeros turn into speed only with a sparse kernel or "
            f"engine (e.g. DeepSparse on CPUs), usually at high sparsity"
        )
        return (
            f"×{ratio:.2f} here: the zeros stay inside dense matrices, which this machine "
            f"multiplies at full cost (a ratio near ×1.0 is timing noise). {kernel}."
        )
    return f"×{ratio:.2f} here: nothing was removed, so no speed-up is expected."


def short_reason(record: dict[str, Any], tolerance: float | None) -> str:
    """One short reason (≤ 40 characters) for a task type's verdict, for the terminal."""
    verdict, pred = record["verdict"], record.get("prediction")
    tol = f"{tolerance:.2f}" if tolerance else "tolerance"
    if verdict == NOT_ASSESSABLE:
        c = record.get("competence") or {}
        if not c or c.get("assessable"):
            return "no rule for this task type"
        if c["n"] < c.get("min_items", 0):
            return f"only {c['n']} items to test the dense"
        if c["top_share"] > c.get("max_share", 1.0):
            return f"dense gives 1 answer on {c['top_share']:.0%}"
        if "successes" in c:  # the competence reason's numbers, as the report shows them
            rate = c["successes"] / c["n"]
            return f"dense {c['successes']}/{c['n']} = {rate:.2f} vs chance {c['chance']:.2f}"
        return f"dense {c['score']:.2f} vs chance {c['chance']:.2f}"
    if pred is None:  # a degenerate pruned model: no-go without a prediction
        return "pruned model is degenerate"
    low, high = pred["interval"]
    if verdict == GO:
        return f"lower bound {low:.2f} ≥ {tol}"
    if verdict == NO_GO:
        return f"upper bound {high:.2f} < {tol}"
    if verdict == CAUTION:
        return f"interval straddles {tol}"
    return verdict


def items_read(record: dict[str, Any]) -> str:
    """How many calibration items the verdict read, of the suite's: "12/24" ("—" for a
    task type that was not checked)."""
    look = (record.get("evidence") or {}).get("look")
    if look:
        return f"{look['items']}/{look['of']}"
    return "—"  # nothing was read from the pruned model


def blame_sentence(task: str, verdict: str, record: dict[str, Any], restores: str = "units") -> str:
    """One task type's blame in words: which restored unit (or layer's dense weights,
    ``restores``) would help most, and by how much."""
    what = "" if restores == "units" else f"'s {restores}"
    top = record["restored"][0] if record["restored"] else None
    read = f" on all {record['items']} items" if "items" in record else ""
    now = f"{task} is {verdict} (predicted retention {record['retention']:.2f}{read})"
    if top is None or top["gain"] <= 0:
        one = "removed unit" if not what else f"layer{what}"
        return f"{now}; restoring any one {one} alone would not raise it."
    return (
        f"{now}; restoring layer {top['unit']}{what} alone would bring it to "
        f"{top['retention']:.2f} ({top['verdict']})."
    )


def plan_headline(plan: dict[str, Any]) -> str:
    """The plan in one sentence."""
    tasks = ", ".join(plan["tasks"])
    if not plan["verified"]:
        return (
            f"No {plan['method']} unit can be removed with go on {tasks}: no unit's removal "
            f"alone is go on every one, or no set of them was verified go."
        )
    units = plan["units"]
    return (
        f"Remove the {plan['method']} unit of layer{'s' if len(units) > 1 else ''} "
        f"{', '.join(map(str, units))}: verified go on {tasks}."
    )
