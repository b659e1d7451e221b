"""Calibration and evaluation items: the unit every suite produces and every measure reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CandidateMode = Literal["tokens", "continuation"]


@dataclass(frozen=True)
class Item:
    """One prompt of a suite.

    ``candidates`` is the categorical subspace of choice tasks: label/option *tokens*
    (``candidate_mode="tokens"``, read from the next-token distribution) or option *texts*
    scored as continuations by length-normalised log-likelihood (``"continuation"``, the
    lm-eval way). ``gold`` is the index of the correct candidate, or for generative tasks
    ``reference`` holds the gold answer / real continuation / reference summary.
    """

    id: str
    task: str
    prompt: str
    candidates: tuple[str, ...] = ()
    candidate_mode: CandidateMode = "continuation"
    gold: int | None = None
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        """The item :meth:`to_dict` describes (a JSON round trip gives an equal item)."""
        return cls(**(data | {"candidates": tuple(data["candidates"])}))


def items_hash(items: list[Item]) -> str:
    """A stable id of a list of items (order matters), for cache keys and manifests."""
    payload = json.dumps([i.to_dict() for i in items], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
