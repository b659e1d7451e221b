"""What a checkpoint pruned elsewhere did to its dense model, read from the weights
(docs/design.md §9b).

* **Depth**: which dense blocks remain. Every pruned block is matched to a dense block by
  the relative distance of their weights (``‖W_p − W_d‖ / ‖W_d‖`` averaged over the
  weight matrices both have with equal shapes), the kept blocks in their original order
  (a monotone assignment by dynamic programming). Distance 0 is an exact match (ShortGPT
  and LLM-Drop save the kept blocks untouched); a checkpoint healed by fine-tuning after
  pruning matches its nearest blocks, and the distances are reported as the match quality.
* **Width**: MLP width, attention width (heads × head size) per block, and the residual
  stream's width, dense → pruned.
* **Zeros**: the share of exactly-zero weights in the block linears, and an N:M pattern
  when every linear that carries zeros keeps at most N of every M consecutive weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from advisor.errors import AdvisorError
from advisor.models.anatomy import decoder_layers, hidden_width
from advisor.models.layouts import block_layout, in_width, submodule
from advisor.pruning.blocks import block_linears
from advisor.pruning.masks import check_nm

SAMPLE = 4096  # weights per tensor compared when searching (the chosen pairs: all of them)
MATCH_LIMIT = 0.5  # a block farther than this from every dense block is not pruned from it
PATTERNS = ((2, 4), (4, 8))  # the N:M patterns serving stacks accelerate


def _params(block: Any) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in block.named_parameters()}


def _matrices(block: Any) -> dict[str, torch.Tensor]:
    """The block's weight matrices: what matching compares (norm weights are all ones at
    initialisation, alike in every block, and biases are small)."""
    return {name: p for name, p in _params(block).items() if p.dim() >= 2}


def _sampled(block: Any) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in _matrices(block).items():
        flat = p.reshape(-1).float().cpu()
        k = min(flat.numel(), SAMPLE)
        out[name] = flat[torch.linspace(0, flat.numel() - 1, k).long()] if k else flat
    return out


def _distance(dense: dict[str, torch.Tensor], pruned: dict[str, torch.Tensor]) -> float:
    """Mean relative distance ``‖W_p − W_d‖ / ‖W_d‖`` over the weight matrices both have with
    the same shape (inf if none). Per tensor, so that norm weights — all ones at
    initialisation, alike in every block — cannot outweigh the matrices."""
    ratios = []
    for name, w in pruned.items():
        d = dense.get(name)
        if d is None or d.shape != w.shape:
            continue
        d, w = d.float().cpu(), w.float().cpu()
        norm = float(d.norm())
        diff = float((w - d).norm())
        ratios.append(diff / norm if norm > 0 else (0.0 if diff == 0 else float("inf")))
    return sum(ratios) / len(ratios) if ratios else float("inf")


def _identical(dense_block: Any, pruned_block: Any) -> bool:
    """Every parameter (norms included) of the two blocks equal, bit for bit."""
    dense, pruned = _params(dense_block), _params(pruned_block)
    return dense.keys() == pruned.keys() and all(
        dense[name].shape == w.shape and torch.equal(dense[name], w) for name, w in pruned.items()
    )


def _monotone(cost: list[list[float]]) -> list[int]:
    """Strictly increasing dense indices, one per pruned block, of least total cost."""
    n_p, n_d = len(cost), len(cost[0])
    inf = float("inf")
    best = [[inf] * n_d for _ in range(n_p)]
    back = [[-1] * n_d for _ in range(n_p)]
    for d in range(n_d):
        best[0][d] = cost[0][d]
    for p in range(1, n_p):
        run, arg = inf, -1
        for d in range(n_d):
            if d > 0 and best[p - 1][d - 1] < run:
                run, arg = best[p - 1][d - 1], d - 1
            best[p][d] = run + cost[p][d]
            back[p][d] = arg
    d = min(range(n_d), key=lambda j: (best[-1][j], j))
    path = [d]
    for p in range(n_p - 1, 0, -1):
        d = back[p][d]
        path.append(d)
    return path[::-1]


def match_layers(
    dense_model: Any, pruned_model: Any, dense_block: Callable[[int], Any] | None = None
) -> dict[str, Any]:
    """Which dense block each pruned block is (see module docstring).

    ``dense_block(i)``: dense block ``i`` (default: from ``dense_model``; a released dense
    model reads each back from its weights file, one at a time). Returns ``kept`` (dense
    index per pruned block), ``dropped``, ``match`` ("exact" or "nearest"), ``distance``
    (relative weight distance per kept block, full tensors), ``distance_max``,
    ``distance_mean``. An :class:`AdvisorError` when some pruned block is farther than
    :data:`MATCH_LIMIT` from every dense block.
    """
    n_dense = len(decoder_layers(dense_model))
    block = dense_block or decoder_layers(dense_model).__getitem__
    pruned_blocks = list(decoder_layers(pruned_model))
    if len(pruned_blocks) > n_dense:
        raise AdvisorError(
            f"The pruned model has {len(pruned_blocks)} decoder layers, more than the dense "
            f"model's {n_dense}: it is not a depth-pruned version of it."
        )
    with torch.inference_mode():
        dense_s = [_sampled(block(d)) for d in range(n_dense)]
        pruned_s = [_sampled(b) for b in pruned_blocks]
        cost = [[_distance(d, p) for d in dense_s] for p in pruned_s]
        kept = _monotone(cost)
        full, exact = [], True
        for p, d in enumerate(kept):
            dense_d = block(d)
            full.append(_distance(_matrices(dense_d), _matrices(pruned_blocks[p])))
            exact = exact and _identical(dense_d, pruned_blocks[p])
    worst = max(full) if full else 0.0
    if worst == float("inf"):
        raise AdvisorError(
            "The pruned model has fewer decoder layers and no weight matrix of the same shape "
            "as the dense model's (both depth and width pruned?), so which layers remain "
            "cannot be read from the weights. Say which were removed in its config.json: "
            '"prune_advisor": {"method": "...", "dropped_layers": [original indices]}.'
        )
    if worst > MATCH_LIMIT:
        where = full.index(worst)
        raise AdvisorError(
            f"Pruned layer {where} matches no layer of the dense model (its nearest, dense "
            f"layer {kept[where]}, differs by {worst:.2f} of its weights' norm), so which "
            f"layers were removed cannot be read from the weights. Check that --model is the "
            f"model it was pruned from, or say which were removed in its config.json: "
            f'"prune_advisor": {{"method": "...", "dropped_layers": [original indices]}}.'
        )
    return {
        "kept": kept,
        "dropped": [i for i in range(n_dense) if i not in set(kept)],
        "match": "exact" if exact else "nearest",
        "distance": [round(x, 6) for x in full],
        "distance_max": round(worst, 6),
        "distance_mean": round(sum(full) / len(full), 6) if full else 0.0,
    }


def _widths(model: Any, block: Any) -> dict[str, int]:
    layout = block_layout(block, model.config)
    out = {}
    for part, path, owner in (
        ("MLP", layout.mlp_out, layout.mlp),
        ("attention", layout.attn_out, layout.attn),
    ):
        module = submodule(block, path)
        if path != owner and hasattr(module, "weight"):  # not a dropped sublayer's stand-in
            out[part] = in_width(module)
    return out


def ranges(indices: list[int]) -> str:
    """Indices as runs, e.g. "3, 7–9"."""
    spans: list[str] = []
    for i in indices:
        if spans and spans[-1].split("–")[-1] == str(i - 1):
            spans[-1] = f"{spans[-1].split('–')[0]}–{i}"
        else:
            spans.append(str(i))
    return ", ".join(spans)


def width_changes(dense_model: Any, pruned_model: Any, kept: list[int]) -> list[dict[str, Any]]:
    """Width changes dense → pruned: ``{"part", "dense", "pruned", "layers"}`` per change
    (``layers``: dense block indices; empty for the residual stream)."""
    changes: list[dict[str, Any]] = []
    d_width, p_width = hidden_width(dense_model), hidden_width(pruned_model)
    if d_width != p_width:
        changes.append({"part": "hidden size", "dense": d_width, "pruned": p_width, "layers": []})
    dense_blocks, pruned_blocks = decoder_layers(dense_model), decoder_layers(pruned_model)
    groups: dict[tuple[str, int, int], list[int]] = {}
    for p, d in enumerate(kept):
        before = _widths(dense_model, dense_blocks[d])
        after = _widths(pruned_model, pruned_blocks[p])
        for part, width in after.items():
            if part in before and before[part] != width:
                groups.setdefault((part, before[part], width), []).append(d)
    for (part, old, new), layers in groups.items():
        changes.append({"part": part, "dense": old, "pruned": new, "layers": layers})
    for key, label in (
        ("num_attention_heads", "attention heads"),
        ("num_key_value_heads", "KV heads"),
    ):
        old, new = getattr(dense_model.config, key, None), getattr(pruned_model.config, key, None)
        if old is not None and new is not None and old != new:
            changes.append({"part": label, "dense": old, "pruned": new, "layers": []})
    return changes


def describe_width(change: dict[str, Any], n_layers: int) -> str:
    """One line, e.g. "MLP 1536 → 1152 in all 30 layers"."""
    head = f"{change['part']} {change['dense']} → {change['pruned']}"
    layers = change["layers"]
    if not layers:
        return head
    if len(layers) == n_layers:
        return f"{head} in all {n_layers} layers"
    return f"{head} in {len(layers)} of {n_layers} layers ({ranges(layers)})"


def zero_pattern(model: Any) -> str | None:
    """ "2:4" / "4:8" when every block linear that carries zeros (≥ 25% of its weights)
    keeps at most N of every M consecutive weights of each row; "unstructured" when
    zeros are there without such a pattern; None without zeros."""
    masks = []
    with torch.inference_mode():
        for block in decoder_layers(model):
            for lin in block_linears(block).values():
                zero = lin.weight == 0
                if zero.float().mean() >= 0.25:
                    masks.append(zero)
    if not masks:
        return None
    for n, m in PATTERNS:
        if all(z.shape[1] % m == 0 and check_nm(z, n, m) for z in masks):
            return f"{n}:{m}"
    return "unstructured"


def skipped_spaces(dense_width: int, pruned_width: int) -> list[dict[str, str]]:
    """The spaces that cannot be compared for these residual-stream widths, and why."""
    if dense_width == pruned_width:
        return []
    return [
        {
            "space": "embedding",
            "why": (
                f"hidden size {dense_width} → {pruned_width}: the two models' per-layer "
                f"hidden states have different widths, so their cosines are undefined; the "
                f"logit (and logit lens), probability, subspace and accumulation spaces "
                f"compare outputs over the shared vocabulary and are measured"
            ),
        }
    ]
