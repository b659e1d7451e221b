"""The seven task types and which representation spaces each one reads (DESIGN.md §4).

A registry of small declarative entries: adding a task type is one entry here plus its
suite and test.
"""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDING = "embedding"
SUBSPACE = "categorical-subspace"
PROBABILITY = "probability"
ACCUMULATION = "accumulation"


@dataclass(frozen=True)
class TaskType:
    """One kind of deployment workload the advisor gives a verdict for."""

    name: str
    summary: str
    spaces: tuple[str, ...]
    generative: bool


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType(
            "retrieval",
            "rank passages by the model's pooled hidden states",
            (EMBEDDING,),
            generative=False,
        ),
        TaskType(
            "classification",
            "pick a label word after a few-shot prompt",
            (SUBSPACE,),
            generative=False,
        ),
        TaskType(
            "multiple-choice",
            "pick the most likely option text (or letter)",
            (SUBSPACE,),
            generative=False,
        ),
        TaskType(
            "rag",
            "retrieve a passage, then answer briefly from it",
            (EMBEDDING, PROBABILITY, ACCUMULATION),
            generative=True,
        ),
        TaskType(
            "generation",
            "continue open-ended text over many decoding steps",
            (PROBABILITY, ACCUMULATION),
            generative=True,
        ),
        TaskType(
            "summarization",
            "write a short summary of a given text",
            (PROBABILITY, ACCUMULATION),
            generative=True,
        ),
        TaskType(
            "math",
            "multi-step reasoning ending in a checkable number",
            (PROBABILITY, ACCUMULATION),
            generative=True,
        ),
    )
}


def task_names() -> list[str]:
    """Task type names in their canonical order."""
    return list(TASK_TYPES)
