"""lm-evaluation-harness results as ground truth (docs/design.md §5e).

A results file written by ``lm_eval --output_path`` holds, per lm-eval task, each metric
as ``"<metric>,<filter>"`` with its standard error as ``"<metric>_stderr,<filter>"``. For
a dense and a pruned model evaluated on the same tasks, each task is mapped onto one of our
task types (:data:`TASK_TABLE`, or the user's ``NAME=TYPE``), the tasks of one type are
averaged (macro mean, as lm-eval averages a group), and the label is the quality retention
pruned / dense with an interval from both standard errors: the same record
:func:`advisor.truth.retention.retention` gives our own evaluation, so
:func:`advisor.fitting.fit.cases_for` reads it unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.paths import FILE, FOLDER, input_path
from advisor.truth.retention import DEFAULT_TOLERANCE
from advisor.verdicts import CAUTION, GO, NO_GO

Z95 = 1.96  # two-sided 95% interval, as our own evaluation's bootstrap
Z_COMPETENT = 1.645  # one-sided 5%: the dense score must be clearly above chance


@dataclass(frozen=True)
class TaskMap:
    """One row of the mapping table: lm-eval tasks named ``name`` or ``name_*`` are of our
    task type ``task``; ``chance`` is the score of guessing; ``metrics`` are tried in
    order (the first the results file holds decides)."""

    name: str
    task: str
    chance: float
    metrics: tuple[str, ...]


_MC = ("acc_norm", "acc")
_CLS = ("acc", "f1", "mcc")
_MATH = ("exact_match",)
_QA = ("exact_match", "em", "exact", "contains", "f1")
# The documented table (README "lm-eval as ground truth"; docs/design.md §5e).
TASK_TABLE: tuple[TaskMap, ...] = (
    TaskMap("arc_easy", "multiple-choice", 0.25, _MC),
    TaskMap("arc_challenge", "multiple-choice", 0.25, _MC),
    TaskMap("hellaswag", "multiple-choice", 0.25, _MC),
    TaskMap("mmlu", "multiple-choice", 0.25, _MC),
    TaskMap("openbookqa", "multiple-choice", 0.25, _MC),
    TaskMap("sciq", "multiple-choice", 0.25, _MC),
    TaskMap("piqa", "multiple-choice", 0.5, _MC),
    TaskMap("winogrande", "multiple-choice", 0.5, _MC),
    TaskMap("boolq", "classification", 0.5, _CLS),
    TaskMap("sst2", "classification", 0.5, _CLS),
    TaskMap("rte", "classification", 0.5, _CLS),
    TaskMap("qnli", "classification", 0.5, _CLS),
    TaskMap("mnli", "classification", 1 / 3, _CLS),
    TaskMap("gsm8k", "math", 0.0, _MATH),
    TaskMap("minerva_math", "math", 0.0, _MATH),
    TaskMap("hendrycks_math", "math", 0.0, _MATH),
    TaskMap("squad_completion", "rag", 0.0, _QA),
    TaskMap("squadv2", "rag", 0.0, _QA),
    TaskMap("triviaqa", "rag", 0.0, _QA),
    TaskMap("nq_open", "rag", 0.0, _QA),
    TaskMap("coqa", "rag", 0.0, _QA),
    TaskMap("drop", "rag", 0.0, _QA),
)
# Filters in order of preference where a metric is reported under several (gsm8k).
FILTERS = ("flexible-extract", "strict-match", "none")
_DEFAULT_METRICS = {"multiple-choice": _MC, "classification": _CLS, "math": _MATH, "rag": _QA}


def parse_task_maps(pairs: list[str] | None, known_tasks: list[str]) -> dict[str, TaskMap]:
    """The user's ``NAME=TYPE`` or ``NAME=TYPE@METRIC`` mappings (``--lm-eval-task``), which
    take precedence over :data:`TASK_TABLE`; chance is taken as 0 (competence then only
    needs a dense score clearly above 0)."""
    found = {}
    for pair in pairs or []:
        name, _, rest = pair.partition("=")
        task, _, metric = rest.partition("@")
        if not name or task not in known_tasks:
            raise AdvisorError(
                f"--lm-eval-task '{pair}' is not NAME=TYPE with TYPE one of "
                f"{', '.join(known_tasks)} (e.g. my_qa=rag, or my_qa=rag@exact_match)."
            )
        metrics = (metric,) if metric else _DEFAULT_METRICS.get(task, ("acc", "exact_match"))
        found[name] = TaskMap(name, task, 0.0, metrics)
    return found


def task_map(name: str, extra: dict[str, TaskMap] | None = None) -> TaskMap | None:
    """The mapping of lm-eval task ``name``: the user's own, else the table's (the name
    itself or ``<name>_<subtask>``), else None."""
    if extra and name in extra:
        return extra[name]
    for row in TASK_TABLE:
        if name == row.name or name.startswith(row.name + "_"):
            return row
    return None


def read_results(path: str | Path, flag: str = "lm-eval results") -> dict[str, Any]:
    """An lm-eval results file (or a folder holding exactly one ``results_*.json``, as
    ``--output_path`` leaves it), checked for the parts a label needs; ``flag`` is how the
    user named it in errors (an option, or a manifest field)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = input_path(path, flag, FOLDER)
        found = sorted(path.rglob("results_*.json"))
        if len(found) != 1:
            raise AdvisorError(
                f"{path} holds {len(found)} lm-eval results files (results_*.json); name "
                "the file itself."
            )
        path = found[0]
    hint = "Pass a results_*.json that lm_eval --output_path writes, or its folder."
    path = input_path(path, flag, FILE, hint)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise AdvisorError(f"Cannot read the lm-eval results file {path}: {exc}.") from exc
    except ValueError as exc:
        raise AdvisorError(f"{path} is not JSON ({exc}); pass a file written by lm_eval "
                           "--output_path.") from exc  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise AdvisorError(
            f"{path} is not an lm-eval results file: it has no 'results' table (pass the "
            "results_*.json that lm_eval --output_path writes, not a samples file)."
        )
    data["_path"] = str(path)
    return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _metric(entry: dict[str, Any], mapping: TaskMap) -> tuple[str, float, float] | None:
    """(key, value, stderr) of the first preferred metric ``entry`` reports with a stderr."""
    for metric in mapping.metrics:
        name, _, wanted = metric.partition(",")
        keys = [k for k in entry if k.partition(",")[0] == name and "," in k]
        if wanted:
            keys = [k for k in keys if k.partition(",")[2] == wanted]
        keys.sort(key=lambda k: (FILTERS.index(f) if (f := k.partition(",")[2]) in FILTERS
                                 else len(FILTERS), k))  # fmt: skip
        for key in keys:
            stat, _, filt = key.partition(",")
            value = _number(entry[key])
            stderr = _number(entry.get(f"{stat}_stderr,{filt}"))
            if value is not None and stderr is not None:
                return key, value, stderr
    return None


def _scored_tasks(data: dict[str, Any]) -> list[str]:
    """The tasks that carry their own score: a subtask of a group that is reported too is
    left to the group (lm-eval's aggregate), so it is not counted twice."""
    results = data["results"]
    inside = {
        sub
        for group, subs in (data.get("group_subtasks") or {}).items()
        if group in results
        for sub in subs
    }
    return [name for name in results if name not in inside]


def task_scores(
    data: dict[str, Any], extra: dict[str, TaskMap] | None = None
) -> dict[str, dict[str, Any]]:
    """Per lm-eval task of a results file: its task type, metric key, value, stderr and
    sample count. An unmapped task is a user error that says how to map it."""
    out = {}
    for name in _scored_tasks(data):
        mapping = task_map(name, extra)
        if mapping is None:
            raise AdvisorError(
                f"lm-eval task '{name}' (in {data['_path']}) is not in the mapping table "
                f"(docs/validation.md, 'lm-eval as ground truth'). Say which task type it "
                f"measures with "
                f"--lm-eval-task {name}=TYPE (TYPE: multiple-choice, classification, math, "
                f"rag, generation, summarization or retrieval)."
            )
        found = _metric(data["results"][name], mapping)
        if found is None:
            raise AdvisorError(
                f"lm-eval task '{name}' in {data['_path']} reports none of "
                f"{', '.join(mapping.metrics)} with its stderr (lm-eval writes "
                "'<metric>_stderr'; run it without --bootstrap_iters 0), or name the metric: "
                f"--lm-eval-task {name}={mapping.task}@METRIC."
            )
        key, value, stderr = found
        samples = (data.get("n-samples") or {}).get(name, {}).get("effective")
        out[name] = {
            "task": mapping.task,
            "chance": mapping.chance,
            "metric": key,
            "value": value,
            "stderr": stderr,
            "n": samples,
            "hash": (data.get("task_hashes") or {}).get(name),
            "shots": (data.get("n-shot") or {}).get(name),
        }
    return out


def _check_same_runs(dense: dict, pruned: dict, paths: tuple[str, str]) -> None:
    if set(dense) != set(pruned):
        raise AdvisorError(
            f"The dense and pruned lm-eval files cover different tasks ({paths[0]}: "
            f"{', '.join(sorted(dense))}; {paths[1]}: {', '.join(sorted(pruned))}): "
            "evaluate both models on the same tasks."
        )
    for name, d in dense.items():
        p = pruned[name]
        for field, what in (("n", "samples"), ("shots", "shots"), ("hash", "samples")):
            if d[field] is not None and p[field] is not None and d[field] != p[field]:
                raise AdvisorError(
                    f"lm-eval task '{name}' was run differently for the dense and the pruned "
                    f"model ({what}: {d[field]} vs {p[field]}); the labels need the same "
                    "items and prompts on both."
                )


def _outcome(low: float, high: float, tolerance: float) -> str:
    return GO if low >= tolerance else NO_GO if high < tolerance else CAUTION


def labels(
    dense_file: str | Path,
    pruned_file: str | Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    extra: dict[str, TaskMap] | None = None,
    flags: tuple[str, str] = ("dense lm-eval results", "pruned lm-eval results"),
) -> dict[str, dict[str, Any]]:
    """Per task type, the ground-truth label from a dense and a pruned lm-eval results
    file: ``retention`` = pruned / dense (macro mean over the type's lm-eval tasks),
    ``ci`` its 95% interval (delta method over both stderrs, taken as independent: the
    runs share items, so this errs wide), ``outcome``/``decisive`` against ``tolerance``,
    and ``assessable`` when the dense score is clearly above chance (one-sided 5%).
    ``flags``: how the user named the two files, for errors."""
    d_data, p_data = read_results(dense_file, flags[0]), read_results(pruned_file, flags[1])
    dense, pruned = task_scores(d_data, extra), task_scores(p_data, extra)
    _check_same_runs(dense, pruned, (d_data["_path"], p_data["_path"]))
    out: dict[str, dict[str, Any]] = {}
    for task in sorted({entry["task"] for entry in dense.values()}):
        names = sorted(n for n, e in dense.items() if e["task"] == task)
        k = len(names)
        d = sum(dense[n]["value"] for n in names) / k
        p = sum(pruned[n]["value"] for n in names) / k
        se_d = math.sqrt(sum(dense[n]["stderr"] ** 2 for n in names)) / k
        se_p = math.sqrt(sum(pruned[n]["stderr"] ** 2 for n in names)) / k
        chance = sum(dense[n]["chance"] for n in names) / k
        z = (d - chance) / se_d if se_d > 0 else (math.inf if d > chance else 0.0)
        assessable = d > 0 and z > Z_COMPETENT
        record: dict[str, Any] = {
            "source": "lm-eval",
            "lm_eval": {n: dense[n]["metric"] for n in names},
            "dense_score": d,
            "pruned_score": p,
            "n": sum(dense[n]["n"] or 0 for n in names) or None,
            "assessable": assessable,
            "competence": f"lm-eval dense score {d:.3f} ± {se_d:.3f} vs chance {chance:.3g} "
            f"(z = {z:.2f}; {'above' if assessable else 'not clearly above'} chance)",
            "retention": None,
            "ci": None,
            "outcome": None,
            "decisive": False,
        }
        if d > 0:
            ratio = p / d
            se = math.sqrt((se_p / d) ** 2 + (p * se_d / d**2) ** 2)
            low, high = ratio - Z95 * se, ratio + Z95 * se
            outcome = _outcome(low, high, tolerance)
            record |= {
                "retention": ratio,
                "ci": [low, high],
                "outcome": outcome,
                "decisive": outcome != CAUTION,
            }
        out[task] = record
    return out
