"""Ground truth: score dense and pruned on a task's evaluation items and compare them.

The deciding measure is quality retention against gold or a reference
(:func:`advisor.truth.retention.retention`), wherever the dense model is competent
(:mod:`advisor.truth.competence`). Fidelity to the dense model is reported beside it:
the share of items with the same answer (option, passage, final number, normalised text),
and for items with generated text, the chrF of the pruned output against the dense one.

Dense item results are cached on disk by dense fingerprint and items, so evaluating a
further pruned configuration runs only the pruned model.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import numpy as np

from advisor.cache import cache_file
from advisor.models.loading import LoadedModel
from advisor.publish import read_checked_json, write_checked_json
from advisor.suites import PRIMARY_VIEW, primary_items, views
from advisor.suites.items import Item, items_hash
from advisor.truth import metrics as scoring
from advisor.truth.retention import DEFAULT_TOLERANCE, retention
from advisor.truth.score import ItemResult, dense_competence, score_model
from advisor.verdicts import NOT_ASSESSABLE

SCORES_VERSION = "scores-v4"  # v4: a prefix that prompts share runs once (rounding)


def dense_results(dense: LoadedModel, items: list[Item], *, cache: bool = True) -> list[ItemResult]:
    """The dense model's item results, from the disk cache when present."""
    identity = dense.cache_identity
    path = cache_file("scores", SCORES_VERSION, identity, items_hash(items))
    # A damaged or truncated entry fails its checksum and reads as None: recomputed below.
    rows = read_checked_json(path) if cache else None
    if rows is None:
        # Round-trip through JSON even when fresh, so a cache hit returns identical values.
        rows = json.loads(json.dumps([r.to_dict() for r in score_model(dense, items)]))
        if cache:
            write_checked_json(path, rows)
    return [ItemResult(**row) for row in rows]


def fidelity(dense: list[ItemResult], pruned: list[ItemResult]) -> dict[str, Any]:
    """How closely the pruned model's answers follow the dense model's."""
    same = [d.answer == p.answer for d, p in zip(dense, pruned, strict=True)]
    record: dict[str, Any] = {"same_answer": statistics.fmean(same)}
    pairs = zip(dense, pruned, strict=True)
    texts = [(d.output, p.output) for d, p in pairs if d.output is not None]
    if texts:
        record["chrf_to_dense"] = statistics.fmean(scoring.chrf(p or "", d) for d, p in texts)
        record["identical_text"] = statistics.fmean(d == p for d, p in texts)
    return record


def compare_task(
    task: str,
    items: list[Item],
    dense: list[ItemResult],
    pruned: list[ItemResult],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Competence, retention (the deciding measure) and fidelity for one task type."""
    competence = dense_competence(task, items, dense)
    record = retention(
        [r.score for r in dense],
        [r.score for r in pruned],
        tolerance=tolerance,
        seed=seed,
        level=level,
    )
    if not competence.assessable:
        record["outcome"] = NOT_ASSESSABLE
    return {
        "task": task,
        "competence": competence.to_dict(),
        **record,
        "fidelity": fidelity(dense, pruned),
        "examples": [
            {"id": d.id, "dense": d.output, "pruned": p.output}
            for d, p in list(zip(dense, pruned, strict=True))[:3]
            if d.output is not None
        ],
    }


def _pair(
    dense: LoadedModel, pruned: Any, task: str, items: list[Item], say: Any, **kw: Any
) -> dict:
    say(f"{task}: dense")
    dense_scores = dense_results(dense, items, cache=kw.pop("cache"))
    start = kw.pop("adaptive", 0)
    if start and start < len(_questions(items)):
        return _adaptive(pruned, task, items, dense_scores, start, say, **kw)
    say(f"{task}: pruned")
    record = compare_task(task, items, dense_scores, score_model(pruned, items), **kw)
    return record | {"looks": [record["n"]]}


def _questions(items: list[Item]) -> list[str]:
    return list(dict.fromkeys(i.meta.get("question_id", i.id) for i in items))


def _adaptive(
    pruned: Any,
    task: str,
    items: list[Item],
    dense_scores: list[ItemResult],
    start: int,
    say: Any,
    **kw: Any,
) -> dict:
    """Sequential evaluation: score the pruned model on ``start`` questions (a seeded
    random order, so every prefix spreads over the suite's sources), and double the
    count while the retention interval straddles the tolerance, up to the whole split.

    Each look uses a 1 − 0.05/L interval for L possible looks (Bonferroni), so stopping at
    the first decisive look keeps the overall error of a decisive label near 5%. Dense
    results are for the whole split (cached); competence reads all of them.
    """
    keys = _questions(items)
    order = [keys[k] for k in np.random.default_rng(kw["seed"]).permutation(len(keys))]
    sizes = []
    n = start
    while n < len(keys):
        sizes.append(n)
        n *= 2
    sizes.append(len(keys))
    level = 1 - 0.05 / len(sizes)
    scored: dict[str, ItemResult] = {}
    for size in sizes:
        chosen = set(order[:size])
        subset = [i for i in items if i.meta.get("question_id", i.id) in chosen]
        new = [i for i in subset if i.id not in scored]
        say(f"{task}: pruned on {len(subset)} of {len(items)} items")
        scored.update((r.id, r) for r in score_model(pruned, new))
        positions = [n for n, i in enumerate(items) if i.id in scored]
        record = compare_task(
            task,
            [items[n] for n in positions],
            [dense_scores[n] for n in positions],
            [scored[items[n].id] for n in positions],
            level=level,
            **kw,
        )
        record["looks"] = sizes[: sizes.index(size) + 1]
        if record["decisive"]:
            break
    record["competence"] = dense_competence(task, items, dense_scores).to_dict()
    if not record["competence"]["assessable"]:
        record["outcome"] = NOT_ASSESSABLE
    return record


def evaluate_pair(
    dense: LoadedModel,
    pruned: Any,
    suites: dict[str, list[Item]],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    all_views: bool = True,
    adaptive: int = 0,
    log: Any = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate ``pruned`` against ``dense`` (LoadedModel-likes) on each task's items.

    The verdict rests on each task's primary items (multiple-choice questions in their
    option-text view); with ``all_views`` the other views (lettered A-D) are evaluated
    too and reported under ``"views"``. ``adaptive=N`` starts each task type with N
    questions and adds more only while its label is borderline (:func:`_adaptive`). Dense
    results come from the disk cache (:func:`dense_results`).
    """
    say = log or (lambda _msg: None)
    kw = {"tolerance": tolerance, "seed": seed, "cache": True, "adaptive": adaptive}
    out = {}
    for task, items in suites.items():
        out[task] = _pair(dense, pruned, task, primary_items(items), say, **kw)
        if not all_views:
            continue
        for view, positions in views(items).items():
            if view not in (PRIMARY_VIEW, "-"):
                subset = [items[i] for i in positions]
                record = _pair(dense, pruned, task, subset, say, **kw | {"adaptive": 0})
                out[task].setdefault("views", {})[view] = record
    return out
