"""The pruning methods, one declarative entry each, and validation of the amount asked for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.errors import AdvisorError
from advisor.pruning import layer_drop, magnitude, sparsegpt, wanda
from advisor.pruning.calibration import Calibration, check_size
from advisor.pruning.masks import PATTERNS, parse_pattern
from advisor.requests import PruneRequest


@dataclass(frozen=True)
class Amount:
    """How much to prune: a number of layers (structural) or a sparsity and pattern."""

    layers: int | None = None
    ratio: float | None = None
    sparsity: float | None = None
    pattern: str = "unstructured"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record of the amount, without the fields that do not apply."""
        if self.layers is not None:
            return {"layers": self.layers, "ratio": self.ratio}
        return {"sparsity": self.sparsity, "pattern": self.pattern}

    def label(self) -> str:
        """A short human label, e.g. '4 layers' or '50% 2:4'."""
        if self.layers is not None:
            return f"{self.layers} layer{'s' if self.layers != 1 else ''}"
        return f"{self.sparsity:.0%} {self.pattern}"


# (model copy, amount, calibration, seed, progress callback, the dense model's cache
# identity: what a method may key caches of dense-only quantities by) -> details
Runner = Callable[[Any, Amount, "Calibration | None", int, Callable[[], None], str], dict[str, Any]]


# A method's family: whole modules removed (an amount in layers) or weights zeroed (a
# sparsity). Every other module reads a method's family from its entry here.
STRUCTURAL, SPARSITY = "structural", "sparsity"


@dataclass(frozen=True)
class PruningMethod:
    """One pruning method: what it removes, how much is asked for, and the function."""

    name: str
    family: str  # STRUCTURAL (modules removed) or SPARSITY (weights zeroed)
    help: str
    run: Runner
    needs_calibration: bool = True
    patterns: tuple[str, ...] = ("unstructured",)
    unit: str | None = None  # structural: what one layer loses ("block", "attn", "mlp")

    @property
    def structural(self) -> bool:
        """Whether the method removes whole modules (its amount is a number of layers)."""
        return self.family == STRUCTURAL


def _structural(unit: str) -> Runner:
    def run(model, amount, calib, seed, advance, identity):
        # Importance depends on the dense model and the calibration text only: a sweep
        # or a second assess of the same model reuses it.
        scores = layer_drop.cached_importance(model, calib, unit, identity, advance)
        order = layer_drop.ranking(scores)
        dropped = sorted(order[: amount.layers])
        layer_drop.drop(model, unit, dropped)
        return {"importance": scores, "ranking": order, "dropped": dropped}

    return run


def _sparsity(module: Any) -> Runner:
    def run(model, amount, calib, seed, advance, identity):
        nm = parse_pattern(amount.pattern)
        if calib is None:
            module.prune(model, amount.sparsity, nm, seed, advance)
        else:
            module.prune(model, calib, amount.sparsity, nm, seed, advance)
        return {}

    return run


METHODS: dict[str, PruningMethod] = {
    m.name: m
    for m in (
        PruningMethod(
            "block-drop",
            STRUCTURAL,
            "remove whole decoder blocks, least Block Influence 1-cos(h_in,h_out) first (ShortGPT)",
            _structural("block"),
            unit="block",
        ),
        PruningMethod(
            "attn-drop",
            STRUCTURAL,
            "remove attention sublayers, least 1-cos(x, x+attn(norm x)) first (LLM-Drop)",
            _structural("attn"),
            unit="attn",
        ),
        PruningMethod(
            "mlp-drop",
            STRUCTURAL,
            "remove MLP sublayers, least 1-cos(x, x+mlp(norm x)) first (LLM-Drop)",
            _structural("mlp"),
            unit="mlp",
        ),
        PruningMethod(
            "magnitude",
            SPARSITY,
            "zero the smallest |W| of every block linear layer (no calibration)",
            _sparsity(magnitude),
            needs_calibration=False,
            patterns=PATTERNS,
        ),
        PruningMethod(
            "wanda",
            SPARSITY,
            "zero the lowest |W| x input-activation norm per output row (Wanda)",
            _sparsity(wanda),
            patterns=PATTERNS,
        ),
        PruningMethod(
            "sparsegpt",
            SPARSITY,
            "OBS-style pruning with weight reconstruction from the calibration Hessian (SparseGPT)",
            _sparsity(sparsegpt),
            patterns=PATTERNS,
        ),
    )
}


def get_method(name: str) -> PruningMethod:
    """The registered method called ``name``, or a clear error listing the others."""
    if name not in METHODS:
        raise AdvisorError(
            f"Unknown pruning method '{name}'. Choose one of: {', '.join(METHODS)}; or pass "
            f"--pruned PATH for a model you pruned elsewhere."
        )
    return METHODS[name]


def structural_methods() -> list[str]:
    """The registered methods that remove whole units (a block, an attention or an MLP
    sublayer per layer), in registry order."""
    return [m.name for m in METHODS.values() if m.unit is not None]


def check_unit_method(method: str | None) -> str:
    """``method`` if it removes units; else a clear error (no method, an unknown one, a
    sparsity method), raised before any model loads."""
    names = ", ".join(structural_methods())
    if method is None:
        raise AdvisorError(f"Say which structural method with --method (one of: {names}).")
    if get_method(method).unit is None:
        raise AdvisorError(
            f"{method} zeroes weights in every layer: it has no units to remove one at a "
            f"time. Give a structural method: {names}."
        )
    return method


def _structural_amount(spec, n_layers, ratio, layers, sparsity, pattern) -> Amount:
    of = f"the {n_layers}" if n_layers is not None else "the model's"
    if sparsity is not None or pattern != "unstructured":
        raise AdvisorError(
            f"{spec.name} removes whole modules, so --sparsity and --pattern do not apply; "
            f"say how many with --ratio (fraction of {of} layers) or --layers N."
        )
    if (ratio is None) == (layers is None):
        raise AdvisorError(
            f"{spec.name} needs exactly one amount: --ratio (fraction of {of} "
            f"layers, e.g. 0.25) or --layers N (e.g. 4)"
            + (", not both." if ratio is not None else ".")
        )
    if ratio is not None:
        if not 0 < ratio < 1:
            raise AdvisorError(
                f"--ratio is the fraction of {of} layers to drop and must be in "
                f"(0, 1), got {ratio}; e.g. --ratio 0.25, or --layers N for a count."
            )
        if n_layers is None:  # the count needs the model: checked again once it is loaded
            return Amount(ratio=ratio)
        layers = round(ratio * n_layers)
    if n_layers is None and layers < 0:
        raise AdvisorError(f"--layers is a number of layers to drop, 0 or more; got {layers}.")
    if n_layers is not None and not 0 <= layers < n_layers:
        raise AdvisorError(
            f"{spec.name} can drop 0 to {n_layers - 1} of the model's {n_layers} layers; "
            f"{layers} was asked for."
        )
    return Amount(layers=layers, ratio=ratio)


def _sparsity_amount(spec, ratio, layers, sparsity, pattern) -> Amount:
    if ratio is not None or layers is not None:
        raise AdvisorError(
            f"{spec.name} zeroes weights; --ratio and --layers are for block-drop, "
            f"attn-drop and mlp-drop. Give --sparsity (e.g. 0.5) and optionally --pattern."
        )
    if pattern not in spec.patterns:
        raise AdvisorError(
            f"--pattern {pattern} is not valid for {spec.name}; use one of "
            f"{', '.join(spec.patterns)}."
        )
    nm = parse_pattern(pattern)
    if nm is not None:
        implied = 1 - nm[0] / nm[1]
        if sparsity is not None and abs(sparsity - implied) > 1e-9:
            raise AdvisorError(
                f"--pattern {pattern} keeps {nm[0]} of every {nm[1]} weights, i.e. sparsity "
                f"{implied:g}; --sparsity {sparsity} contradicts it. Omit --sparsity."
            )
        return Amount(sparsity=implied, pattern=pattern)
    if sparsity is None:
        raise AdvisorError(f"{spec.name} needs --sparsity, the fraction of weights to zero.")
    if not 0 <= sparsity < 1:
        raise AdvisorError(f"--sparsity must be in [0, 1), got {sparsity}.")
    return Amount(sparsity=sparsity, pattern=pattern)


def resolve_amount(
    spec: PruningMethod,
    n_layers: int | None,
    *,
    ratio: float | None = None,
    layers: int | None = None,
    sparsity: float | None = None,
    pattern: str = "unstructured",
) -> Amount:
    """Check the amount options against the method and turn them into an ``Amount``;
    ``n_layers`` None (the model not loaded yet) checks all but the layer count."""
    if spec.structural:
        return _structural_amount(spec, n_layers, ratio, layers, sparsity, pattern)
    return _sparsity_amount(spec, ratio, layers, sparsity, pattern)


def requested_amount(request: PruneRequest, n_layers: int | None) -> tuple[PruningMethod, Amount]:
    """``request``'s method and its amount, checked for a model of ``n_layers`` layers
    (None: for any model, the layer count unchecked)."""
    spec = get_method(request.method)
    amount = resolve_amount(
        spec,
        n_layers,
        ratio=request.ratio,
        layers=request.layers,
        sparsity=request.sparsity,
        pattern=request.pattern,
    )
    return spec, amount


def check_amount(request: PruneRequest) -> None:
    """Everything about ``request``'s method and amount that holds for any model, checked
    before one loads (the layer count is checked again against the model)."""
    spec, _ = requested_amount(request, None)
    if spec.needs_calibration:
        check_size(request.calib_samples, request.calib_len)
