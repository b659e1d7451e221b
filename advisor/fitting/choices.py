"""What ``prune-advisor fit`` runs: the lm-eval configurations it labels from, each
model's rows computed here or as Ray tasks, and the record of where the labels came from
(docs/design.md §5c, §9a)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor.cluster import RayTarget
from advisor.errors import AdvisorError
from advisor.fitting.external import Labelled, lm_eval_rows, read_manifest
from advisor.fitting.fit import FitRequest, grid_rows
from advisor.fitting.ray import grid_rows_on_ray, lm_eval_rows_on_ray
from advisor.models import LoadedModel
from advisor.pair import LoadOptions
from advisor.suites.tasks import task_names
from advisor.truth.lm_eval import parse_task_maps

DEFAULT_LM_EVAL_MODEL = "smollm2-135m"


def lm_eval_configs(
    manifest: Path,
    maps: list[str] | None,
    tolerance: float,
    tasks: list[str] | None,
    models: list[str] | None,
    allow_pickle: bool,
) -> list[Labelled]:
    """The manifest's configurations with their labels; a line without "model" is of the
    single --model (default smollm2-135m). ``tasks``: the task types named (None: all)."""
    extra = parse_task_maps(maps, task_names())
    configs = read_manifest(manifest, tolerance=tolerance, extra=extra, allow_pickle=allow_pickle)
    if any(c.model is None for c in configs) and len(models or []) > 1:
        raise AdvisorError(
            f'{manifest}: a line without "model" needs a single --model, not {len(models)}.'
        )
    default = (models or [DEFAULT_LM_EVAL_MODEL])[0]
    configs = [replace(c, model=c.model or default) for c in configs]
    if tasks and not any(t in c.labels for c in configs for t in tasks):
        raise AdvisorError("No --task you named has an lm-eval label in the manifest.")
    return configs


def lm_eval_provenance(manifest: Path, configs: list[Labelled]) -> dict[str, Any]:
    """Where lm-eval-labelled rules took their ground truth: the manifest and, per
    configuration, its model, results files and lm-eval tasks."""
    return {
        "source": "lm-eval",
        "manifest": str(manifest),
        "configurations": {c.id: _config_record(c) for c in configs},
    }


def _config_record(config: Labelled) -> dict[str, Any]:
    return {
        "model": config.model,
        "dense": config.files[0],
        "pruned": config.files[1],
        "lm_eval_tasks": {t: rec["lm_eval"] for t, rec in config.labels.items()},
    }


def _target(plan: FitRequest, name: str, dense: LoadedModel, ray: str) -> RayTarget:
    return RayTarget(ray, name, LoadOptions(allow_pickle=plan.allow_pickle), dense.fingerprint)


def model_rows(
    plan: FitRequest,
    name: str,
    dense: LoadedModel,
    ray: str | None,
    say: Callable[[str, str], None],
    configs: list[Labelled] | None = None,
) -> list[dict[str, Any]]:
    """Model ``name``'s rows, computed here or (with ``ray``) one Ray task each, or read back
    from the cases file: with ``configs``, its lm-eval-labelled configurations' evidence;
    else its grid points measured and evaluated. ``say(id, note)`` hears of each."""
    target = _target(plan, name, dense, ray) if ray is not None else None
    if configs is not None:
        mine = [c for c in configs if c.model == name]
        if target is not None:
            return lm_eval_rows_on_ray(target, dense, mine, plan.cases_path, plan.seed)
        return lm_eval_rows(
            dense, mine, plan.cases_path, seed=plan.seed, allow_pickle=plan.allow_pickle,
            on_config=say,
        )  # fmt: skip
    points = plan.points(name)
    on_point = lambda point, note: say(point.id, note)  # noqa: E731
    if target is not None:
        return grid_rows_on_ray(target, plan, dense, points, on_point)
    return grid_rows(plan, dense, points, on_point=on_point)
