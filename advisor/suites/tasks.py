"""The seven task types, each defined once: by its suite spec and its suite module.

A spec (``data/suites/<task>.json``) holds, under ``task_type``, what the task type is
(``summary``), which representation spaces it reads (``spaces``, docs/design.md §4),
whether its items are decoded (``generative``), how an item is scored against gold
(``metric``, read from ``answer``; :mod:`advisor.truth.score` dispatches on these), what
chance means for the competence gate (``chance``) and, for choice tasks, how candidates are
read (``candidate_mode``). Adding a task type is one spec, one suite module registered in
:data:`SUITES` below, and its test.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.errors import AdvisorError
from advisor.suites import (
    arithmetic,
    classification,
    generation,
    multiple_choice,
    rag,
    retrieval,
    summarization,
)
from advisor.suites.common import Suite, load_spec
from advisor.suites.items import Item

# The representation spaces a task type can read.
EMBEDDING = "embedding"
SUBSPACE = "categorical-subspace"
PROBABILITY = "probability"
ACCUMULATION = "accumulation"

# How an item is scored against gold, and what chance is (``metric`` and ``chance``).
METRICS = ("accuracy", "recall@1", "span-match", "chrf", "exact-number")
CHANCE_RULES = ("one-of-candidates", "one-of-corpus", "paired-win", "per-item")

# The registry, in the canonical order of task types (listings, reports, --task all).
SUITES: dict[str, Suite] = {
    s.task: s
    for s in (
        retrieval.SUITE,
        classification.SUITE,
        multiple_choice.SUITE,
        rag.SUITE,
        generation.SUITE,
        summarization.SUITE,
        arithmetic.SUITE,
    )
}


@dataclass(frozen=True)
class TaskType:
    """One kind of deployment workload the advisor gives a verdict for (its spec's
    ``task_type``; see the module docstring)."""

    name: str
    summary: str
    spaces: tuple[str, ...]
    generative: bool
    metric: str
    answer: str
    chance: str
    candidate_mode: str | None = None

    @classmethod
    def from_spec(cls, name: str, spec: dict) -> TaskType:
        """The task type a suite spec declares; a spec that names an unknown metric or
        chance rule is an error, not a silent default."""
        block = dict(spec["task_type"])
        if block["metric"] not in METRICS or block["chance"] not in CHANCE_RULES:
            raise AdvisorError(
                f"The {name} suite spec names metric '{block['metric']}' and chance "
                f"'{block['chance']}'; known: {', '.join(METRICS)}; {', '.join(CHANCE_RULES)}."
            )
        block["spaces"] = tuple(block["spaces"])
        return cls(name=name, **block)


TASK_TYPES: dict[str, TaskType] = {
    name: TaskType.from_spec(name, load_spec(name)) for name in SUITES
}


def task_names() -> list[str]:
    """Task type names in their canonical order."""
    return list(TASK_TYPES)


def is_generative(item: Item) -> bool:
    """Whether an item is decoded for accumulation: its task type is generative, or (for
    task names outside the registry) it has no candidates to choose from."""
    task = TASK_TYPES.get(item.task)
    return task.generative if task is not None else not item.candidates


def select_tasks(names: list[str] | None) -> list[str]:
    """The task types named (``--task``), in canonical order; 'all' or none: every one."""
    if not names or "all" in names:
        return list(TASK_TYPES)
    unknown = [t for t in names if t not in TASK_TYPES]
    if unknown:
        raise AdvisorError(
            f"Unknown task type {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(TASK_TYPES)} or 'all'."
        )
    return [t for t in TASK_TYPES if t in names]
