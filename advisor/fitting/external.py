"""Cases labelled by another evaluator: lm-eval results files (docs/design.md §5e).

A manifest (JSONL) lists the configurations, one a line::

    {"method": "attn-drop", "amount": 2, "dense": "dense.json", "pruned": "attn2.json"}
    {"checkpoint": "ckpt/wanda-50", "dense": "dense.json", "pruned": "wanda50.json"}

``method``/``amount``: prune-advisor prunes the dense model so (deterministic for a seed);
``checkpoint``: a folder pruned elsewhere. ``dense``/``pruned``: the lm-eval results files
of the two models (paths relative to the manifest); ``model`` (optional): the dense model,
default ``fit --model``; ``id`` (optional): the configuration's name. Per configuration the
direct evidence is measured on our calibration items as the grid measures it, and the
label is taken from the two files (:func:`advisor.truth.lm_eval.labels`). Rows have the
grid's shape, so :func:`advisor.fitting.fit.build_rules` fits them unchanged, and are kept in
the cases file (a rerun measures only configurations not yet there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.fitting.grid import GridPoint, append_case, parse_grid, read_cases, suite_id
from advisor.measure.evidence import dense_side, task_evidence
from advisor.models.loading import LoadedModel
from advisor.paths import FILE, input_path
from advisor.pruning import load_pruned, prune_model
from advisor.pruning.checkpoint import check_pruned_folder
from advisor.suites import build_suite, primary_items
from advisor.truth.evaluate import dense_results
from advisor.truth.lm_eval import TaskMap, labels
from advisor.truth.retention import DEFAULT_TOLERANCE


@dataclass(frozen=True)
class Labelled:
    """One configuration of a manifest: how to make or load the pruned model, and its
    labels per task type from lm-eval."""

    id: str
    model: str | None
    method: str | None
    amount: float | None
    checkpoint: str | None
    files: tuple[str, str]
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)


def _entry(raw: Any, where: str, base: Path, allow_pickle: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AdvisorError(
            f"{where}: each line is a JSON object (see docs/validation.md, 'lm-eval')."
        )
    missing = [k for k in ("dense", "pruned") if not raw.get(k)]
    if missing:
        raise AdvisorError(f"{where}: no {' or '.join(missing)} (lm-eval results files).")
    has_method = raw.get("method") is not None
    if has_method == bool(raw.get("checkpoint")):
        raise AdvisorError(
            f'{where}: say how the pruned model is made: either "method" with "amount" '
            '(pruned here) or "checkpoint" (a folder pruned elsewhere), not both.'
        )
    if has_method:
        (point,) = parse_grid(f"{raw['method']}@{raw.get('amount')}")  # checks both
        raw = raw | {"amount": point.amount}
    resolve = lambda p: str(p if Path(p).is_absolute() else base / p)  # noqa: E731
    out = {k: resolve(raw[k]) for k in ("dense", "pruned")}
    if raw.get("checkpoint"):
        out["checkpoint"] = resolve(raw["checkpoint"])
        # Checked now, with the line: not after the dense model and every earlier line.
        check_pruned_folder(out["checkpoint"], allow_pickle, f'{where}: "checkpoint"')
    return raw | out


def read_manifest(
    path: str | Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    extra: dict[str, TaskMap] | None = None,
    allow_pickle: bool = False,
) -> list[Labelled]:
    """The configurations of a manifest with their labels, all files and checkpoint folders
    checked before any model is loaded (errors name the line)."""
    hint = "Pass the JSONL manifest of configurations (README, 'lm-eval as ground truth')."
    path = input_path(path, "--lm-eval", FILE, hint)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AdvisorError(f"Cannot read the lm-eval manifest {path}: {exc}.") from exc
    configs = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        where = f"{path}, line {number}"
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise AdvisorError(f"{where} is not JSON ({exc}).") from exc
        entry = _entry(raw, where, path.parent, allow_pickle)
        method = entry.get("method")
        name = entry.get("id") or (
            GridPoint(method, entry["amount"]).id
            if method
            else f"checkpoint:{Path(entry['checkpoint']).name}"
        )
        flags = (f'{where}: "dense"', f'{where}: "pruned"')
        found = labels(entry["dense"], entry["pruned"], tolerance=tolerance, extra=extra,
                       flags=flags)  # fmt: skip
        configs.append(
            Labelled(
                id=str(name),
                model=entry.get("model"),
                method=method,
                amount=entry.get("amount"),
                checkpoint=entry.get("checkpoint"),
                files=(entry["dense"], entry["pruned"]),
                labels=found,
            )
        )
    if not configs:
        raise AdvisorError(f"The lm-eval manifest {path} lists no configuration.")
    seen: dict[tuple[Any, str], int] = {}
    for c in configs:
        seen[(c.model, c.id)] = seen.get((c.model, c.id), 0) + 1
    twice = sorted(i for (_, i), n in seen.items() if n > 1)
    if twice:
        raise AdvisorError(f"{path} lists {', '.join(twice)} more than once; give each an id.")
    return configs


def label_tasks(configs: list[Labelled]) -> list[str]:
    """Every task type some configuration has a label for."""
    return sorted({t for c in configs for t in c.labels})


@dataclass(frozen=True)
class EvidenceSetup:
    """What every configuration of one dense model shares: the calibration items per task
    type (primary view), the dense model's results on them, and their identity."""

    calibration: dict[str, list[Any]]
    dense_scored: dict[str, list[Any]]
    suites: str


def evidence_setup(dense: LoadedModel, tasks: list[str], seed: int = 0) -> EvidenceSetup:
    """Build the calibration suites of ``tasks`` and score the dense model on them (cached
    on disk, so this is also what warms the dense side before a fan-out)."""

    calibration = {t: primary_items(build_suite(t, "calibration", seed)) for t in tasks}
    scored = {t: dense_results(dense, items) for t, items in calibration.items()}
    for task, items in calibration.items():
        dense_side(dense, task, items)  # cached: the evidence's dense part
    return EvidenceSetup(calibration, scored, "lm-eval:" + suite_id(calibration))


def open_config(
    dense: LoadedModel, config: Labelled, seed: int = 0, allow_pickle: bool = False
) -> Any:
    """The pruned model of ``config`` (an :class:`advisor.pruning.PrunedModel`)."""

    if config.checkpoint is not None:
        return load_pruned(config.checkpoint, dense, allow_pickle=allow_pickle)
    point = GridPoint(config.method, config.amount)
    return prune_model(dense, point.method, **point.kwargs(), seed=seed)


def config_row(
    dense: LoadedModel,
    config: Labelled,
    setup: EvidenceSetup,
    seed: int = 0,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """One case row: ``config``'s evidence measured now, its labels from lm-eval."""

    start = time.perf_counter()
    pruned = open_config(dense, config, seed, allow_pickle)
    evidence = {
        t: task_evidence(dense, pruned.loaded, t, items, setup.dense_scored[t]).to_dict()
        for t, items in setup.calibration.items()
    }
    manifest = pruned.manifest
    method = config.method or manifest.get("method") or "checkpoint"
    amount = config.amount if config.method else manifest.get("amount")
    return {
        "model": dense.name,
        "fingerprint": dense.fingerprint,
        "suites": setup.suites,
        "point": {"method": method, "amount": amount, "id": config.id},
        "pruned_fingerprint": pruned.loaded.fingerprint,
        "parameters": manifest.get("parameters"),
        "achieved_sparsity": (manifest.get("sparsity") or {}).get("achieved"),
        "evidence": evidence,
        "truth": config.labels,
        "lm_eval": {"dense": config.files[0], "pruned": config.files[1]},
        "seconds": round(time.perf_counter() - start, 1),
    }


def pending(
    dense: LoadedModel, configs: list[Labelled], setup: EvidenceSetup, cases_path: Path
) -> tuple[list[Labelled], dict[str, dict[str, Any]]]:
    """Which configurations still need their evidence measured, and the rows of those
    that have it in ``cases_path`` (by id), their labels refreshed from lm-eval."""
    kept = {
        r["point"]["id"]: r
        for r in read_cases(cases_path)
        if r.get("fingerprint") == dense.fingerprint and r.get("suites") == setup.suites
    }
    done = {c.id: kept[c.id] | {"truth": c.labels} for c in configs if c.id in kept}
    return [c for c in configs if c.id not in done], done


def lm_eval_rows(
    dense: LoadedModel,
    configs: list[Labelled],
    cases_path: Path,
    *,
    seed: int = 0,
    allow_pickle: bool = False,
    on_config: Callable[[str, str], None] | None = None,
) -> list[dict[str, Any]]:
    """The case rows of ``configs`` against ``dense``, in manifest order: measured now, or
    read back from ``cases_path`` (each new row is appended there at once)."""
    setup = evidence_setup(dense, label_tasks(configs), seed)
    todo, rows = pending(dense, configs, setup, cases_path)
    for config in todo:
        row = config_row(dense, config, setup, seed, allow_pickle)
        append_case(cases_path, row)
        rows[config.id] = row
        if on_config:
            on_config(config.id, f"{row['seconds']:.0f} s")
    return [rows[c.id] for c in configs]
