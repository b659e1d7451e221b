"""Rule features: the scalars read from a task type's measurement aggregates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feature:
    """A scalar read from a task type's measurement aggregates."""

    name: str
    space: str
    metric: str
    stat: str = "mean"
    label: str = ""

    def read(self, aggregates: dict[str, Any]) -> float | None:
        """The value in one task type's aggregates (``Measurements.aggregates[task]``)."""
        block = aggregates.get(self.space, {}).get(self.metric)
        value = None if block is None else block.get(self.stat)
        return None if value is None or not math.isfinite(value) else float(value)


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("embedding_cos", "embedding", "cos_mean_final", label="cosine of hidden states"),
        Feature("logit_cos", "logit", "cos_logits", label="cosine of final logits"),
        Feature("kl", "probability", "kl_t1", label="KL(dense‖pruned) at T=1"),
        Feature("kl_at_T", "probability", "kl_T", label="KL(dense‖pruned) at your T"),
        Feature("top1_agree", "probability", "top1_agree", label="next-token top-1 agreement"),
        Feature("subspace_agree", "subspace", "argmax_agree", label="option argmax agreement"),
        Feature("subspace_kl", "subspace", "kl", label="KL over the options"),
        Feature("accumulation", "accumulation", "accumulation_score", label="accumulation score"),
        Feature(
            "token_agreement",
            "accumulation",
            "token_agreement",
            label="generated-token agreement",
        ),
        Feature(
            "kl_teacher_forced",
            "accumulation",
            "kl_tf_mean",
            label="per-step KL, teacher-forced",
        ),
    )
}


def features_of(aggregates: dict[str, Any]) -> dict[str, float]:
    """Every defined feature present in one task type's aggregates."""
    values = {name: f.read(aggregates) for name, f in FEATURES.items()}
    return {name: v for name, v in values.items() if v is not None}
