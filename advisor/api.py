"""The Python API: ``prune-advisor assess`` as one call, with a typed result.

    import advisor

    result = advisor.check(method="attn-drop", ratio=0.25, tasks=["rag", "math"])
    result.verdicts                  # {"rag": "no-go", "math": "no-go"}
    result.tasks["rag"].interval     # (0.48, 0.88): predicted retention, 95% bounds
    result.gate.failed               # True: the CI gate (fail_on) failed
    result.write_report("reports/mine")

The options carry the CLI's names (``--calib-samples`` is ``calib_samples``) and defaults,
``dtype="auto"`` included; the command is a thin layer over :func:`prepare`,
:func:`open_models` and :func:`assess_models`. (The function is ``check``: the name
``advisor.assess`` is the module that computes the result.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from advisor.assess import assess, check_temperature, warm_dense_caches
from advisor.errors import AdvisorError
from advisor.gate import gate_sentence, parse_fail_on
from advisor.notes import short_reason, speed_note
from advisor.pair import check_models, open_pair
from advisor.publish import json_text
from advisor.report import write_report
from advisor.report.schema import check_result
from advisor.requests import LoadOptions, PruneRequest
from advisor.rules.rules_file import load_rules
from advisor.suites.own import SuiteFiles, own_suites

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class AssessOptions:
    """What to compare and how: the options of ``prune-advisor assess``, same names and
    defaults. Give ``pruned`` (a checkpoint folder pruned elsewhere) or ``method`` with its
    amount (``ratio`` or ``layers`` for block-drop / attn-drop / mlp-drop; ``sparsity`` and
    ``pattern`` for magnitude / wanda / sparsegpt). ``tasks``: task types (None or "all":
    every one; with ``data`` and no tasks: the task types ``data`` names); ``data``: your
    own suites, a mapping task type -> JSONL file (or one file for a single task type);
    ``blame``: restore each removed unit of a structural pruning (each sparsified layer's
    dense weights of a sparsity one) in turn and say which would raise each task type's
    predicted retention most."""

    pruned: str | Path | None = None
    method: str | None = None
    ratio: float | None = None
    layers: int | None = None
    sparsity: float | None = None
    pattern: str = "unstructured"
    tasks: list[str] | str | None = None
    data: SuiteFiles = None
    tolerance: float | None = None
    fail_on: str = "no-go"
    temperature: float = 1.0
    rules: str | Path | None = None
    seed: int = 0
    calib_samples: int = 16
    calib_len: int = 128
    decode: bool = True
    hierarchy: bool = True
    blame: bool = False
    dtype: str = "auto"
    device: str | None = None
    device_map: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    low_memory: bool = False


@dataclass(frozen=True)
class Prepared:
    """A checked request, ready to run: the model, the options, the task types and the
    suite files resolved (:func:`prepare`)."""

    model: str
    options: AssessOptions
    tasks: list[str]
    files: dict[str, Path] = field(default_factory=dict)


def prepare(model: str = DEFAULT_MODEL, **options: Any) -> Prepared:
    """Check every input that can be checked without loading a model (loading and pruning
    take tens of seconds before the first use of some), reading each suite file whole."""

    opts = AssessOptions(**options)
    fail_on = parse_fail_on(opts.fail_on)
    tasks, files = own_suites(opts.tasks, opts.data, opts.seed)  # every row read here
    pruned = Path(opts.pruned).expanduser() if opts.pruned is not None else None
    check_models(model, _load_options(opts), _prune_request(opts), pruned, compare=True)
    check_temperature(opts.temperature)
    if opts.tolerance is not None and not 0 < opts.tolerance <= 1:
        raise AdvisorError(f"--tolerance must lie in (0, 1]; got {opts.tolerance}.")
    load_rules(opts.rules)  # the shipped rules when None: a damaged install fails here too
    if opts.blame and opts.low_memory:
        raise AdvisorError(
            "--blame re-makes the pruning from the dense model, which --low-memory does not "
            "keep; drop one of them."
        )
    return Prepared(model, AssessOptions(**{**vars(opts), "fail_on": fail_on}), tasks, files)


def _prune_request(opts: AssessOptions) -> PruneRequest:
    """The options' :class:`advisor.pruning.PruneRequest`."""

    return PruneRequest(**{f.name: getattr(opts, f.name) for f in fields(PruneRequest)})


def _load_options(opts: AssessOptions) -> LoadOptions:
    """The options' :class:`advisor.pair.LoadOptions`."""

    return LoadOptions(
        opts.trust_remote_code,
        opts.dtype,
        opts.device,
        opts.device_map,
        opts.allow_pickle,
        opts.low_memory,
    )


def open_models(prepared: Prepared, console: Any = None) -> Any:
    """Load the dense model once and open its pruned counterpart (an
    :class:`advisor.pair.Pair`); ``console`` (rich) shows loading and pruning progress."""

    o = prepared.options
    load = _load_options(o)
    warm = partial(
        warm_dense_caches,
        tasks=prepared.tasks,
        seed=o.seed,
        data_file=prepared.files or None,
        hierarchy=o.hierarchy,
        decode=o.decode,
    )
    request = None if o.pruned is not None else _prune_request(o)
    pruned = Path(o.pruned).expanduser() if o.pruned is not None else None
    return open_pair(prepared.model, load, request, pruned, console=console, warm=warm)


def assess_models(
    prepared: Prepared,
    pair: Any,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Assessment:
    """Assess the pair :func:`open_models` opened for ``prepared``; ``log`` receives progress
    lines, ``warn`` warnings for the user (default: :func:`warnings.warn`)."""

    o = prepared.options
    result = assess(
        pair.dense,
        pair.pruned,
        prepared.tasks,
        log=log,
        warn=warn,
        temperature=o.temperature,
        rules_path=o.rules,
        data_file=prepared.files or None,
        seed=o.seed,
        fail_on=o.fail_on,
        tolerance=o.tolerance,
        decode=o.decode,
        hierarchy=o.hierarchy,
        blame=o.blame,
        timings=pair.timings,
    )
    return Assessment(result)


def check(model: str = DEFAULT_MODEL, **options: Any) -> Assessment:
    """Is the pruned ``model`` safe to ship for each task type? ``prune-advisor assess``
    in Python: ``options`` are the fields of :class:`AssessOptions` (the CLI's options,
    same names and defaults). Loads the models once, however many task types and suites.
    Raises :class:`advisor.errors.AdvisorError` for a bad input, before loading a model
    where it can."""
    prepared = prepare(model, **options)
    return assess_models(prepared, open_models(prepared))


@dataclass(frozen=True)
class TaskVerdict:
    """One task type's answer: the verdict, the predicted retention (pruned / dense
    quality) with its interval, the items the evidence read, the reasons and evidence."""

    task: str
    verdict: str
    retention: float | None
    interval: tuple[float, float] | None
    items_read: int | None
    reason: str
    reasons: list[str]
    evidence: dict[str, Any] | None
    competence: dict[str, Any]


@dataclass(frozen=True)
class Gate:
    """The CI gate: its threshold, whether it failed, on which task types, and which task
    types it checked and did not (not-assessable); ``sentence`` says it in words."""

    fail_on: str
    failed: bool
    failing_tasks: list[str]
    checked: list[str]
    not_checked: list[str]
    sentence: str


@dataclass(frozen=True)
class Assessment:
    """The result of an assessment; ``result`` is the dict written to result.json
    (``data/schema/result.schema.json``), the properties are typed views of it."""

    result: dict[str, Any]

    @classmethod
    def from_json(cls, path: str | Path) -> Assessment:
        """An assessment read back from a result.json."""

        data = json.loads(Path(path).read_text(encoding="utf-8"))
        check_result(data, str(path))
        return cls(data)

    @property
    def tasks(self) -> dict[str, TaskVerdict]:
        """Each task type's verdict, in the order assessed."""
        tolerance = self.result["settings"].get("tolerance")
        out = {}
        for name, r in self.result["tasks"].items():
            pred, evidence = r.get("prediction"), r.get("evidence")
            look = (evidence or {}).get("look") or {}
            out[name] = TaskVerdict(
                task=name,
                verdict=r["verdict"],
                retention=pred["retention"] if pred else None,
                interval=(pred["interval"][0], pred["interval"][1]) if pred else None,
                items_read=look.get("items"),
                reason=short_reason(r, tolerance),
                reasons=list(r["reasons"]),
                evidence=evidence,
                competence=r["competence"],
            )
        return out

    @property
    def verdicts(self) -> dict[str, str]:
        """Task type -> go / caution / no-go / not-assessable."""
        return {t: r["verdict"] for t, r in self.result["tasks"].items()}

    @property
    def gate(self) -> Gate:
        """The CI gate's decision."""
        g = self.result["gate"]
        unchecked = [t for t, v in self.verdicts.items() if v == "not-assessable"]
        return Gate(
            fail_on=g["fail_on"],
            failed=g["failed"],
            failing_tasks=list(g["failing_tasks"]),
            checked=[t for t in self.verdicts if t not in unchecked],
            not_checked=unchecked,
            sentence=gate_sentence(self.result),
        )

    @property
    def speed(self) -> str:
        """Why the pruned model is or is not faster here, with the measured ratio."""
        return speed_note(self.result)

    def to_json(self, indent: int | None = 1) -> str:
        """The result as strict JSON (what result.json holds)."""

        return json_text(self.result, indent=indent, sort_keys=True)

    def write_report(self, folder: str | Path) -> Path:
        """Write report.html and result.json into ``folder``; return the report's path."""
        return write_report(self.result, folder)[1]
