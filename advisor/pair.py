"""The two models every comparison needs: the dense one, and its pruned counterpart —
pruned now with a method, or read from a folder pruned elsewhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError


@dataclass(frozen=True)
class LoadOptions:
    """How to load the dense model (the pruned one follows its dtype and devices): see
    :func:`advisor.models.load_model`."""

    trust_remote_code: bool = False
    dtype: str = "float32"
    device: str | None = None
    device_map: str | None = None
    allow_pickle: bool = False


@dataclass
class Pair:
    """A dense model, the pruned model compared with it, and the seconds each took."""

    dense: Any
    pruned: Any
    timings: dict[str, float] = field(default_factory=dict)


def load_dense(model: str, options: LoadOptions, console: Any = None) -> Any:
    """The dense model a command works on (an :class:`advisor.models.LoadedModel`)."""
    from advisor.models import load_model

    return load_model(
        model,
        trust_remote_code=options.trust_remote_code,
        dtype=options.dtype,
        device=options.device,
        device_map=options.device_map,
        allow_pickle=options.allow_pickle,
        console=console,
    )


def check_request(request: Any, pruned_path: Path | None) -> None:
    """Exactly one of a pruning method (``request.method``) and ``pruned_path`` must say
    what the dense model is compared with; commands check it before any model is loaded."""
    method = request.method if request is not None else None
    if (method is None) == (pruned_path is None):
        raise AdvisorError(
            "Say what to compare with the dense model: either --method NAME with its amount "
            "(e.g. --method attn-drop --layers 2), or --pruned FOLDER."
        )


def open_pruned(
    dense: Any,
    request: Any,
    pruned_path: Path | None,
    *,
    allow_pickle: bool = False,
    console: Any = None,
) -> Any:
    """The pruned model to compare with ``dense``: made now from ``request`` (an
    :class:`advisor.pruning.PruneRequest` whose method is set), or loaded from
    ``pruned_path`` (pickle weights only with ``allow_pickle``). Exactly one of the two must
    be given. Returns an :class:`advisor.pruning.PrunedModel`."""
    from advisor.pruning import get_method, load_pruned, prune_model

    check_request(request, pruned_path)
    if pruned_path is not None:
        return load_pruned(pruned_path, dense, allow_pickle=allow_pickle)
    method = request.method
    get_method(method)
    options = {k: v for k, v in vars(request).items() if k != "method"}
    return prune_model(dense, method, console=console, **options)


def open_pair(
    model: str,
    options: LoadOptions,
    request: Any,
    pruned_path: Path | None = None,
    console: Any = None,
) -> Pair:
    """Load the dense model and open its pruned counterpart (:func:`open_pruned`), timing
    both (``load_s``, ``prune_s``)."""
    start = time.perf_counter()
    dense = load_dense(model, options, console)
    timings = {"load_s": time.perf_counter() - start}
    start = time.perf_counter()
    pruned = open_pruned(
        dense, request, pruned_path, allow_pickle=options.allow_pickle, console=console
    )
    timings["prune_s"] = time.perf_counter() - start
    return Pair(dense, pruned, timings)
