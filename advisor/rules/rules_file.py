"""The rules file: read, checked field by field before any model loads, and hashed.

A rules file is what ``prune-advisor fit`` writes (``data/rules/default.json`` ships one):
per task type the fitted line of :mod:`advisor.rules.predict` with its validation and
provenance. Every field a verdict reads is checked here, so a bad file fails as the
command starts, naming ``--rules``, not as an error mid-verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.paths import FILE, input_path
from advisor.resources import resource

DEFAULT_RULES = resource("data", "rules", "default.json")


def load_rules(path: str | Path | None = None) -> tuple[dict[str, Any], Path, str]:
    """The rules file, its path and its sha256 (the shipped default when ``path`` is None).

    Every field a verdict reads is checked here (:func:`_rules_problem`), so a bad file
    fails as the command starts, naming ``--rules``, not as an error mid-verdict."""
    hint = (
        "Pass --rules FILE (written by `prune-advisor fit`), or leave it out for the "
        "shipped rules (`prune-advisor fit` writes them anew)."
    )
    rules_path = input_path(path if path else DEFAULT_RULES, "--rules" if path else "", FILE, hint)
    blob = rules_path.read_bytes()
    try:
        rules = json.loads(blob)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
        raise AdvisorError(f"--rules {rules_path} is not valid JSON ({exc}).") from None
    problem = _rules_problem(rules)
    if problem:
        raise AdvisorError(
            f"--rules {rules_path} is not a rules file: {problem}. Pass a file written by "
            f"`prune-advisor fit`, or leave --rules out for the shipped rules."
        )
    return rules, rules_path, hashlib.sha256(blob).hexdigest()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rules_problem(rules: Any) -> str | None:
    """What makes ``rules`` unusable as a rules file (None: nothing): the fields a verdict
    reads (the tolerance, each rule's slope and misfit, what its reasons quote)."""
    if not isinstance(rules, dict) or not isinstance(rules.get("tasks"), dict):
        return "it has no 'tasks' table"
    tolerance = rules.get("tolerance", 0.9)
    if not _number(tolerance) or not 0 < tolerance <= 1:
        return f"its 'tolerance' must be a number in (0, 1], not {tolerance!r}"
    provenance = rules.get("provenance", {})
    if not isinstance(provenance, dict):
        return "its 'provenance' must be an object"
    models = provenance.get("training_models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) and "name" in m for m in models):
        return "its provenance's 'training_models' must be a list of objects with a 'name'"
    for task, rule in rules["tasks"].items():
        if not isinstance(rule, dict):
            return f"the rule of '{task}' must be an object, not {type(rule).__name__}"
        if "slope" not in rule:
            continue  # no rule for this task type: its verdict says so
        for key in ("slope", "misfit"):
            if not _number(rule.get(key)):
                return f"the rule of '{task}' needs '{key}' as a finite number"
        validation = rule.get("validation", {})
        held = validation.get("leave_one_model_out") if isinstance(validation, dict) else None
        if not isinstance(validation, dict) or not isinstance(held or {}, dict):
            return f"the rule of '{task}' has a 'validation' that is not as fit writes it"
    return None
