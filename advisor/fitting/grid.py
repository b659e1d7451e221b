"""The fitting grid (docs/design.md §5c): pruning configurations, each read on the
calibration split (the direct evidence `assess` reads, and the representation hierarchy
on its report subset) and evaluated on the evaluation split (the ground truth).

Every finished configuration is appended to a JSONL file of cases at once, so a killed
fit restarts where it stopped and recomputes nothing; the dense side of both the
measurements and the evaluation is cached on disk as well.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.measure import measure
from advisor.measure.calibration_items import hierarchy_items
from advisor.measure.evidence import task_evidence
from advisor.models.loading import LoadedModel
from advisor.pruning import METHODS, get_method, prune_model
from advisor.rules.features import features_of
from advisor.suites import primary_items
from advisor.suites.items import Item, items_hash
from advisor.truth.evaluate import dense_results, evaluate_pair
from advisor.truth.retention import DEFAULT_TOLERANCE

# The methods a grid spans, in the order it runs them; each one's family (an amount in
# layers or a sparsity) is read from its registry entry.
GRID_METHODS = ("attn-drop", "mlp-drop", "block-drop", "magnitude", "wanda", "sparsegpt")


@dataclass(frozen=True)
class GridPoint:
    """One pruning configuration: a method and its amount (layers, or sparsity)."""

    method: str
    amount: float

    @property
    def id(self) -> str:
        """A stable name, e.g. ``attn-drop@2`` or ``wanda@0.1``."""
        return f"{self.method}@{self.amount:g}"

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`advisor.pruning.prune_model`."""
        if get_method(self.method).structural:
            return {"layers": int(self.amount)}
        return {"sparsity": float(self.amount)}


def grid(layers: Sequence[int], sparsities: Sequence[float]) -> list[GridPoint]:
    """Every structural method at each of ``layers`` and every sparsity method at each of
    ``sparsities``."""
    structural = [m for m in GRID_METHODS if get_method(m).structural]
    sparsity = [m for m in GRID_METHODS if not get_method(m).structural]
    return [GridPoint(m, n) for m in structural for n in layers] + [
        GridPoint(m, s) for m in sparsity for s in sparsities
    ]


def parse_grid(text: str) -> list[GridPoint]:
    """``"attn-drop@1,wanda@0.1"`` → grid points (the CLI's --grid)."""
    points = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        method, _, amount = part.partition("@")
        try:
            value = float(amount)
        except ValueError:
            value = None
        if method not in METHODS or value is None or value <= 0:
            raise AdvisorError(f"Grid point '{part}' is not method@amount (e.g. wanda@0.1).")
        # The amount is checked here, before any model loads, not when its point comes up.
        structural = get_method(method).structural
        if structural and not value.is_integer():
            raise AdvisorError(f"Grid point '{part}': {method} takes a whole number of layers.")
        if not structural and not value < 1:
            raise AdvisorError(f"Grid point '{part}': {method} takes a sparsity in (0, 1).")
        points.append(GridPoint(method, value))
    return points


# Gentle first: on SmolLM2-135M one dropped MLP sublayer or 5% magnitude sparsity already
# costs arithmetic ~20-30% (docs/design.md §5a), so outcomes must span go and no-go early.
DEFAULT_GRID = grid(layers=(1, 2, 3, 4, 6), sparsities=(0.05, 0.1, 0.2, 0.3, 0.5))
# The grid each built-in model was fitted over (a model not listed gets DEFAULT_GRID):
# both built-in models over the same one (Gemma-3-270M in the order: held-out grid, gentle
# amounts, then the larger ones).
MODEL_GRIDS = {"smollm2-135m": DEFAULT_GRID, "gemma3-270m": DEFAULT_GRID}


def default_grid(model: str) -> list[GridPoint]:
    """The grid ``fit`` runs for ``model`` unless told otherwise."""
    return MODEL_GRIDS.get(model, DEFAULT_GRID)


@dataclass(frozen=True)
class GridSettings:
    """How a grid point's ground truth is taken: the tolerance for go, the seed, and the
    sequential start (``adaptive`` questions first, more while borderline; 0 = all)."""

    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    adaptive: int = 32


def _suite_id(suites: dict[str, list[Item]]) -> str:
    return "-".join(f"{t}:{items_hash(items)}" for t, items in sorted(suites.items()))


_SUITE_PART = re.compile(r"(?<=:[0-9a-f]{16})-")


def calibration_part(suite_id: str) -> str:
    """The calibration suites of a row's suite id, without its evaluation suites.

    A finished row is matched on its calibration suites (what its evidence was read on),
    not on how many evaluation questions labelled it: a row keeps the label it was given
    (32 questions, or sequential evaluation of the whole split); delete it to relabel."""
    return "-".join(p for p in _SUITE_PART.split(suite_id) if not p.startswith("eval/"))


def calibration_hashes(suite_id: str) -> dict[str, str]:
    """Task type → calibration items hash, from a row's suite id (what its evidence was
    read on; the evaluation suites are left out)."""
    parts = (p.rsplit(":", 1) for p in _SUITE_PART.split(suite_id))
    return {task: digest for task, digest in parts if not task.startswith("eval/")}


def with_calibration(suite_id: str, hashes: dict[str, str]) -> str:
    """``suite_id`` with the calibration suites of ``hashes`` (task → items hash) replaced:
    for evidence re-measured on a changed calibration suite, whose labels still hold."""
    parts = _SUITE_PART.split(suite_id)
    for n, part in enumerate(parts):
        task = part.rsplit(":", 1)[0]
        if task in hashes:
            parts[n] = f"{task}:{hashes[task]}"
    return "-".join(parts)


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The rows of a cases file (a torn last line from a kill is ignored)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _append(path: Path, row: dict[str, Any]) -> None:
    # A kill mid-line leaves a torn last line; start on a fresh line so only it is lost.
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with path.open("a") as fh:
        fh.write(("\n" if torn else "") + json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def suite_id(suites: dict[str, list[Item]]) -> str:
    """The identity of a set of suites, as a cases file's ``suites`` records it."""
    return _suite_id(suites)


def append_case(path: Path, row: dict[str, Any]) -> None:
    """Append one row to a cases file, durably (a torn last line is left behind)."""
    _append(path, row)


def run_grid(
    dense: LoadedModel,
    points: Sequence[GridPoint],
    calibration: dict[str, list[Item]],
    evaluation: dict[str, list[Item]],
    cases_path: Path,
    *,
    settings: GridSettings = GridSettings(),
    on_point: Callable[[GridPoint, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure and evaluate every grid point not yet in ``cases_path``; return all rows
    for this dense model and these suites.

    Per point: the direct evidence on the calibration split (what `assess` reads), the
    representation hierarchy on its report subset, and the ground truth on the evaluation
    split (sequential from ``settings.adaptive`` questions).
    """

    tolerance, seed = settings.tolerance, settings.seed

    suite_id = _suite_id({**calibration, **{f"eval/{k}": v for k, v in evaluation.items()}})
    calibration_id = _suite_id(calibration)
    mine = [
        r
        for r in read_cases(cases_path)
        if r["fingerprint"] == dense.fingerprint and calibration_part(r["suites"]) == calibration_id
    ]
    done = {r["point"]["id"] for r in mine}
    primary = {t: primary_items(items) for t, items in calibration.items()}
    measured_items, _ = hierarchy_items(primary, decode=False)
    dense_scored: dict[str, list] = {}  # filled at the first point to compute, not before
    for point in points:
        if point.id in done:
            if on_point:
                on_point(point, "cached")
            continue
        start = time.perf_counter()
        pruned = prune_model(dense, point.method, **point.kwargs(), seed=seed)
        if not dense_scored:
            dense_scored.update((t, dense_results(dense, items)) for t, items in primary.items())
        evidence = {
            t: task_evidence(dense, pruned.loaded, t, items, dense_scored[t]).to_dict()
            for t, items in primary.items()
        }
        measured = measure(dense, pruned.loaded, measured_items, generate=False)
        truth = evaluate_pair(
            dense,
            pruned.loaded,
            evaluation,
            tolerance=tolerance,
            seed=seed,
            all_views=False,
            adaptive=settings.adaptive,
        )
        row = {
            "model": dense.name,
            "fingerprint": dense.fingerprint,
            "suites": suite_id,
            "point": {**asdict(point), "id": point.id},
            "parameters": pruned.manifest["parameters"],
            "achieved_sparsity": pruned.manifest["sparsity"]["achieved"],
            "evidence": evidence,
            "features": {t: features_of(measured.aggregates.get(t, {})) for t in calibration},
            "truth": {
                t: {
                    k: rec[k]
                    for k in (
                        "dense_score",
                        "pruned_score",
                        "retention",
                        "ci",
                        "outcome",
                        "n",
                        "fidelity",
                        "decisive",
                        "looks",
                    )
                }
                | {
                    "assessable": rec["competence"]["assessable"],
                    "competence": rec["competence"]["reason"],
                }
                for t, rec in truth.items()
            },
            "seconds": round(time.perf_counter() - start, 1),
        }
        _append(cases_path, row)
        mine.append(row)
        if on_point:
            on_point(point, f"{row['seconds']:.0f} s")
    wanted = {p.id for p in points}
    return [r for r in mine if r["point"]["id"] in wanted]
