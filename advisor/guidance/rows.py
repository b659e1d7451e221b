"""One task type's row of units: each unit's evidence read as an assessment reads it.

A row holds, for each unit u of a structural method, the evidence of one task type on a
model re-made from the dense one: with u alone removed (the sensitivity map), or with every
unit of a pruning removed but u (blame; for a sparsity pruning, the pruned model with layer
u's dense weights restored, :mod:`advisor.guidance.restore`). A unit-u model runs the dense
layers up to layer u, so the units run from the last layer down and replay the layer
prefix they share (:mod:`advisor.forward.layer_replay`). A screened row of short answers
(the map) reads all its units in lockstep, a few items per step, so the prefix is shared
however early a unit stops; any other row reads one unit after another, in groups of GROUP
(a step of a whole suite kept at every depth would hold too much). Each unit's result is
written to the cache as it finishes, keyed by the dense model's identity, the method, the
task's items, the rules, the tolerance and the units removed throughout: paid once, and an
interrupted row resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from advisor import forward
from advisor.cache import cache_file
from advisor.forward.layer_replay import LayerReplay, dense_tensors
from advisor.guidance.restore import restored_layer
from advisor.guidance.screen import SCREENED_KINDS, read_screened, screened_reading
from advisor.measure.evidence import evidence_kind, task_evidence
from advisor.models.loading import LoadedModel
from advisor.pruning import get_method, layer_drop, working_copy
from advisor.pruning.pruned import progress
from advisor.publish import read_checked_json, write_checked_json
from advisor.rules.bounds import loss_bounds
from advisor.rules.predict import Z, counts_of, predict_from
from advisor.suites.items import items_hash

ROW_VERSION = "sensitivity-v5"  # v5: a cell of short answers lists the answers it lost
# Units whose prefixes one LayerReplay keeps at once: each kept depth holds one hidden
# state per forward call, so a group bounds the memory while most layers still replay.
GROUP = 8
# How a unit's evidence is read. SCREENED: in looks, as a verdict reads it, stopping once
# the unit can no longer be go alone (the map and the plan's checks, which only ask "go
# or not": :mod:`advisor.guidance.screen`). EVERY_ITEM: on every item at once (blame,
# which ranks units: a verdict may commit on a quarter of the items, but restorations
# that all commit no-go there tie, and a ranking needs the finer count of every item).
SCREENED, EVERY_ITEM = "screened", "every item"
# The label of a cell read on a model as it is, no unit toggled (blame's pruning as it is,
# a plan's set).
AS_IS = -1
# A continuous reading of how far a unit's model is from the dense one on the evidence,
# by kind: what orders units whose predicted retentions tie (a count of kept answers moves
# in steps; the answers' NLL and agreement move before the count does). Lower is closer.
DIVERGENCE = {
    "survival": lambda stats: stats["answer_nll"],
    "answers": lambda stats: 1.0 - stats["answer_agreement"],
}


@dataclass(frozen=True)
class TaskRun:
    """What every unit of one task type's row shares: the dense model, the method, the
    items with the dense model's scored results, the rule and the tolerance."""

    dense: LoadedModel
    method: str
    task: str
    items: list[Any]
    scored: list[Any]
    rule: dict[str, Any]
    tolerance: float
    # The units removed in every model of the row: unit u's model removes these with u
    # toggled (the map: u alone removed; blame: all of them but u).
    removed: tuple[int, ...] = ()
    # SCREENED or EVERY_ITEM (see there).
    reading: str = SCREENED
    # A sparsity pruning (a LoadedModel) whose layers are restored one at a time: unit u's
    # model is it with layer u's dense weights back (:mod:`advisor.guidance.restore`).
    base: Any = None
    # SCREENED: the dense model's margin on each item, read narrowest first
    # (:func:`advisor.measure.evidence.dense_margins`; None: in look order).
    margins: tuple[float, ...] | None = None

    @property
    def dense_scores(self) -> list[float]:
        """The dense model's score on each item."""
        return [r.score for r in self.scored]

    def units_of(self, unit: int) -> list[int]:
        """What unit ``unit``'s model removes."""
        return sorted(set(self.removed) ^ {unit})

    def model_for(self, unit: int) -> Any:
        """Unit ``unit``'s model (a LoadedModel sharing the dense model's tensors)."""
        if self.base is not None:
            return restored_layer(self.base, self.dense, unit)
        return unit_model(self.dense, self.method, self.units_of(unit))


def unit_model(dense: LoadedModel, method: str, units: list[int]) -> LoadedModel:
    """``dense`` (a LoadedModel) with ``units`` of structural ``method`` removed, sharing
    its tensors: only what the evidence reads (no pruning record, manifest or weight
    fingerprint, which cost as much as a unit's evidence; its fingerprint names the
    units instead)."""
    spec = get_method(method)
    model = working_copy(dense.model, spec.family)
    layer_drop.drop(model, spec.unit, units)
    name = f"{dense.name} ({method} {units})"
    return replace(dense, name=name, model=model, fingerprint=f"{dense.fingerprint}/{name}")


def _measure(run: TaskRun, pruned: Any, share: LayerReplay, picks: list[int] | None) -> Any:
    """``run.task``'s evidence on ``pruned`` (a LoadedModel) at positions ``picks`` (None:
    every item), its layer prefixes replayed through ``share``."""
    label = run.task if picks is None else f"{run.task} on {len(picks)}"
    found = share.run(
        pruned.model,
        label,
        lambda: task_evidence(run.dense, pruned, run.task, run.items, run.scored, picks=picks),
    )
    found.positions = list(range(len(run.items))) if picks is None else list(picks)
    return found


def _row(run: TaskRun, unit: int, found: Any) -> dict[str, Any]:
    """A unit's cell from its evidence ``found`` (its ``look`` set): u, its sampling SD and
    interval, the items read, the predicted retention, interval and verdict, and the
    unit's divergence (:data:`DIVERGENCE`; the loss u for other kinds); for short answers
    also the positions of the answers it lost (a plan reads those first when it checks a
    set holding the unit: :func:`advisor.guidance.plan.check`)."""
    kind = evidence_kind(run.task)
    stats, z = found.stats, found.look["z"]
    low, high = loss_bounds(stats["loss"], stats["loss_sd"], z, counts_of(stats))
    prediction = predict_from(run.rule, stats, run.tolerance, z)
    return {
        "unit": unit,
        "loss": round(float(stats["loss"]), 6),
        "loss_sd": round(float(stats["loss_sd"]), 6),
        "loss_interval": [round(max(0.0, float(low)), 6), round(float(high), 6)],
        "items": found.look["items"],
        "retention": round(float(prediction.retention), 4),
        "interval": [round(float(prediction.low), 4), round(float(prediction.high), 4)],
        "verdict": prediction.verdict,
        "screened": bool(found.look.get("screened")),
        "divergence": round(float(DIVERGENCE.get(kind, lambda s: s["loss"])(stats)), 6),
    } | ({"lost": _lost(found)} if kind in SCREENED_KINDS else {})


def _lost(found: Any) -> list[int]:
    """The positions of the answers ``found`` (evidence with its positions) lost."""
    pairs = zip(found.positions, found.dense, found.pruned, strict=True)
    return [n for n, dense, pruned in pairs if pruned < dense]


def unit_cost(run: TaskRun, unit: int, pruned: Any, share: LayerReplay) -> dict[str, Any]:
    """The cell (:func:`_row`) of ``unit`` toggled (``pruned``: a LoadedModel), its
    evidence read as ``run.reading`` says, layer prefixes replayed through ``share``."""

    def measure_on(picks: list[int] | None) -> Any:
        return _measure(run, pruned, share, picks)

    kind = evidence_kind(run.task)
    with forward.reuse(pruned.model):
        if run.reading == EVERY_ITEM:
            found = measure_on(None)
            n = len(run.items)
            found.look = {"look": 1, "looks": 1, "items": n, "of": n, "z": Z}
        else:
            found = read_screened(
                run.rule, kind, run.dense_scores, run.tolerance, measure_on, run.margins
            )
    return _row(run, unit, found)


def _lockstep(
    run: TaskRun, todo: list[int], shared: set[int], finish: Callable[[int, dict], None]
) -> None:
    """Screened readings (of short answers: a few items per step) of every unit of
    ``todo`` together, one step at a time: every reading yields the same next positions
    until it stops (:func:`advisor.guidance.screen.screened_reading`), so at each step the
    units still reading run last layer first and each replays the layers below its own
    from the first one's pass (the deepest prefix is shared however early any unit stops).
    ``finish(u, cell)`` receives each unit's cell as its reading ends."""
    order = sorted(todo, reverse=True)
    models = {u: run.model_for(u) for u in order}
    share = LayerReplay([models[u].model for u in order], shared)
    kind, dense = evidence_kind(run.task), run.dense_scores
    with ExitStack() as memos:
        for unit in order:
            memos.enter_context(forward.reuse(models[unit].model))
        readings = {
            u: screened_reading(run.rule, kind, dense, run.tolerance, run.margins) for u in order
        }
        wanted = {u: next(reading) for u, reading in readings.items()}
        while wanted:
            for unit in [u for u in order if u in wanted]:
                found = _measure(run, models[unit], share, wanted[unit])
                try:
                    wanted[unit] = readings[unit].send(found)
                except StopIteration as stop:
                    del wanted[unit]
                    finish(unit, _row(run, unit, stop.value))
            share.forget()


def _unit_file(run: TaskRun, unit: int, rules_sha: str) -> Path:

    identity = run.dense.cache_identity
    key = (identity, run.method, run.task, items_hash(run.items), rules_sha, run.tolerance)
    base = run.base.cache_identity if run.base is not None else None
    return cache_file("sensitivity", ROW_VERSION, *key, list(run.removed), run.reading, base, unit)


def _groups(todo: list[int]) -> list[list[int]]:
    """The units to run, last layer first, in groups of at most GROUP."""
    order = sorted(todo, reverse=True)
    return [order[k : k + GROUP] for k in range(0, len(order), GROUP)]


def task_row(run: TaskRun, units: list[int], rules_sha: str, console: Any = None) -> list[dict]:
    """The cost of each of ``units`` for one task type (:meth:`TaskRun.units_of` says
    which model each is read on): cached units read back, the others measured (each
    written as it finishes), with a progress bar on ``console``."""

    paths = {u: _unit_file(run, u, rules_sha) for u in units}
    rows = {u: read_checked_json(p) for u, p in paths.items()}
    todo = [u for u, row in rows.items() if row is None]
    shared = dense_tensors(run.dense.model)
    if run.base is not None:
        shared |= dense_tensors(run.base.model)
    with progress(console, f"{run.method}: {run.task}", len(units)) as advance:
        for _ in range(len(units) - len(todo)):
            advance()

        def finish(unit: int, row: dict[str, Any]) -> None:
            rows[unit] = row
            write_checked_json(paths[unit], row)
            advance()

        if run.reading == SCREENED and evidence_kind(run.task) in SCREENED_KINDS:
            _lockstep(run, todo, shared, finish)
            return [rows[u] for u in units]
        for group in _groups(todo):
            models = [run.model_for(u) for u in group]
            share = LayerReplay([m.model for m in models], shared)
            for unit, pruned in zip(group, models, strict=True):
                finish(unit, unit_cost(run, unit, pruned, share))
                share.finished(pruned.model)
    return [rows[u] for u in units]
