"""sweep: the largest pruning amount that is still go, per task type.

Each amount is pruned and assessed in turn (the dense side is measured once and reused;
by default the largest amount first, each task type only until its first go: the frontier
search of :mod:`advisor.sweep.frontier`), written as its own report, and marked finished by a
step file holding everything that made its result: a rerun into the same folder reuses
finished steps whose inputs are unchanged and runs the rest, so an interrupted sweep
resumes where it stopped. The frontier (largest go amount per task type) is drawn and
linked from an ``index.html``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.assess import assess, warm_dense_caches
from advisor.guidance.sensitivity import MapRequest, sensitivity_map
from advisor.measure.calibration_items import calibration_suites
from advisor.measure.speed import dense_latency
from advisor.models.loading import LoadedModel
from advisor.pruning import get_method, prune_model
from advisor.publish import atomic_write, writable_dir, write_json
from advisor.report import figures, map_figure, render_sweep_index, write_report
from advisor.rules.rules_file import load_rules
from advisor.sweep.frontier import (
    EarlyStop,
    FrontierSearch,
    amount_of,
    largest_go,
    pruned_up_front,
    search_order,
)
from advisor.sweep.plan import SweepRequest
from advisor.verdicts import NO_GO

STEP_FILE = "sweep_step.json"


def _finished_step(step_dir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a step finished by an earlier run with the same ``key``, else None."""
    try:
        if json.loads((step_dir / STEP_FILE).read_text()) != json.loads(json.dumps(key)):
            return None
        return json.loads((step_dir / "result.json").read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Run:
    """What every step of one sweep shares."""

    dense: LoadedModel
    plan: SweepRequest
    folder: Path
    rules_sha: str


def _label(step: dict[str, Any]) -> str:
    return f"{amount_of(step):g}"


def _key(run: _Run, step: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    """Everything that makes a step's result what it is: a rerun may reuse it only if all
    of it is unchanged."""
    plan = run.plan
    return {
        "dense": run.dense.fingerprint,
        "method": plan.method,
        "step": step,
        "pattern": plan.pattern,
        "tasks": tasks,
        "hierarchy": plan.hierarchy,
        "temperature": plan.temperature,
        "seed": plan.seed,
        "rules_sha256": run.rules_sha,
    } | ({"data": _data_key(plan.data)} if plan.data else {})


def _data_key(files: dict[str, Path]) -> dict[str, str]:
    """Each user suite file by its content's sha256: a changed file is a new suite."""

    return {t: hashlib.sha256(Path(p).read_bytes()).hexdigest() for t, p in files.items()}


@dataclass(frozen=True)
class AmountInputs:
    """How one step runs: the task types still swept, the amount's pruned model if it was
    pruned up front, the sweep's layer-prefix sharing (:mod:`advisor.sweep.frontier`), the
    calibration suites built once for every step."""

    tasks: list[str] | None = None
    pruned: Any = None
    share: Any = None
    suites: dict[str, Any] | None = None


def assess_amount(
    dense: LoadedModel,
    plan: SweepRequest,
    step: dict[str, Any],
    assessor: Callable[..., dict[str, Any]] = assess,
    console: Any = None,
    inputs: AmountInputs = AmountInputs(),
) -> dict[str, Any]:
    """Prune ``dense`` by one amount of ``plan`` (unless ``inputs`` holds it pruned) and
    assess it: the step's result (run in this process, or in a Ray task by
    :mod:`advisor.cluster`)."""

    pruned = inputs.pruned or prune_model(
        dense, plan.method, pattern=plan.pattern, seed=plan.seed, console=console, **step
    )
    result = assessor(
        dense,
        pruned,
        inputs.tasks if inputs.tasks is not None else plan.tasks,
        hierarchy=plan.hierarchy,
        share=inputs.share,
        suites=inputs.suites,
        temperature=plan.temperature,
        rules_path=plan.rules_path,
        seed=plan.seed,
        data_file=plan.data,
        fail_on=NO_GO,
        timings={},
    )
    if inputs.share is not None:
        inputs.share.finished(pruned.loaded.model)
    return result


def _publish(run: _Run, step: dict[str, Any], tasks: list[str], result: dict[str, Any]) -> None:

    step_dir = run.folder / f"{run.plan.method}-{_label(step)}"
    write_report(result, step_dir)
    key = _key(run, step, tasks)
    write_json(step_dir / STEP_FILE, key, sort_keys=True)  # last: marks it complete


def _finished(run: _Run, step: dict[str, Any], tasks: list[str]) -> dict[str, Any] | None:
    return _finished_step(run.folder / f"{run.plan.method}-{_label(step)}", _key(run, step, tasks))


def warm(
    dense: LoadedModel, plan: SweepRequest, step: dict[str, Any] | None, console: Any = None
) -> None:
    """Measure once, before any step, the dense side every step reads (its scores,
    evidence and, with ``plan.hierarchy``, hierarchy recordings, all cached on disk by
    fingerprint and items), and for structural methods the layer importance (by pruning
    ``step``; None skips it): the steps, here or in other processes sharing the cache,
    then run only their pruned model (docs/design.md §9a)."""

    warm_dense_caches(dense, plan.tasks, plan.seed, plan.data, hierarchy=plan.hierarchy)
    dense_latency(dense)  # every step's speed-up is then against this one measurement
    if step is not None and get_method(plan.method).structural:
        options = {"pattern": plan.pattern, "seed": plan.seed, "console": console}
        prune_model(dense, plan.method, **options, **step)


def _summary_row(
    label: str, seconds: float, tasks: list[str], marker: str, result: dict | None = None
) -> dict[str, Any]:
    """One amount's line of the sweep summary; a task type the amount did not assess (or
    an amount not assessed at all: ``result`` None) shows ``marker``."""
    verdicts = result["tasks"] if result else {}
    return {
        "amount": label,
        "seconds": round(seconds, 1),
        "verdicts": {t: verdicts.get(t, {}).get("verdict", marker) for t in tasks},
        "speedup": result["speed"]["speedup"] if result else None,
        "dense_cache": result["manifest"]["measurement"]["dense_cache"] if result else None,
    }


StepsRunner = Callable[[list[dict[str, Any]]], list[tuple[dict[str, Any], float]]]


def _remote_steps(run: _Run, remote: StepsRunner, console: Any) -> dict[str, tuple[Any, float]]:
    """Every unfinished step computed by ``remote`` (all at once, so no early stop), the
    dense side measured here first; each published as a local run publishes it."""
    todo = [s for s in run.plan.steps if _finished(run, s, run.plan.tasks) is None]
    if not todo:
        return {}
    warm(run.dense, run.plan, todo[0], console)
    computed = dict(zip(map(_label, todo), remote(todo), strict=True))
    for step in todo:
        _publish(run, step, run.plan.tasks, computed[_label(step)][0])
    return computed


def _map_png(dense: LoadedModel, plan: SweepRequest, console: Any) -> str | None:
    """The heat map of ``plan``'s sensitivity map, if it asks for one (cached per model)."""
    if not plan.sensitivity:
        return None

    request = MapRequest(plan.method, plan.tasks, plan.seed, plan.data, plan.rules_path)
    return map_figure(sensitivity_map(dense, request, console))


def sweep(
    dense: LoadedModel,
    plan: SweepRequest,
    folder: str | Path,
    *,
    console: Any = None,
    on_step: Callable[[str, float, str], None] | None = None,
    assessor: Callable[..., dict[str, Any]] = assess,
    remote: StepsRunner | None = None,
) -> dict[str, Any]:
    """Assess every amount of ``plan`` against ``dense`` into ``folder``; return the summary
    (also written as ``sweep.json``): per amount the verdicts, speed-up and time, and the
    largest go amount per task type; its rows run from the smallest amount up, whatever
    order they ran in. ``on_step(label, seconds, state)`` reports each amount (``state``:
    "resumed", "ray", or which task types were assessed); ``console`` shows pruning
    progress; ``assessor`` runs one assessment (default :func:`advisor.assess.assess`; the
    CLI wraps it in a status display). In this process the amounts share what they can and
    a task type is assessed only as far as ``plan.search`` needs (docs/design.md §5d);
    ``remote`` (e.g. :func:`advisor.cluster.sweep_runner`) instead computes every
    unfinished step elsewhere after the dense side is measured here, and returns each
    one's result and seconds."""

    rules_sha = load_rules(plan.rules_path)[2]
    run = _Run(dense, plan, writable_dir(folder), rules_sha)
    computed = _remote_steps(run, remote, console) if remote else {}
    # Remote steps were all computed at once, every task type at every amount.
    search = "every" if remote else plan.search
    steps = [plan.steps[k] for k in search_order(plan.steps, search)]
    if not remote and any(_finished(run, s, plan.tasks) is None for s in steps):
        # Every step then reads the dense side; the layer importance comes with the amounts
        # pruned up front below, so no amount is pruned here.
        warm(dense, plan, None, console)
    models, share = pruned_up_front(dense, plan, steps, console) if not remote else ([], None)
    suites = calibration_suites(plan.tasks, plan.seed, plan.data)
    pruned = dict(enumerate(models))
    stop: EarlyStop | FrontierSearch = (
        FrontierSearch(plan.tasks)
        if search == "frontier"
        else EarlyStop(plan.tasks, plan.early_stop and not remote)
    )
    rows = []
    for n, step in enumerate(steps):
        start = time.perf_counter()
        label, tasks = _label(step), stop.active()
        if not tasks:  # every task type is settled (or stopped) already: nothing to run
            rows.append(_summary_row(label, 0.0, plan.tasks, stop.marker))
            if on_step:
                on_step(label, 0.0, "nothing left to assess")
            continue
        result, state = _finished(run, step, tasks), "resumed"
        if label in computed:
            result, seconds = computed[label]
            state = "ray"
        elif result is None:
            inputs = AmountInputs(tasks, pruned.pop(n, None), share, suites)
            result = assess_amount(dense, plan, step, assessor, console, inputs)
            _publish(run, step, tasks, result)
            state = "assessed " + ", ".join(tasks)
        if state != "ray":
            seconds = time.perf_counter() - start
        stop.update(label, result)
        rows.append(_summary_row(label, seconds, plan.tasks, stop.marker, result))
        if on_step:
            on_step(label, seconds, state)
    rows.sort(key=lambda r: float(r["amount"]))
    frontier = largest_go(rows, plan.tasks)
    png = figures.frontier(
        [float(r["amount"]) for r in rows],
        {t: [r["verdicts"][t] for r in rows] for t in plan.tasks},
        plan.method,
    )
    html = render_sweep_index(plan.method, rows, frontier, png, _map_png(dense, plan, console))
    atomic_write(run.folder / "index.html", html)
    summary = {
        "method": plan.method,
        "model": dense.name,
        "steps": rows,
        "largest_go": frontier,
        "search": {
            "mode": search,
            "early_stop": search == "every" and plan.early_stop and not remote,
            # frontier: the amount each task type was settled at (its largest go);
            # every: the amount after which it stopped (two decisive no-gos)
            "stopped_at": stop.stopped,
        },
        "prefix_sharing": share.stats if share is not None else None,
        "index": str(run.folder / "index.html"),
    }
    write_json(run.folder / "sweep.json", summary, indent=1, sort_keys=True)
    return summary
