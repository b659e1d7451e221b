"""Pruning methods: the pruned side of every dense-vs-pruned comparison.

    from advisor.models import load_model
    from advisor.pruning import prune_model, save_pruned, load_pruned

    dense = load_model("smollm2-135m")
    pruned = prune_model(dense, "wanda", sparsity=0.5, pattern="2:4")
    pruned.loaded            # a LoadedModel view: pruned model + the dense tokenizer
    pruned.manifest          # how it was made
    save_pruned(pruned, "out/")
    again = load_pruned("out/", dense)

The dense model is never modified: every method works on a copy (structural methods
share the dense tensors read-only; see :func:`working_copy`). After pruning,
``model.config.prune_advisor`` holds ``method``, ``dropped_layers``, ``dropped_attn``,
``dropped_mlp`` (original block indices) and ``sparsity`` (achieved, overall).
"""

from __future__ import annotations

import copy
from typing import Any

from advisor.errors import AdvisorError
from advisor.models import LoadedModel, parameter_count
from advisor.models.anatomy import decoder_layers
from advisor.pruning import layer_drop
from advisor.pruning.blocks import block_linears, sublayer_parts
from advisor.pruning.calibration import (
    Calibration,
    token_batches,
)
from advisor.pruning.checkpoint import load_pruned, save_pruned
from advisor.pruning.masks import PATTERNS, target_zeros
from advisor.pruning.pruned import (
    RECORD_KEY,
    PrunedModel,
    config_record,
    fingerprint,
    measure_sparsity,
    progress,
)
from advisor.pruning.registry import (
    METHODS,
    SPARSITY,
    STRUCTURAL,
    Amount,
    PruneRequest,
    PruningMethod,
    check_amount,
    check_unit_method,
    get_method,
    requested_amount,
)
from advisor.requests import DEFAULT_CALIB_LEN, DEFAULT_CALIB_SAMPLES

__all__ = [
    "DEFAULT_CALIB_LEN",
    "DEFAULT_CALIB_SAMPLES",
    "METHODS",
    "PATTERNS",
    "SPARSITY",
    "STRUCTURAL",
    "Amount",
    "Calibration",
    "PruneRequest",
    "PrunedModel",
    "PruningMethod",
    "check_amount",
    "check_unit_method",
    "drop_units",
    "dry_run",
    "get_method",
    "load_pruned",
    "prune_model",
    "save_pruned",
    "token_batches",
]


def _blocks(model: Any) -> Any:
    """The blocks a method would prune, or an error that names the methods and what they
    work on (and the way out: prune elsewhere, compare with --pruned)."""
    try:
        return decoder_layers(model)
    except AdvisorError as exc:
        raise AdvisorError(f"{exc} None of {', '.join(METHODS)} can prune it.") from None


def _resolve(loaded: LoadedModel, request: PruneRequest) -> tuple[PruningMethod, Amount]:
    get_method(request.method)  # an unknown name is named before the model's anatomy
    return requested_amount(request, len(_blocks(loaded.model)))


def _calibration(
    loaded: LoadedModel, spec: PruningMethod, request: PruneRequest
) -> Calibration | None:
    if not spec.needs_calibration:
        return None
    return token_batches(
        loaded.tokenizer,
        request.calib_samples,
        request.calib_len,
        request.seed,
        split="calibration",
    )


def _dropped(method: str, details: dict[str, Any]) -> dict[str, list[int]]:
    unit = get_method(method).unit
    dropped = details.get("dropped", [])
    return {
        "dropped_layers": dropped if unit == "block" else [],
        "dropped_attn": dropped if unit == "attn" else [],
        "dropped_mlp": dropped if unit == "mlp" else [],
    }


def _manifest(before, spec, amount, seed, calib, details, model) -> dict[str, Any]:
    overall, per_layer = measure_sparsity(model)
    return {
        "method": spec.name,
        "kind": spec.family,
        "amount": amount.describe(),
        "amount_label": amount.label(),
        "pattern": amount.pattern,
        "seed": seed,
        "calibration": calib.describe() if calib is not None else None,
        "importance": details.get("importance"),
        "ranking": details.get("ranking"),
        **_dropped(spec.name, details),
        "sparsity": {"requested": amount.sparsity, "achieved": overall, "per_layer": per_layer},
        "parameters": {"before": before["parameters"], "after": parameter_count(model)},
        "dense": {k: before[k] for k in ("name", "fingerprint", "layers")},
    }


def _before(loaded: LoadedModel) -> dict[str, Any]:
    """What the manifest says of the dense model."""
    return {
        "name": loaded.name,
        "fingerprint": loaded.fingerprint,
        "layers": len(decoder_layers(loaded.model)),
        "parameters": parameter_count(loaded.model),
    }


def drop_units(
    loaded: LoadedModel, method: str, units: list[int], model: Any = None
) -> PrunedModel:
    """A copy of ``loaded`` with the units of structural ``method`` at the given original
    block indices removed (the blocks, attention or MLP sublayers that ``method`` drops),
    chosen by the caller rather than by importance; loadable and saveable like any
    :func:`prune_model` result. The copy shares the dense tensors (:func:`working_copy`).
    ``model``: that copy already made (a plan's checked set), described instead of made
    again."""
    spec = get_method(method)
    if spec.unit is None:
        raise AdvisorError(f"{method} zeroes weights; it has no units to remove.")
    chosen = sorted(set(units))
    n_layers = len(_blocks(loaded.model))
    if any(not 0 <= u < n_layers for u in chosen) or len(chosen) >= n_layers:
        raise AdvisorError(f"{method} can remove 0 to {n_layers - 1} of {n_layers} layers.")
    before = _before(loaded)
    if model is None:
        model = working_copy(loaded.model, spec.family)
        layer_drop.drop(model, spec.unit, chosen)
    amount = Amount(layers=len(chosen))
    return _pruned_view(loaded, model, before, (spec, amount, 0, None), {"dropped": chosen})


def prune_model(
    loaded: LoadedModel,
    method: str,
    *,
    console: Any = None,
    in_place: bool = False,
    **options: Any,
) -> PrunedModel:
    """Prune a copy of ``loaded.model`` with ``method``; the dense model stays untouched,
    unless ``in_place``: then ``loaded.model`` itself is pruned (no second copy in memory;
    ``loaded`` no longer describes it and must not be used again).

    ``options`` are the fields of :class:`PruneRequest`: structural methods take ``ratio``
    (of the layers) or ``layers``; sparsity methods take ``sparsity`` and ``pattern``
    ('unstructured', '2:4', '4:8'); all take ``seed``, ``calib_samples`` and ``calib_len``.
    Deterministic for a given seed, calibration size and model.
    """
    request = PruneRequest(method, **options)
    spec, amount = _resolve(loaded, request)
    seed = request.seed
    calib = _calibration(loaded, spec, request)
    n_layers = len(decoder_layers(loaded.model))
    before = _before(loaded)
    model = loaded.model if in_place else working_copy(loaded.model, spec.family)
    with progress(console, f"{spec.name} {amount.label()}", n_layers) as advance:
        details = spec.run(model, amount, calib, seed, advance, loaded.cache_identity)
    return _pruned_view(loaded, model, before, (spec, amount, seed, calib), details)


def _pruned_view(
    loaded: LoadedModel, model: Any, before: dict[str, Any], how: tuple, details: dict[str, Any]
) -> PrunedModel:
    """``model`` (``loaded``'s pruned copy, made ``how``: method spec, amount, seed and
    calibration) as a :class:`PrunedModel`, its record set in its config."""
    spec, amount, seed, calib = how
    n_layers = before["layers"]
    manifest = _manifest(before, spec, amount, seed, calib, details, model)
    record = config_record(
        spec.name,
        n_layers,
        manifest["dropped_layers"],
        manifest["dropped_attn"],
        manifest["dropped_mlp"],
        manifest["sparsity"]["achieved"],
        pattern=amount.pattern,
        amount=amount.describe(),
        seed=seed,
        calibration_hash=calib.hash if calib is not None else None,
    )
    setattr(model.config, RECORD_KEY, record)
    view = LoadedModel(
        name=f"{loaded.name} ({spec.name} {amount.label()})",
        path=loaded.path,
        model=model,
        tokenizer=loaded.tokenizer,
        fingerprint=fingerprint(model),
        note=loaded.note,
        extra={RECORD_KEY: record},
    )
    return PrunedModel(loaded=view, manifest=manifest)


def working_copy(model: Any, family: str) -> Any:
    """A copy of ``model`` for a method of ``family`` (the registry's STRUCTURAL or
    SPARSITY) to prune.

    Structural methods only replace modules and edit the config, so their copy shares
    every tensor with the dense model (no second set of weights in memory: for a 7B model
    in fp32, 28 GB). Treat those tensors as read-only: change them in place on the pruned
    model and the dense model changes too. Methods that rewrite weights get a full copy.
    """
    if family != STRUCTURAL:
        return copy.deepcopy(model)
    shared = {id(tensor): tensor for tensor in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo=shared)


def _removed_parameters(model: Any, unit: str, dropped: list[int]) -> int:
    """How many parameters dropping ``dropped`` would remove (for the dry-run plan)."""
    layers = decoder_layers(model)
    total = 0
    for index in dropped:
        block = layers[index]
        if unit == "block":
            total += sum(p.numel() for p in block.parameters())
            continue
        names, norms = sublayer_parts(block, unit, model.config)
        for part in [*names, *norms]:
            total += sum(p.numel() for p in getattr(block, part).parameters())
    return total


def dry_run(
    loaded: LoadedModel, method: str, *, console: Any = None, **options: Any
) -> dict[str, Any]:
    """What ``prune_model`` would do, without pruning (``--dry-run``); same ``options``.

    Structural methods score every layer on the calibration text (one forward pass) and
    list the layers that would go; sparsity methods list how many weights each linear
    layer would lose. The dense model is left as it was.
    """
    request = PruneRequest(method, **options)
    spec, amount = _resolve(loaded, request)
    seed = request.seed
    before = parameter_count(loaded.model)
    result: dict[str, Any] = {
        "model": loaded.name,
        "method": spec.name,
        "kind": spec.family,
        "amount": amount.describe(),
        "seed": seed,
        "parameters_before": before,
    }
    calib = _calibration(loaded, spec, request)
    if calib is not None:
        result["calibration"] = calib.describe()
    if spec.structural:
        n_layers = len(decoder_layers(loaded.model))
        with progress(console, f"scoring {n_layers} layers", n_layers) as advance:
            scores = layer_drop.importance(loaded.model, calib, spec.unit, advance)
        order = layer_drop.ranking(scores)
        dropped = sorted(order[: amount.layers])
        result.update(importance=scores, ranking=order, would_drop=dropped)
        result["parameters_after"] = before - _removed_parameters(loaded.model, spec.unit, dropped)
        return result
    targets = {}
    for index, block in enumerate(decoder_layers(loaded.model)):
        for name, lin in block_linears(block).items():
            targets[f"layers.{index}.{name}"] = target_zeros(lin.weight.numel(), amount.sparsity)
    result.update(pattern=amount.pattern, zeros_per_layer=targets)
    result["zeros_total"] = sum(targets.values())
    return result
