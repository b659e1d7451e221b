"""The self-contained HTML report: a result dict → one file with figures inlined.

Rendered from ``templates/report.html.j2`` with jinja2 autoescaping on, so everything a
model generated (or a user named) lands in the page as text, never as markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FunctionLoader

from advisor.gate import gate_sentence, gate_state
from advisor.notes import dense_cache_note, items_read, plan_headline, speed_note
from advisor.publish import finite_json, json_text, publish_files, writable_dir
from advisor.report import figures
from advisor.report.schema import check_result
from advisor.resources import resource
from advisor.suites.tasks import task_names
from advisor.verdicts import (
    CAUTION,
    GO,
    NO_GO,
    NOT_ASSESSABLE_MARK,
    NOT_COMPETENT,
    SKIPPED,
    STOPPED,
    VERDICT_STYLES,
)


def template(name: str) -> Any:
    """A shipped jinja2 template, autoescaping on, with the verdict colours as ``kinds``."""

    env = Environment(
        loader=FunctionLoader(lambda n: resource("templates", n).read_text(encoding="utf-8")),
        autoescape=True,
    )
    env.globals["verdict_styles"] = list(VERDICT_STYLES.values())
    return env.get_template(name)


__all__ = [
    "check_result",
    "map_figure",
    "plain_sentence",
    "plan_headline",
    "render",
    "render_plan",
    "render_sweep_index",
    "write_plan",
    "write_report",
]


def plain_sentence(task: str, record: dict[str, Any], tolerance: float | None) -> str:
    """One sentence a non-specialist can act on, for one task type's verdict."""
    share = f"{tolerance:.0%}" if tolerance else "the tolerated share"
    verdict = record["verdict"]
    pred = record.get("prediction")
    if verdict == GO:
        kept = (
            f" (predicted retention {pred['retention']:.2f}, at least {pred['interval'][0]:.2f})"
            if pred
            else ""
        )
        return (
            f"Safe to ship for {task}: it is predicted to keep at least {share} of the dense "
            f"model's {task} quality{kept}."
        )
    if verdict == NO_GO:
        below = (
            f" (predicted retention {pred['retention']:.2f}, at most {pred['interval'][1]:.2f})"
            if pred
            else f": {record['reasons'][0]}"
        )
        return (
            f"Do not ship for {task}: its quality is predicted to fall below {share} of the "
            f"dense model's{below}."
        )
    if verdict == CAUTION:
        settle = record.get("settle")
        span = (
            f" {pred['retention']:.2f} [{pred['interval'][0]:.2f}, {pred['interval'][1]:.2f}]"
            if pred
            else ""
        )
        return (
            f"Borderline for {task}: the predicted retention{span} does not decide against "
            f"{share}. "
            + (f"To settle it, {settle}." if settle else "Check with `prune-advisor evaluate`.")
        )
    competence = record.get("competence") or {}
    if competence.get("assessable", False):  # e.g. no rule for this task type
        return f"No verdict for {task}: {record['reasons'][0]}"
    why = competence.get("reason") or record["reasons"][0]  # the gate's words and numbers
    why = why.removeprefix(NOT_COMPETENT + ": ").removeprefix(NOT_ASSESSABLE_MARK)
    return (
        f"No verdict for {task}: nothing was checked, because the dense model itself is not "
        f"competent here ({why.rstrip('.')}), so a comparison would be noise."
    )


def render(result: dict[str, Any]) -> str:
    """The report HTML for a result dict (as written to result.json)."""

    tolerance = result["settings"].get("tolerance")
    # result.json is written with sorted keys: restore the task types' own order so that a
    # re-rendered report is the one assess wrote.
    rank = {name: i for i, name in enumerate(task_names())}
    tasks = dict(sorted(result["tasks"].items(), key=lambda kv: rank.get(kv[0], len(rank))))
    result = {**result, "tasks": tasks}
    overall = result.get("overall", {})  # aggregates over every calibration item
    figs = {
        "hierarchy": figures.hierarchy(overall),
        "accumulation": figures.accumulation(overall),
        "temperature": figures.temperature(tasks, result["settings"]["temperature"]),
        "subspace": figures.subspace(tasks),
    }
    return template("report.html.j2").render(
        r=result,
        figures=figs,
        sentences={n: plain_sentence(n, t, tolerance) for n, t in tasks.items()},
        gate_state=gate_state(result),
        gate_sentence=gate_sentence(result),
        notes={
            "speed": speed_note(result),
            "items": {n: items_read(t) for n, t in tasks.items()},
            "dense_cache": dense_cache_note(
                result["manifest"].get("measurement", {}).get("dense_cache")
            ),
        },
        manifest_json=json.dumps(result["manifest"], indent=2, sort_keys=True),
    )


def render_sweep_index(
    method: str,
    rows: list[dict[str, Any]],
    frontier: dict[str, float | None],
    png: str,
    map_png: str | None = None,
) -> str:
    """The index page of a sweep: the frontier figure, one row per amount and, when it was
    measured, the method's sensitivity map (``map_png``, :func:`map_figure`)."""

    shown = {v for r in rows for v in r["verdicts"].values()}
    notes = [
        text
        for marker, text in (
            (
                SKIPPED,
                "skipped: a larger amount is already go for this task type, so that "
                "is its largest go amount and smaller ones were not assessed (the frontier "
                "search; `--search every` assesses every amount).",
            ),
            (
                STOPPED,
                "stopped: two consecutive smaller amounts were no-go with a decisive "
                "margin, so larger ones were not assessed (early stop).",
            ),
        )
        if marker in shown
    ]
    return template("sweep.html.j2").render(
        method=method, rows=rows, frontier=frontier, figure=png, notes=notes, map_figure=map_png
    )


def write_report(result: dict[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """Write ``result.json`` and ``report.html`` into ``folder`` as one pair (see
    :func:`advisor.publish.publish_files`: each file whole, and two runs writing into one
    folder leave one run's pair, never a mix); return both paths."""
    folder = writable_dir(folder)
    result = finite_json(result)  # the page shows what result.json holds (null, not NaN)
    result_path, report_path = publish_files(
        folder,
        {
            "result.json": json_text(result, indent=1, sort_keys=True) + "\n",
            "report.html": render(result),
        },
    )
    return result_path, report_path


def render_plan(plan: dict[str, Any]) -> str:
    """The page of a plan (:func:`advisor.guidance.plan.make_plan`): the verified plan,
    what it saves, the sensitivity map and every verified set."""
    png = map_figure(plan["map"], plan["units"])
    unassessed = {t: r["reason"] for t, r in plan["map"]["tasks"].items() if not r["assessable"]}
    return template("plan.html.j2").render(
        plan=plan, headline=plan_headline(plan), figure=png, unassessed=unassessed
    )


def map_figure(sensitivity: dict[str, Any], chosen: list[int] = ()) -> str | None:
    """The heat map of a sensitivity map (:mod:`advisor.guidance.sensitivity`), the
    ``chosen`` units starred; None when no task type has a row."""
    rows = {t: r for t, r in sensitivity["tasks"].items() if r["assessable"]}
    if not rows:
        return None
    retention = {t: [u["retention"] for u in r["units"]] for t, r in rows.items()}
    go = {t: [u["verdict"] == GO for u in r["units"]] for t, r in rows.items()}
    method, tolerance = sensitivity["method"], sensitivity["tolerance"]
    return figures.sensitivity(retention, go, list(chosen), method, tolerance)


def write_plan(plan: dict[str, Any], folder: str | Path) -> Path:
    """Write ``plan.json`` and ``index.html`` into ``folder`` as one set; the page's path."""
    plan = finite_json(plan)
    contents = {
        "plan.json": json_text(plan, indent=1, sort_keys=True) + "\n",
        "index.html": render_plan(plan),
    }
    return publish_files(writable_dir(folder), contents)[1]
