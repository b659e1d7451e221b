"""Is a saved result one this version can render? A check against the result schema.

``data/schema/result.schema.json`` documents result.json; ``prune-advisor report`` checks a
file against it before rendering, so a wrong or incomplete file is an input error that
names the field, not a crash in the template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.resources import resource

SCHEMA_FILE = resource("data", "schema", "result.schema.json")
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
