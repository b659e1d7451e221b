"""The two models every comparison needs: the dense one, and its pruned counterpart —
pruned now with a method, or read from a folder pruned elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.cache import cache_dir
from advisor.errors import AdvisorError
from advisor.measure.probe import remember_dense
from advisor.models import load_model, low_memory
from advisor.models.loading import LoadedModel, check_model_spec
from advisor.models.placement import placement
from advisor.pruning import check_amount, get_method, load_pruned, prune_model
from advisor.pruning.checkpoint import check_pruned_folder
from advisor.requests import LoadOptions


@dataclass
class Pair:
    """A dense model, the pruned model compared with it, and the seconds each took."""

    dense: LoadedModel
    pruned: Any
    timings: dict[str, float] = field(default_factory=dict)


def load_dense(model: str, options: LoadOptions, console: Any = None) -> Any:
    """The dense model a command works on (an :class:`advisor.models.LoadedModel`)."""

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


def check_models(
    models: str | list[str] | tuple[str, ...],
    options: LoadOptions,
    request: Any = None,
    pruned_path: Path | None = None,
    *,
    compare: bool = False,
) -> None:
    """Everything about the models a command will open that can be checked before one
    loads, so that a mistake costs a moment, not a model load: the cache folder is usable,
    the loading options are valid, each of ``models`` is a built-in, a hub id or a whole
    model folder; ``request`` (a :class:`advisor.pruning.PruneRequest`) names a known method
    and a possible amount; with ``compare`` exactly one of ``request`` and ``pruned_path``
    says what the dense model is compared with, and ``pruned_path`` is a whole checkpoint
    folder."""

    cache_dir()
    placement(options.dtype, options.device, options.device_map)
    for spec in [models] if isinstance(models, str) else models:
        check_model_spec(spec, options.allow_pickle)
    if compare:
        check_request(request, pruned_path)
    if request is not None and request.method is not None:
        check_amount(request)
    if pruned_path is not None:
        check_pruned_folder(pruned_path, options.allow_pickle)


def open_pruned(
    dense: LoadedModel,
    request: Any,
    pruned_path: Path | None,
    *,
    allow_pickle: bool = False,
    console: Any = None,
    in_place: bool = False,
) -> Any:
    """The pruned model to compare with ``dense``: made now from ``request`` (an
    :class:`advisor.pruning.PruneRequest` whose method is set; ``in_place``: by pruning
    ``dense.model`` itself), or loaded from ``pruned_path`` (pickle weights only with
    ``allow_pickle``). Exactly one of the two must be given. Returns an
    :class:`advisor.pruning.PrunedModel`."""

    check_request(request, pruned_path)
    if pruned_path is not None:
        return load_pruned(pruned_path, dense, allow_pickle=allow_pickle)
    method = request.method
    get_method(method)
    options = {k: v for k, v in vars(request).items() if k != "method"}
    return prune_model(dense, method, console=console, in_place=in_place, **options)


def open_pair(
    model: str,
    options: LoadOptions,
    request: Any,
    pruned_path: Path | None = None,
    console: Any = None,
    warm: Callable[[Any], None] | None = None,
) -> Pair:
    """Load the dense model and open its pruned counterpart (:func:`open_pruned`), timing
    both (``load_s``, ``prune_s``). With ``options.low_memory`` the dense side is measured
    first (``warm(dense)`` caches what the run will read) and the dense model released
    before the pruned one exists (:func:`advisor.models.low_memory.release`): the pair's dense
    is then a stand-in without decoder weights (``dense_first_s`` timed too)."""
    start = time.perf_counter()
    dense = load_dense(model, options, console)
    timings = {"load_s": time.perf_counter() - start}
    if options.low_memory:
        return _open_low_memory(dense, options, request, pruned_path, console, warm, timings)
    start = time.perf_counter()
    pruned = open_pruned(
        dense, request, pruned_path, allow_pickle=options.allow_pickle, console=console
    )
    timings["prune_s"] = time.perf_counter() - start
    return Pair(dense, pruned, timings)


def _open_low_memory(dense, options, request, pruned_path, console, warm, timings) -> Pair:

    check_request(request, pruned_path)
    start = time.perf_counter()
    if warm is not None:
        warm(dense)
    remember_dense(dense)
    timings["dense_first_s"] = time.perf_counter() - start
    start = time.perf_counter()
    in_place = pruned_path is None
    stand_in = low_memory.release(dense, keep_outside=in_place)
    if in_place:
        pruned = open_pruned(dense, request, None, console=console, in_place=True)
    else:
        dense.model = None  # the dense weights go before the pruned ones are read
        low_memory.free()
        pruned = open_pruned(stand_in, None, pruned_path, allow_pickle=options.allow_pickle)
        low_memory.adopt(stand_in, pruned.loaded.model)
    low_memory.free()
    timings["prune_s"] = time.perf_counter() - start
    return Pair(stand_in, pruned, timings)
