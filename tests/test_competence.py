"""The competence gate: above chance (exact binomial test) and not degenerate."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binom

from advisor.truth.competence import (
    competence_gate,
    paired_wins,
    poisson_binomial_sf,
)
from advisor.verdicts import NOT_COMPETENT


def test_one_answer_model_is_flagged_even_when_right_often():
    # Always "A": right on the 40% of items whose gold is A, but degenerate.
    gold = [0] * 12 + [1, 2, 3] * 6
    answers = [0] * len(gold)
    gate = competence_gate(
        "multiple-choice", [a == g for a, g in zip(answers, gold, strict=True)], answers, 0.25
    )
    assert not gate.assessable
    assert gate.top_share == 1.0 and "degenerate" in gate.reason
    assert gate.reason.startswith(NOT_COMPETENT)


def test_clearly_competent_model_passes():
    gold = [0, 1, 2, 3] * 8
    answers = [g if n % 4 else (g + 1) % 4 for n, g in enumerate(gold)]  # 24/32 right
    gate = competence_gate(
        "multiple-choice", [a == g for a, g in zip(answers, gold, strict=True)], answers, 0.25
    )
    assert gate.assessable, gate.reason
    assert gate.successes == 24 and gate.p_value < 1e-6 and gate.test == "binomial"
    assert gate.top_share == 0.5  # its wrong answers are all "1"
    json.dumps(gate.to_dict())  # serialisable


def test_chance_level_model_is_flagged():
    answers = [0, 1] * 10
    correct = [True, False, False, True] * 5  # 10/20 with chance 0.5
    gate = competence_gate("classification", correct, answers, 0.5)
    assert not gate.assessable and "not clearly above chance" in gate.reason
    assert gate.p_value == pytest.approx(binom.sf(9, 20, 0.5))


def test_threshold_edges():
    answers = list(range(20))
    # 15/20 at chance 0.5: p = P(X >= 15) = 0.0207 -> passes at alpha 0.05, fails at 0.01.
    correct = [True] * 15 + [False] * 5
    assert competence_gate("t", correct, answers, 0.5).assessable
    assert not competence_gate("t", correct, answers, 0.5, alpha=0.01).assessable
    # A top share exactly at the limit is allowed; just above it is not.
    at_limit = [0] * 15 + list(range(1, 6))
    assert competence_gate("t", [True] * 20, at_limit, 0.1).assessable
    above = [0] * 16 + list(range(1, 5))
    assert not competence_gate("t", [True] * 20, above, 0.1).assessable


def test_too_few_items_and_empty():
    gate = competence_gate("t", [True] * 5, list(range(5)), 0.1)
    assert not gate.assessable and "at least 10" in gate.reason
    empty = competence_gate("t", [], [], 0.5)
    assert not empty.assessable and empty.n == 0


def test_input_checks():
    with pytest.raises(ValueError):
        competence_gate("t", [True], [1, 2], 0.5)
    with pytest.raises(ValueError):
        competence_gate("t", [True, False], [1, 2], [0.5])
    with pytest.raises(ValueError):
        competence_gate("t", [True], [1], 1.5)


def test_mixed_chance_uses_exact_poisson_binomial():
    rates = [0.5] * 10 + [0.05] * 10
    correct = [True] * 5 + [False] * 5 + [True] * 5 + [False] * 5
    gate = competence_gate("math", correct, list(range(20)), rates)
    assert gate.test == "poisson-binomial"
    assert gate.chance == pytest.approx(0.275)
    # Equal rates: the convolution agrees with the binomial tail.
    assert poisson_binomial_sf(7, [0.3] * 12) == pytest.approx(binom.sf(6, 12, 0.3))
    assert poisson_binomial_sf(0, [0.2, 0.9]) == pytest.approx(1.0)


def test_paired_wins():
    assert paired_wins([0.5, 0.2, 0.3], [0.4, 0.2, 0.6]) == [True, False, False]
    with pytest.raises(ValueError):
        paired_wins([0.1], [])
