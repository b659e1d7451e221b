"""The representation hierarchy of a pruned model against its dense original (docs/design.md §2–3).

For every item: the embedding space (residual stream per layer), the logit space (final
logits and the per-layer logit lens, final norm applied), the probability space
(next-token distribution at the end of the prompt), the categorical subspace of choice
items, and for generative items the accumulation of error over greedy decoding
(:mod:`advisor.measure.accumulation`). Results are a tidy JSON-ready :class:`Measurements`: per
item, per layer and per step, plus aggregates (mean, median, p90, worst) per task type.

Dense outputs are cached on disk (:mod:`advisor.measure.dense_cache`), so measuring a second
pruned configuration against the same dense model and items runs only the pruned model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from advisor import __version__
from advisor.measure import accumulation, dense_cache
from advisor.measure.aggregate import aggregate
from advisor.measure.record import Recording, record_model
from advisor.measure.spaces import (
    DEFAULT_TOP_K,
    LENS_NOTE,
    STREAM_NOTE,
    choice_scores,
    embedding_space,
    layer_alignment,
    lens_groups,
    logit_lens,
    logit_space,
    probability_space,
    subspace,
)
from advisor.models import anatomy, fingerprint_state, runtime_identity
from advisor.models.loading import LoadedModel
from advisor.pruning.shapes import skipped_spaces
from advisor.suites.items import Item, items_hash
from advisor.suites.tasks import is_generative
from advisor.truth.score import output_as_read

# --------------------------------------------------------------------------- orchestration


@dataclass
class Measurements:
    """Tidy results of one dense-vs-pruned measurement run (JSON-ready via :meth:`to_dict`).

    ``items``: one dict per item (``id``, ``task``, and one block per space measured);
    ``aggregates``: per task type, plus ``"all"``; ``meta``: models, settings, notes,
    timings and whether the dense cache was hit.
    """

    meta: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    aggregates: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of lists, floats, ints and strings."""
        return {"meta": self.meta, "items": self.items, "aggregates": self.aggregates}


def unwrap_model(obj: Any) -> Any:
    """The ``transformers`` model inside a LoadedModel, a pruning result or the model itself."""
    if hasattr(obj, "config") and callable(obj):
        return obj
    inner = getattr(obj, "model", None)
    if inner is not None and hasattr(inner, "config"):
        return inner
    raise TypeError(f"Cannot find a causal LM in {type(obj).__name__}.")


def _describe(obj: Any, model: Any) -> dict[str, Any]:
    obj = getattr(obj, "loaded", obj)  # a pruning result carries its LoadedModel view
    info: dict[str, Any] = {
        "architecture": type(model).__name__,
        "blocks": len(anatomy.decoder_layers(model)),
    }
    for attr in ("name", "fingerprint"):
        if isinstance(getattr(obj, attr, None), str):
            info[attr] = getattr(obj, attr)
    prune = getattr(model.config, "prune_advisor", None)
    if prune:
        info["prune_advisor"] = prune
    return info


@dataclass(frozen=True)
class MeasureSettings:
    """How to measure (the keyword options of :func:`measure`).

    ``temperature``: the user's decoding temperature (probability space reports T=1 too).
    ``horizon``: greedy steps per generative item (0 disables accumulation). ``top_k``: the
    k of the next-token top-k overlap. ``choice_norm``: how continuation candidates are
    scored ("mean" per token, or "sum"). ``generate``: decode every item (True), none
    (False), by task type (None: :func:`advisor.suites.tasks.is_generative`), or one flag
    per item (a sequence).
    ``batch_size``: prompts per forward pass (results do not depend on it).
    """

    temperature: float = 1.0
    horizon: int = accumulation.DEFAULT_HORIZON
    top_k: int = DEFAULT_TOP_K
    choice_norm: str = "mean"
    generate: bool | Sequence[bool] | None = None
    batch_size: int = 8


@dataclass(frozen=True)
class _Pair:
    """Both models' recordings on the same items, and how to compare them."""

    dense_model: Any
    pruned_model: Any
    tokenizer: Any
    dense: Recording
    pruned: Recording
    align: list[int]
    settings: MeasureSettings
    skipped: list[dict[str, str]]


def _decode_flags(items: list[Item], settings: MeasureSettings) -> list[bool]:
    """Which items are decoded freely (see :class:`MeasureSettings` ``generate``)."""
    generate = settings.generate
    if isinstance(generate, list | tuple):
        if len(generate) != len(items):
            raise ValueError("generate must give one flag per item.")
        flags = [bool(g) for g in generate]
    else:
        flags = [is_generative(it) if generate is None else generate for it in items]
    return [f and settings.horizon > 0 for f in flags]


def dense_recording(
    dense: LoadedModel,
    items: list[Item],
    flags: list[bool],
    settings: MeasureSettings,
    *,
    cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[Recording, dict[str, Any]]:
    """The dense side of :func:`measure` on ``items`` (``flags``: which are decoded), from
    the disk cache when present; and the cache record: ``state`` "hit", "miss" (stored now)
    or "off", and ``key``."""
    dense_model = unwrap_model(dense)
    key_settings = {
        "horizon": settings.horizon,
        "generate": [i for i, f in enumerate(flags) if f],
        "batch_size_invariant": True,
    }
    key = None
    dense_rec: Recording | None = None
    state = "off"
    if cache:
        fingerprint = getattr(dense, "fingerprint", None) or fingerprint_state(dense_model)
        identity = runtime_identity(fingerprint, dense_model)
        key = dense_cache.cache_key(identity, items_hash(items), key_settings)
        dense_rec = dense_cache.load(key)
        state = "hit" if dense_rec is not None else "miss"
    if dense_rec is None:
        if log:
            log(f"dense model on {len(items)} items")
        dense_rec = record_model(
            dense_model,
            dense.tokenizer,
            items,
            horizon=settings.horizon,
            generate=flags,
            batch_size=settings.batch_size,
        )
        if key is not None:
            dense_cache.save(key, dense_rec)
    return dense_rec, {"state": state, "key": key}


def warm_dense(dense: LoadedModel, items: list[Item], **options: Any) -> str:
    """Measure and cache the dense side :func:`measure` would need for ``items`` with the
    same ``options``, so that later measurements (in this process or another sharing the
    cache) run only their pruned model; returns the cache state before ("hit"/"miss")."""
    settings = MeasureSettings(**options)
    return dense_recording(dense, items, _decode_flags(items, settings), settings)[1]["state"]


def measure(
    dense: LoadedModel,
    pruned: Any,
    items: list[Item],
    *,
    cache: bool = True,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> Measurements:
    """Measure the representation hierarchy of ``pruned`` against ``dense`` on ``items``.

    ``dense``: a :class:`advisor.models.LoadedModel` (its tokenizer is used for both).
    ``pruned``: a LoadedModel, a pruning result holding ``.model``, or a bare model.
    ``options``: the fields of :class:`MeasureSettings` (``temperature``, ``horizon``, ...).
    ``cache``: reuse / store the dense side on disk. ``log``: called with one line per
    phase (for progress displays).
    """
    settings = MeasureSettings(**options)
    temperature, horizon = settings.temperature, settings.horizon
    if temperature <= 0:
        raise ValueError("temperature must be positive (greedy decoding is T -> 0; use 1e-2).")
    if not items:
        raise ValueError("No items to measure.")
    say = log or (lambda _msg: None)
    dense_model, tokenizer = unwrap_model(dense), dense.tokenizer
    pruned_model = unwrap_model(pruned)
    batch_size = settings.batch_size
    flags = _decode_flags(items, settings)

    t0 = time.perf_counter()
    dense_rec, cached = dense_recording(dense, items, flags, settings, cache=cache, log=say)
    t1 = time.perf_counter()

    say(f"pruned model on {len(items)} items")
    # The pruned model also reads the dense continuation teacher-forced, from the same
    # prefill that starts its own free-running decoding.
    pruned_rec = record_model(
        pruned_model,
        tokenizer,
        items,
        horizon=horizon,
        generate=flags,
        forced=dense_rec.gen_tokens,
        batch_size=batch_size,
    )
    forced_by_item = {
        i: h for i, h in enumerate(pruned_rec.forced_hidden) if h is not None and flags[i]
    }
    t2 = time.perf_counter()

    say("comparing")
    align = layer_alignment(dense_rec.last.shape[1] - 1, pruned_model)
    # A width-pruned residual stream has no cosine with the dense one (docs/design.md §9b).
    skipped = skipped_spaces(dense_rec.last.shape[-1], pruned_rec.last.shape[-1])
    pair = _Pair(
        dense_model, pruned_model, tokenizer, dense_rec, pruned_rec, align, settings, skipped
    )
    streams = torch.as_tensor(align[1:])
    vocab = dense_model.get_output_embeddings().weight.shape[0]
    rows = []
    for group in lens_groups(len(items), len(streams), vocab):
        # One output-head call per model for the whole group: a few-row matmul is bound by
        # reading the head's weights, a few-hundred-row one by arithmetic.
        lens_dense = logit_lens(dense_model, dense_rec.last[group, 1:])
        lens_pruned = logit_lens(pruned_model, pruned_rec.last[group][:, streams])
        for j, i in enumerate(group):
            rows.append(
                _compare_item(
                    pair, i, items[i], (lens_dense[j], lens_pruned[j]), forced_by_item.get(i)
                )
            )
        del lens_dense, lens_pruned  # [G, L, V] each: free before the next group
    t3 = time.perf_counter()

    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    aggregates = {task: aggregate(task_rows) for task, task_rows in by_task.items()}
    aggregates["all"] = aggregate(rows)
    meta = {
        "advisor_version": __version__,
        "dense": _describe(dense, dense_model),
        "pruned": _describe(pruned, pruned_model),
        "items_hash": items_hash(items),
        "n_items": len(items),
        "temperature": temperature,
        "horizon": horizon,
        "top_k": settings.top_k,
        "choice_norm": settings.choice_norm,
        "kl_direction": "KL(dense || pruned)",
        "accumulation_temperature": 1.0,
        "notes": {"logit_lens": LENS_NOTE, "streams": STREAM_NOTE},
        "layer_alignment": align,
        "skipped_spaces": skipped,
        "dense_cache": cached,
        "timing_s": {
            "dense": round(t1 - t0, 3),
            "pruned": round(t2 - t1, 3),
            "compare": round(t3 - t2, 3),
            "total": round(t3 - t0, 3),
        },
    }
    return Measurements(meta=meta, items=rows, aggregates=aggregates)


def _compare_item(
    pair: _Pair,
    i: int,
    item: Item,
    lenses: tuple[torch.Tensor, torch.Tensor],
    forced: torch.Tensor | None,
) -> dict[str, Any]:
    dense, pruned, settings = pair.dense, pair.pruned, pair.settings
    row: dict[str, Any] = {"id": item.id, "task": item.task}
    with torch.inference_mode():
        if not pair.skipped:
            row["embedding"] = embedding_space(
                dense.last[i], dense.mean[i], pruned.last[i], pruned.mean[i], pair.align
            )
        lens_d, lens_p = lenses
        row["logit"] = logit_space(lens_d, lens_p)
        row["probability"] = probability_space(
            lens_d[-1], lens_p[-1], settings.temperature, settings.top_k
        )
        if dense.choice[i] is not None and pruned.choice[i] is not None:
            norm = settings.choice_norm
            sub = subspace(
                choice_scores(dense.choice[i], dense.choice_tokens[i], norm),  # type: ignore[arg-type]
                choice_scores(pruned.choice[i], pruned.choice_tokens[i], norm),  # type: ignore[arg-type]
                item.gold,
            )
            sub["mode"] = item.candidate_mode
            row["subspace"] = sub
        if forced is not None:
            acc = accumulation.compare_generations(
                pair.dense_model,
                pair.pruned_model,
                dense.gen_tokens[i],  # type: ignore[arg-type]
                dense.gen_hidden[i],  # type: ignore[arg-type]
                forced,
                pruned.gen_tokens[i],  # type: ignore[arg-type]
                pruned.gen_hidden[i],  # type: ignore[arg-type]
                settings.horizon,
            )
            acc["dense_text"] = _example_text(pair.tokenizer, dense.gen_tokens[i], item)
            acc["pruned_text"] = _example_text(pair.tokenizer, pruned.gen_tokens[i], item)
            row["accumulation"] = acc
    return row


def _example_text(tokenizer: Any, tokens: Any, item: Item) -> str:
    """The report's example text of a decoding: for a generative item, as its evidence
    reads it (its own token limit and stop strings, not the curve's horizon); for others,
    whose evidence reads no decoding, the whole of it."""

    if is_generative(item):
        return output_as_read(tokenizer, tokens, item)
    return tokenizer.decode(list(tokens), skip_special_tokens=True)
