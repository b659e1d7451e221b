"""The self-contained HTML report: a result dict → one file with figures inlined.

Rendered from ``templates/report.html.j2`` with jinja2 autoescaping on, so everything a
model generated (or a user named) lands in the page as text, never as markup.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from advisor import figures
from advisor.errors import AdvisorError
from advisor.files import finite_json, json_text, publish_files, writable_dir

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
SCHEMA_FILE = ROOT / "data" / "schema" / "result.schema.json"
# The result schema's major version this code reads (``schema_version`` "1.x": fields are
# only ever added within a major version).
READABLE_MAJOR = "1"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, kind: str | list[str]) -> bool:
    kinds = [kind] if isinstance(kind, str) else kind
    for k in kinds:
        if isinstance(value, bool) and k in ("number", "integer"):
            continue  # JSON true/false are not numbers (Python's bool is an int)
        if isinstance(value, _JSON_TYPES[k]):
            return True
    return False


def schema_problem(value: Any, schema: dict[str, Any], where: str = "result") -> str | None:
    """The first way ``value`` breaks ``schema`` (the subset of JSON Schema our result
    schema uses: type, required, properties, additionalProperties, enum, pattern, items,
    minItems, minProperties, propertyNames), as a sentence naming the field; None if none.

    A small checker instead of the ``jsonschema`` package, which is only a test dependency.
    """
    if "type" in schema and not _type_ok(value, schema["type"]):
        return f"{where} must be of type {schema['type']}, not {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} is {value!r}, not one of {schema['enum']}"
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        return f"{where} is {value!r}, which does not match {schema['pattern']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where} needs at least {schema['minItems']} entries"
        for n, entry in enumerate(value):
            if "items" in schema and (
                problem := schema_problem(entry, schema["items"], f"{where}[{n}]")
            ):
                return problem
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where} has no '{key}'"
        if len(value) < schema.get("minProperties", 0):
            return f"{where} needs at least {schema['minProperties']} entries"
        names = schema.get("propertyNames", {}).get("enum")
        for key, entry in value.items():
            if names is not None and key not in names:
                return f"{where} has '{key}', not one of {names}"
            sub = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict) and (problem := schema_problem(entry, sub, f"{where}.{key}")):
                return problem
    return None


def check_result(result: Any, source: str | Path) -> dict[str, Any]:
    """``result`` (read from ``source``) if it is a result this version can render; else an
    :class:`AdvisorError` saying which field is missing or wrong."""
    if not isinstance(result, dict):
        raise AdvisorError(f"{source} is not a prune-advisor result: it holds a JSON "
                           f"{type(result).__name__}, not an object.")  # fmt: skip
    version = result.get("schema_version")
    if isinstance(version, str) and version.split(".")[0] != READABLE_MAJOR:
        raise AdvisorError(
            f"{source} has schema_version {version!r}; this prune-advisor reads "
            f"{READABLE_MAJOR}.x results only. Re-render it with the prune-advisor version "
            f"that wrote it, or run assess again."
        )
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    problem = schema_problem(result, schema)
    if problem is not None:
        raise AdvisorError(
            f"{source} is not a complete prune-advisor result: {problem}. Pass a "
            f"result.json written by `prune-advisor assess` (schema in {SCHEMA_FILE.name})."
        )
    return result


def plain_sentence(task: str, record: dict[str, Any], tolerance: float | None) -> str:
    """One sentence a non-specialist can act on, for one task type's verdict."""
    share = f"{tolerance:.0%}" if tolerance else "the tolerated share"
    verdict = record["verdict"]
    pred = record.get("prediction")
    kept = (
        f" (predicted retention {pred['retention']:.2f}, at least {pred['interval'][0]:.2f})"
        if pred
        else ""
    )
    if verdict == "go":
        return (
            f"Safe to ship for {task}: it is predicted to keep at least {share} of the dense "
            f"model's {task} quality{kept}."
        )
    if verdict == "no-go":
        below = (
            f" (predicted retention {pred['retention']:.2f}, at most {pred['interval'][1]:.2f})"
            if pred
            else f": {record['reasons'][0]}"
        )
        return (
            f"Do not ship for {task}: its quality is predicted to fall below {share} of the "
            f"dense model's{below}."
        )
    if verdict == "caution":
        settle = record.get("settle")
        return (
            f"Borderline for {task}: the predicted retention"
            + (
                f" {pred['retention']:.2f} [{pred['interval'][0]:.2f}, {pred['interval'][1]:.2f}]"
                if pred
                else ""
            )
            + f" does not decide against {share}. "
            + (f"To settle it, {settle}." if settle else "Check with `prune-advisor evaluate`.")
        )
    competence = record.get("competence", {})
    return (
        f"No verdict for {task}: the dense model itself is not competent here "
        f"(score {competence.get('score', 0):.2f} vs chance {competence.get('chance', 0):.2f}"
        f"), so a comparison would be noise."
    )


def render(result: dict[str, Any]) -> str:
    """The report HTML for a result dict (as written to result.json)."""
    from jinja2 import Environment, FileSystemLoader

    from advisor.tasks import task_names

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
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
    return env.get_template("report.html.j2").render(
        r=result,
        figures=figs,
        sentences={n: plain_sentence(n, t, tolerance) for n, t in tasks.items()},
        manifest_json=json.dumps(result["manifest"], indent=2, sort_keys=True),
    )


def write_report(result: dict[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """Write ``result.json`` and ``report.html`` into ``folder`` as one pair (see
    :func:`advisor.files.publish_files`: each file whole, and two runs writing into one
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
