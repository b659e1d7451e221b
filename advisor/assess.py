"""assess: the quick pre-deployment check behind ``prune-advisor assess``.

load → prune → measure → rules: the short calibration suite of each task type runs
through the dense and the pruned model (prefill passes only); the dense model's
competence is checked on the same items; the direct evidence of each task's quality
(:mod:`advisor.measure.evidence`) feeds the shipped rules, which predict the quality
retention with an interval and give go / caution / no-go (or not-assessable) per task
type with the reasons (:mod:`advisor.rules.predict`). The representation hierarchy is
measured on a few items per task type for the report. The result is a JSON-ready dict
following ``data/schema/result.schema.json``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

from advisor import forward
from advisor.errors import AdvisorError
from advisor.gate import gate_record, parse_fail_on
from advisor.guidance.blame import blame
from advisor.measure import measure
from advisor.measure.accumulation import example_pairs
from advisor.measure.assessable import decided_competence
from advisor.measure.calibration_items import calibration_suites, fit_suites, hierarchy_items
from advisor.measure.compare import warm_dense
from advisor.measure.evidence import dense_side, evidence_kind, task_evidence
from advisor.measure.probe import probe_broken, same_as_dense
from advisor.measure.speed import latency
from advisor.models.loading import LoadedModel
from advisor.models.placement import versions
from advisor.provenance import pruning_record
from advisor.rules.features import features_of
from advisor.rules.looks import evidence_in_looks
from advisor.rules.predict import explain
from advisor.rules.rules_file import load_rules
from advisor.suites import load_spec
from advisor.suites.diagnose import suite_hints
from advisor.suites.items import Item, items_hash
from advisor.suites.own import SuiteFiles, suite_files
from advisor.truth.evaluate import dense_results
from advisor.verdicts import NO_GO, NOT_ASSESSABLE, broken_reason, not_assessable_text

SCHEMA_VERSION = "1.0"


def check_temperature(temperature: float) -> None:
    """Raise a clear error unless ``temperature`` is a finite number above 0.

    NaN passes a plain ``<= 0`` test, and every KL at T = NaN came out as 0.0 ("identical
    models"); inf flattens every distribution to uniform. Neither is a decoding setting.
    """
    if not math.isfinite(temperature) or temperature <= 0:
        raise AdvisorError(
            f"--temperature must be a finite number above 0 (your deployment's decoding "
            f"temperature, e.g. 0.7 or 1.0); got {temperature}."
        )


def warm_dense_caches(
    dense: LoadedModel,
    tasks: list[str],
    seed: int,
    data_file: Any = None,
    *,
    hierarchy: bool = True,
    decode: bool = True,
) -> None:
    """Measure and cache on disk the dense side an assessment of ``tasks`` reads: its item
    scores, the evidence's dense side for each task it is competent at and, with
    ``hierarchy``, its hierarchy recordings (decoded as with ``decode``). Later runs, here
    or in processes sharing the cache, then run only their pruned model."""

    suites = calibration_suites(tasks, seed, data_file)
    fit_suites(suites, dense, lambda _warning: None)  # assess itself warns
    for task, decided in decided_competence(dense, suites).items():
        if decided.assessable:
            dense_results(dense, suites[task])
            dense_side(dense, task, suites[task])
    if hierarchy:
        items, decoded = hierarchy_items(suites, decode)
        if items:
            warm_dense(dense, items, generate=decoded)


def covers(task: str, items: list[Item], data_file: str | Path | None) -> str:
    """What a verdict covers: which prompts it was measured on (``data_file``: the user's
    suite for ``task``, None for the built-in one)."""
    if data_file is not None:
        own = sum(1 for i in items if i.meta.get("prompt_source") == "user")
        how = (
            f", {own} of them in your own prompt format"
            if own
            else f", in the built-in {task} prompt template"
        )
        return f"{len(items)} items of your suite {Path(data_file).name}{how}."

    about = load_spec(task).get("about", "").split(". ")[0].rstrip(".")
    return f"{len(items)} calibration items of the built-in {task} suite ({about})."


def _not_assessable(reason: str) -> dict[str, Any]:
    return {"verdict": NOT_ASSESSABLE, "confidence": None, "reasons": [reason], "path": []}


def _broken_verdict(reason: str) -> dict[str, Any]:
    return {
        "verdict": NO_GO,
        "confidence": 1.0,
        "reasons": [broken_reason(reason)],
        "path": [],
    }


@dataclass(frozen=True)
class AssessSettings:
    """What to assess and how (the keyword options of :func:`assess`).

    ``temperature``: the deployment decoding temperature; ``rules_path``: a rules file (the
    shipped one when None); ``data_file``: the user's own suites (one file for a single
    task type, or a mapping task type -> file; :mod:`advisor.suites.own`);
    ``seed``: for the built-in suites; ``fail_on``: the verdicts that fail the gate
    (:func:`advisor.gate.parse_fail_on`: "no-go", "caution", "not-assessable" or a
    comma-separated combination); ``tolerance``: the retention needed for go (None: the rules');
    ``decode``: decode a few items freely for the report (no verdict needs it);
    ``hierarchy``: measure the representation hierarchy at all; ``share``: runs each task's
    evidence, ``share.run(model, task, compute)`` (a sweep's :class:`LayerReplay`);
    ``suites``: the calibration suites, built once by a caller that assesses many models
    (else built here from ``seed`` and ``data_file``); ``blame``: restore each removed unit
    of a structural pruning (each sparsified layer's dense weights of a sparsity one) in
    turn and say which would raise each task type's predicted retention most
    (:mod:`advisor.guidance.blame`).
    """

    temperature: float = 1.0
    rules_path: str | Path | None = None
    data_file: SuiteFiles = None
    seed: int = 0
    fail_on: str = NO_GO
    tolerance: float | None = None
    decode: bool = True
    hierarchy: bool = True
    share: Any = None
    suites: dict[str, list[Item]] | None = None
    blame: bool = False


def assess(
    dense: LoadedModel,
    pruned: Any,
    tasks: list[str],
    *,
    timings: dict[str, float] | None = None,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Assess ``pruned`` (an ``advisor.pruning.PrunedModel``) against ``dense`` for ``tasks``.

    ``options`` are the fields of :class:`AssessSettings`. Returns the result dict (schema
    ``SCHEMA_VERSION``); ``result["gate"]["failed"]`` says whether any task's verdict is in
    ``fail_on``. A pruned model whose outputs are NaN / inf or do not depend on the input
    gets no-go for every task, with the reason, and is not measured further. ``timings``
    (seconds of the caller's phases) go into the manifest; ``log`` receives progress lines
    and ``warn`` warnings for the user (default: :func:`warnings.warn`).
    """

    settings = AssessSettings(**options)
    temperature, seed, fail_on = settings.temperature, settings.seed, settings.fail_on
    rules_path, files = settings.rules_path, suite_files(tasks, settings.data_file)

    fail_on = parse_fail_on(fail_on)
    check_temperature(temperature)
    say = log or (lambda _msg: None)
    rules, rules_file, rules_sha = load_rules(rules_path)
    tolerance = settings.tolerance
    tolerance = float(rules.get("tolerance", 0.9)) if tolerance is None else tolerance
    if not 0 < tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {tolerance}.")
    timings = dict(timings or {})
    clock = time.perf_counter()

    say("building calibration suites")
    built = settings.suites
    suites = {t: built[t] for t in tasks} if built else calibration_suites(tasks, seed, files)
    truncated = fit_suites(suites, dense, warn or (lambda msg: warnings.warn(msg, stacklevel=3)))
    say("probing the pruned model")
    broken = probe_broken(dense, pruned.loaded)
    # Assessable or not is the dense model's property, decided in fp32 whatever this run's
    # precision (docs/design.md §5h); the evidence then reads the dense side in it.
    say("dense competence (decided in fp32, cached)")
    competence = {t: c.to_dict() for t, c in decided_competence(dense, suites).items()}
    scored = {}
    for task, items in suites.items():
        if competence[task]["assessable"] or task in files:  # a user suite gets its hints
            say(f"dense answers: {task}")
            scored[task] = dense_results(dense, items)
    timings["competence_s"] = time.perf_counter() - clock

    # The hierarchy reads a subset of the prompts the evidence runs through the pruned
    # model: inside `reuse` those prompt passes are kept and handed back, not repeated,
    # and the prefills of the few it decodes keep their KV cache for that decoding.
    measured_items, decoded = hierarchy_items(suites if settings.hierarchy else {}, settings.decode)
    keep = [forward.encode(dense.tokenizer, i.prompt) for i in compress(measured_items, decoded)]
    with forward.reuse(pruned.loaded.model, keep_prefill=keep):
        clock = time.perf_counter()
        evidence = {}
        identical = broken is None and same_as_dense(dense, pruned.loaded.model)
        run = settings.share.run if settings.share else lambda _m, _t, compute: compute()
        for task, items in suites.items():
            if broken is None and competence[task]["assessable"]:
                say(f"evidence: {task}")

                def measure_on(picks: list[int] | None, task: str = task) -> Any:
                    found = run(
                        pruned.loaded.model,
                        task if picks is None else f"{task} on {len(picks)}",
                        lambda: task_evidence(
                            dense, pruned.loaded, task, suites[task], scored[task], picks=picks
                        ),
                    )
                    if identical:  # the same function on every input: nothing to sample
                        # (no counts either: nothing is estimated, so no binomial bound)
                        found.stats = {
                            k: v for k, v in found.stats.items() if k not in ("kept", "of")
                        } | {"loss": 0.0, "loss_sd": 0.0, "identical_weights": 1.0}
                    return found

                rule = rules.get("tasks", {}).get(task) or {}
                kind = evidence_kind(task)
                evidence[task] = evidence_in_looks(rule, kind, len(items), tolerance, measure_on)
        timings["evidence_s"] = time.perf_counter() - clock

        clock = time.perf_counter()
        if broken is None and measured_items:
            measured = measure(
                dense,
                pruned.loaded,
                measured_items,
                temperature=temperature,
                generate=decoded,
                log=say,
            )
            aggregates, rows, meta = measured.aggregates, measured.items, measured.meta
        else:  # not asked for, or nothing meaningful (or even finite) to measure
            aggregates, rows = {}, []
            meta = {"horizon": 0, "top_k": 0, "notes": [], "dense_cache": {"state": "skipped"}}
        timings["measure_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    say("timing decoding")
    speed = latency(dense, pruned.loaded.model)
    timings["speed_s"] = time.perf_counter() - clock

    verdicts = {}
    for task in tasks:
        task_aggregates = aggregates.get(task, {})
        rule = rules.get("tasks", {}).get(task) or {}
        if broken is not None:
            verdict = _broken_verdict(broken)
        elif not competence[task]["assessable"]:
            verdict = _not_assessable(not_assessable_text(competence[task]["reason"]))
        elif "slope" not in rule:
            verdict = _not_assessable(f"The rules file has no rule for '{task}'.")
        else:
            found = evidence[task].to_dict()
            verdict = explain(task, rule, found, tolerance, rules.get("provenance", {}))
        hints = suite_hints(suites[task], scored[task], dense.tokenizer) if task in files else []
        verdicts[task] = {
            **verdict,
            **({"reasons": [*verdict["reasons"], *hints], "hints": hints} if hints else {}),
            "covers": covers(task, suites[task], files.get(task)),
            "competence": competence[task],
            "measurements": {
                "features": features_of(task_aggregates),
                "aggregates": task_aggregates,
            },
        }
    blamed = None
    if settings.blame and broken is None:
        clock = time.perf_counter()
        blamed = blame(dense, pruned, verdicts, suites, rules_path, tolerance)
        timings["blame_s"] = time.perf_counter() - clock
    by_id = {item.id: item for item in measured_items}
    return {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "name": dense.name,
            "fingerprint": dense.fingerprint,
            "parameters": dense.parameters,
            "note": dense.note,
            "architecture": type(dense.model).__name__,
            "layers": dense.model.config.num_hidden_layers,
            "dtype": dense.dtype,
        },
        "pruning": pruning_record(pruned),
        "speed": speed,
        "settings": {
            "temperature": temperature,
            "tolerance": tolerance,
            "fail_on": fail_on,
            "tasks": tasks,
            "kl_direction": "KL(dense || pruned)",
        },
        "tasks": verdicts,
        "overall": aggregates.get("all", {}),
        "examples": example_pairs(rows, by_id),
        "gate": gate_record({t: v["verdict"] for t, v in verdicts.items()}, fail_on),
        **({"blame": blamed} if blamed is not None else {}),
        "manifest": {
            "versions": versions(),
            "seed": seed,
            "data": {
                task: {"items": len(items), "items_hash": items_hash(items)}
                for task, items in suites.items()
            }
            | ({"user_files": {t: str(p) for t, p in files.items()}} if files else {})
            | {"truncated_prompts": {t: len(ids) for t, ids in truncated.items()}}
            | {"hierarchy_items": len(measured_items), "decoded_items": sum(decoded)},
            "rules": {
                "path": str(rules_file),
                "sha256": rules_sha,
                "provenance": rules.get("provenance", {}),
            },
            "measurement": {k: meta[k] for k in ("horizon", "top_k", "notes")}
            | {"dense_cache": meta["dense_cache"]["state"], "degenerate": broken},
            "timings": {k: round(v, 2) for k, v in timings.items()},
        },
    }
