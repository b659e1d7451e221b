"""A pruning plan per task type: the largest set of units whose removal stays go.

From the sensitivity map (:mod:`advisor.guidance.sensitivity`), only units whose removal
*alone* is go on every task type named are candidates, ranked least harmful first (by the
worst predicted retention over the task types, then its lower bound). Units interact, so
the map only orders them: each candidate set is verified by a real assessment of the
combined pruning. The longest go prefix of the ranking is searched from the top (all
candidates first, then halving between the longest prefix verified go and the shortest
that failed: this assumes a longer prefix is no better), then each later candidate is
added in turn and kept only where the set stays go (:func:`choose`).

A set is checked by reading its evidence exactly as an assessment reads it (the same
items, looks, rule and tolerance), screened like the map (:mod:`advisor.guidance.screen`):
a set that can no longer be go stops reading there, so the sets that fail cost a few
items each, and go or not is what an assessment would say; a one-unit set is read off the
map. Two sets share the layers below the first unit where they differ, and the search
knows which sets its next two checks may take: each check keeps its states there for
those, which replay them (:mod:`advisor.forward.layer_replay`, as a sweep does; the same
numbers, bit for bit). The chosen set is then assessed for real
(:func:`advisor.assess.assess`: the verdicts, parameters and decoding speed a user would
get), reading its evidence from the prompt passes of its own check; should that not be
go, every set is assessed for real instead. Every check is cached like the map, so a
rerun repeats nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from advisor import forward
from advisor.cache import cache_file
from advisor.forward.layer_replay import LayerReplay, dense_tensors
from advisor.guidance.rows import AS_IS, unit_cost, unit_model
from advisor.guidance.sensitivity import (
    MapRequest,
    fitted_suites,
    request_tolerance,
    screened_run,
    sensitivity_map,
)
from advisor.models import parameter_count
from advisor.models.loading import LoadedModel
from advisor.pruning import drop_units
from advisor.publish import read_checked_json, write_checked_json
from advisor.rules.rules_file import load_rules
from advisor.suites.items import items_hash
from advisor.verdicts import GO

PLAN_VERSION = "plan-v3"  # v3: a check reads first the answers its units lost alone
# One assessment: (dense, pruned, tasks, **settings) -> its result.
Assessor = Callable[..., dict[str, Any]]


def alone_go(sensitivity: dict[str, Any]) -> list[int]:
    """The units whose removal alone is go on every task type of the map (none when a task
    type is not assessable: nothing can be go on it)."""
    rows = list(sensitivity["tasks"].values())
    if not rows or not all(r["assessable"] for r in rows):
        return []
    return [
        u for u in range(sensitivity["layers"]) if all(r["units"][u]["verdict"] == GO for r in rows)
    ]


def ranked(sensitivity: dict[str, Any], units: list[int]) -> list[int]:
    """``units`` least harmful first: the highest worst-case predicted retention over the
    task types, then the highest worst-case lower bound, then the lower layer."""
    rows = [r["units"] for r in sensitivity["tasks"].values() if r["assessable"]]

    def harm(u: int) -> tuple[float, float, int]:
        worst = min(r[u]["retention"] for r in rows)
        low = min(r[u]["interval"][0] for r in rows)
        return -worst, -low, u

    return sorted(units, key=harm)


def largest_passing(n: int, passes: Callable[[int], bool]) -> int:
    """The largest k in [0, n] that ``passes`` (k = 0 passes by definition): n first, then
    halving between the largest k that passed and the smallest that failed."""
    if n == 0 or passes(n):
        return n
    good, bad = 0, n
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if passes(mid) else (good, mid)
    return good


def choose(order: list[int], is_go: Callable[[list[int]], bool]) -> list[int]:
    """The units of ``order`` (least harmful first) to remove together, each set tried by
    ``is_go`` (a real assessment): the longest go prefix of ``order`` (all first, then
    halving), then each later unit added in turn and kept only where the set stays go
    (the unit that broke the prefix is passed over: back off, then go on)."""
    best = largest_passing(len(order), lambda k: is_go(sorted(order[:k])))
    chosen = list(order[:best])
    for unit in order[best + 1 :]:
        if is_go(sorted([*chosen, unit])):
            chosen.append(unit)
    return sorted(chosen)


class _Asked(Exception):
    """:func:`next_check`'s way out of :func:`choose`: the set it checks next."""

    def __init__(self, units: list[int], answers: list[bool]) -> None:
        super().__init__(units)
        self.units, self.answers = units, answers


def next_check(order: list[int], answers: list[bool]) -> tuple[list[int], list[bool]] | None:
    """The next set of more than one unit that :func:`choose` checks, given the answers to
    the sets it checked so far (in order), with the answers to every set before it (one-unit
    sets on the way are go: every candidate is go alone). None: it checks no more."""
    given, before = iter(answers), list(answers)

    def is_go(units: list[int]) -> bool:
        answer = next(given, None)
        if answer is not None:
            return answer
        if len(units) == 1:
            before.append(True)
            return True
        raise _Asked(units, before)

    try:
        choose(order, is_go)
    except _Asked as found:
        return found.units, found.answers
    return None


def later_checks(order: list[int], answers: list[bool], steps: int = 2) -> list[list[int]]:
    """The sets of more than one unit :func:`choose` may check in the next ``steps`` such
    checks after the set it checks now (``answers``: to every set before that one), whether
    each is go or not: the sets a check keeps layer prefixes for."""
    found: list[list[int]] = []
    for go in (True, False):
        asked = next_check(order, [*answers, go])
        if asked is not None:
            found.append(asked[0])
            found += later_checks(order, asked[1], steps - 1) if steps > 1 else []
    return found


def _summary(units: list[int], result: dict[str, Any]) -> dict[str, Any]:
    """What the plan keeps of one verifying assessment."""
    return {
        "units": units,
        "verdicts": {t: r["verdict"] for t, r in result["tasks"].items()},
        "predictions": {t: r.get("prediction") for t, r in result["tasks"].items()},
        "parameters": result["pruning"]["parameters"],
        "speedup": result["speed"]["speedup"],
        "go": all(r["verdict"] == GO for r in result["tasks"].values()),
    }


def _checked(units: list[int], cells: dict[str, dict], tasks: list[str]) -> dict[str, Any]:
    """A checked set from its cells (one per task type read, as the map's): the verdicts,
    predictions and items read, and whether it is go on every one of ``tasks``."""
    return {
        "units": units,
        "verdicts": {t: c["verdict"] for t, c in cells.items()},
        "predictions": {
            t: {"retention": c["retention"], "interval": c["interval"]} for t, c in cells.items()
        },
        "items": {t: c["items"] for t, c in cells.items()},
        "go": len(cells) == len(tasks) and all(c["verdict"] == GO for c in cells.values()),
    }


def from_map(sensitivity: dict[str, Any], unit: int) -> dict[str, Any]:
    """A one-unit set's check, read off the map (the map read it exactly as :func:`check`
    would: screened, in looks)."""
    cells = {t: row["units"][unit] for t, row in sensitivity["tasks"].items()}
    return _checked([unit], cells, list(cells))


def _set_file(
    dense: LoadedModel, request: MapRequest, units: list[int], suites: dict, *reading: str
) -> Path:
    """Where a set's check (``reading`` "screened") or assessment is cached: by the dense
    model, the method, the units, the items, the rules and the tolerance."""
    rules, _, rules_sha = load_rules(request.rules_path)
    hashes = {t: items_hash(suites[t]) for t in request.tasks}
    tolerance = request_tolerance(request, rules)
    key = (dense.cache_identity, request.method, units, hashes, rules_sha, tolerance)
    return cache_file("plan", PLAN_VERSION, *reading, *key)


def check(
    dense: LoadedModel,
    request: MapRequest,
    units: list[int],
    suites: dict,
    pruned: LoadedModel | None = None,
    first: dict[str, set[int]] | None = None,
    share: LayerReplay | None = None,
) -> dict:
    """Whether removing ``units`` together is go on every task type of ``request``: each
    read as an assessment reads it, screened (cached like :func:`verify`). Its verdicts,
    predictions and the items each read. ``pruned``: the set's model
    (:func:`~advisor.guidance.rows.unit_model`; made here if None); ``first``: per task
    type, the positions of the items to read first in each look (the answers the set's
    units lost alone: a set that is not go usually loses them too), the others narrowest
    dense margin first. The order moves only where a reading stops, never go or not.
    ``share``: layer prefixes kept by the sets checked before, ``pruned`` added to it."""
    rules = load_rules(request.rules_path)[0]
    tolerance = request_tolerance(request, rules)
    path = _set_file(dense, request, units, suites, "screened")
    found = read_checked_json(path)
    if found is not None:
        return found
    pruned = pruned or unit_model(dense, request.method, units)
    share = share or LayerReplay([pruned.model], set())
    cells = {}
    for task in request.tasks:
        items = suites[task]
        rule = rules["tasks"][task]  # a candidate is go alone on task: it has a rule
        lost = (first or {}).get(task, set())
        run = screened_run(dense, request.method, task, items, rule, tolerance, lost)
        cells[task] = unit_cost(run, AS_IS, pruned, share)
        if cells[task]["verdict"] != GO:
            break  # one task type not go settles the set
    found = _checked(units, cells, request.tasks)
    write_checked_json(path, found)
    return found


def verify(
    dense: LoadedModel,
    request: MapRequest,
    units: list[int],
    suites: dict,
    assessor: Assessor,
    model: Any = None,
) -> dict[str, Any]:
    """Assess the removal of ``units`` together on ``request``'s task types with
    ``assessor`` (:func:`advisor.assess.assess`; cached by the dense model, the units, the
    items, the rules and the tolerance); its summary. ``model``: the set's model already
    made (its prompt passes kept by an open :func:`advisor.forward.reuse` block are not
    run again)."""

    path = _set_file(dense, request, units, suites)
    found = read_checked_json(path)
    if found is not None:
        return found
    result = assessor(
        dense,
        drop_units(dense, request.method, units, model),
        request.tasks,
        hierarchy=False,
        decode=False,
        suites=suites,
        rules_path=request.rules_path,
        data_file=request.data,
        seed=request.seed,
        tolerance=request.tolerance,
    )
    summary = _summary(units, result)
    write_checked_json(path, summary)
    return summary


def make_plan(
    dense: LoadedModel,
    request: MapRequest,
    assessor: Assessor,
    console: Any = None,
    on_check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The plan for ``request`` (a structural method and the task types to stay go on):
    the sensitivity map, the candidates in rank order, every verified set (``on_check``
    receives each as it is settled) and the chosen units with their verified verdicts
    (``verified`` None when no unit can go). ``assessor`` verifies a set: the caller passes
    :func:`advisor.assess.assess` (guidance sits below assess, docs/design.md §9)."""

    clock = time.perf_counter()
    sensitivity = sensitivity_map(dense, request, console)
    map_s, clock = time.perf_counter() - clock, time.perf_counter()
    # A model keeps at least one unit (drop_units removes at most all but one): when every
    # unit is go alone, the most harmful one is no candidate.
    order = ranked(sensitivity, alone_go(sensitivity))[: sensitivity["layers"] - 1]
    suites = fitted_suites(dense, request)
    checked: list[dict[str, Any]] = []
    # The last set checked go is the one chosen, unless a larger one passes later (the sets
    # that pass only grow): its model is kept with its prompt passes, so that the chosen
    # set's assessment reads its evidence from them instead of running it again.
    last_go: dict[str, Any] = {"units": None, "model": None, "memo": ExitStack()}
    # Two sets share their layers below the first unit where they differ: each check keeps
    # the states there for the sets the next two checks may take (:func:`later_checks`),
    # which replay them (docs/design.md §5d).
    share = LayerReplay([], dense_tensors(dense.model))

    def checked_go(units: list[int]) -> bool:
        if len(units) == 1:
            checked.append(from_map(sensitivity, units[0]))
        else:
            model = unit_model(dense, request.method, units)
            later = later_checks(order, [c["go"] for c in checked])
            share.expect(model.model, [unit_model(dense, request.method, u).model for u in later])
            memo = ExitStack()
            memo.enter_context(forward.reuse(model.model))
            lost = {
                task: {n for u in units for n in row["units"][u].get("lost", [])}
                for task, row in sensitivity["tasks"].items()
            }
            checked.append(check(dense, request, units, suites, model, lost, share))
            share.finished(model.model)
            if checked[-1]["go"]:
                last_go["memo"].close()
                last_go.update(units=units, model=model, memo=memo)
            else:
                memo.close()
        if on_check:
            on_check(checked[-1])
        return checked[-1]["go"]

    def assessed_go(units: list[int]) -> bool:
        checked.append(verify(dense, request, units, suites, assessor))
        if on_check:
            on_check(checked[-1])
        return checked[-1]["go"]

    units = choose(order, checked_go)
    with last_go["memo"]:
        kept = last_go["model"].model if last_go["units"] == units else None
        verified = verify(dense, request, units, suites, assessor, kept) if units else None
    if verified is not None and not verified["go"]:  # the assessment has the last word
        units = choose(order, assessed_go)
        verified = verify(dense, request, units, suites, assessor) if units else None
    verify_s = time.perf_counter() - clock
    return {
        "model": dense.name,
        "method": request.method,
        "tasks": request.tasks,
        "tolerance": sensitivity["tolerance"],
        "map": sensitivity,
        "candidates": order,
        "checked": checked,
        "units": units,
        "verified": verified,
        "parameters_before": parameter_count(dense.model),
        # where the time went (cached parts cost only their reading)
        "seconds": {"map": round(map_s, 2), "verify": round(verify_s, 2)},
        # the checks' decoder calls that replayed a layer prefix, and the layer runs saved
        "replay": dict(share.stats),
    }
