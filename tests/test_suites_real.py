"""The default model is competent on the arithmetic calibration items (docs/design.md §5a)."""

from __future__ import annotations

import pytest

from advisor.suites import build_suite
from advisor.truth.score import dense_competence, score_model

pytestmark = pytest.mark.real_model


def test_smollm2_passes_the_gate_on_arithmetic(smollm2):
    items = build_suite("math")[:12]  # a few tokens each: cheap on a CPU
    results = score_model(smollm2, items)
    gate = dense_competence("math", items, results)
    # Measured: 20 of the 24 calibration items right, against ~6% chance.
    assert gate.assessable, gate.reason
    assert gate.successes >= 6 and gate.top_share <= 0.5
