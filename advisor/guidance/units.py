"""The units a structural method removes, one per decoder layer, read from the registry."""

from __future__ import annotations

from advisor.errors import AdvisorError


def structural_methods() -> list[str]:
    """The registered methods that remove whole units (a block, an attention or an MLP
    sublayer per layer), in registry order."""
    from advisor.pruning import METHODS

    return [m.name for m in METHODS.values() if m.unit is not None]


def check_unit_method(method: str | None) -> str:
    """``method`` if it removes units; else a clear error (no method, an unknown one, a
    sparsity method), raised before any model loads."""
    from advisor.pruning import get_method

    names = ", ".join(structural_methods())
    if method is None:
        raise AdvisorError(f"Say which structural method with --method (one of: {names}).")
    if get_method(method).unit is None:
        raise AdvisorError(
            f"{method} zeroes weights in every layer: it has no units to remove one at a "
            f"time. Give a structural method: {names}."
        )
    return method
