"""Sequential looks (advisor.rules.looks): the plan, the stratified order, stopping, and
that the last look is exactly the single reading."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from advisor.rules import looks
from advisor.rules.predict import Z, predict

RULE = {"slope": 1.0, "misfit": 0.1}


def test_each_look_is_a_spread_prefix_of_one_order():
    order = looks.look_order(24)
    assert sorted(order) == list(range(24))
    assert order[:6] == [0, 4, 8, 12, 16, 20]
    assert sorted(order[:12]) == list(range(0, 24, 2))
    # a suite listing two sources in blocks of 12: every look holds both
    for size in (6, 12):
        assert {n // 12 for n in order[:size]} == {0, 1}
    assert sorted(looks.look_order(7)) == list(range(7))


def test_the_plan_skips_looks_too_small_to_read_and_reads_choices_and_rankings_at_once():
    last = looks.Z_LAST_LOOK
    assert looks.look_schedule("survival", 24) == [(6, 3.36), (12, 2.376), (24, last)]
    assert looks.look_schedule("reference", 16) == [(8, 2.376), (16, last)]  # 4 items: skipped
    assert looks.look_schedule("reference", 8) == [(8, Z)]
    assert looks.look_schedule("answers", 32) == [(32, Z)]
    assert looks.look_schedule("ranking", 48) == [(48, Z)]


def test_an_earlier_look_reads_the_sampling_part_with_its_own_z():
    """By hand: b = 1, c = 0.1, u = 0.05, s = 0.02, tolerance 0.9."""
    low = predict(RULE, 0.05, 0.02, 0.9).low
    assert low == pytest.approx(0.95 - Z * math.hypot(0.02, 0.005))
    strict = predict(RULE, 0.05, 0.02, 0.9, z=3.29)
    assert strict.low == pytest.approx(0.95 - math.hypot(3.29 * 0.02, Z * 0.005))
    assert predict(RULE, 0.05, 0.02, 0.9).verdict == "go"
    assert strict.verdict == "caution"  # 0.95 - 0.066 < 0.9


def _measure(losses: dict[int, tuple[float, float]]):
    """A measure whose (loss, SD) depends on how many items it reads; records the picks."""
    seen: list[list[int]] = []

    def measure(picks):
        seen.append(picks)
        loss, sd = losses[len(picks)]
        return SimpleNamespace(stats={"loss": loss, "loss_sd": sd}, look=None)

    return measure, seen


def test_a_clear_case_stops_at_the_first_look():
    measure, seen = _measure({6: (0.6, 0.1)})
    found = looks.evidence_in_looks(RULE, "survival", 24, 0.9, measure)
    assert seen == [[0, 4, 8, 12, 16, 20]]
    assert found.look == {"look": 1, "looks": 3, "items": 6, "of": 24, "z": 3.36}


def test_a_case_an_early_bound_does_not_clear_reads_on_and_ends_as_the_single_reading():
    # At 6 items u = 0.03 ± 0.03 is go at z = 1.645 but not at 3.36; at 12 items
    # u = 0.03 ± 0.04 not at 2.376; all 24 are read, the last look at its corrected z.
    measure, seen = _measure({6: (0.03, 0.03), 12: (0.03, 0.04), 24: (0.04, 0.04)})
    assert predict(RULE, 0.03, 0.03, 0.9).verdict == "go"
    _, prediction, look = looks.read_in_looks(RULE, "survival", 24, 0.9, measure, lambda e: e.stats)
    assert [len(p) for p in seen] == [6, 12, 24]
    assert look["look"] == 3 and look["z"] == looks.Z_LAST_LOOK
    assert prediction == predict(RULE, 0.04, 0.04, 0.9, z=looks.Z_LAST_LOOK)


def test_the_looks_levels_spend_five_percent_in_all():
    """P(some look's standardised sampling error exceeds its z) for looks at a quarter, a
    half and all of the items (Brownian motion: corr(Z_s, Z_t) = sqrt(s/t)) is at most
    5%; with the last look at 1.645 it would be 5.4%."""
    from scipy.stats import multivariate_normal

    fractions = [f for f, _ in looks.LOOKS] + [1.0]
    zs = [z for _, z in looks.LOOKS] + [looks.Z_LAST_LOOK]
    cov = [[math.sqrt(min(s, t) / max(s, t)) for t in fractions] for s in fractions]
    spent = 1 - multivariate_normal(mean=[0, 0, 0], cov=cov).cdf(zs)
    assert 0.045 < spent <= 0.05
    naive = 1 - multivariate_normal(mean=[0, 0, 0], cov=cov).cdf([3.29, 2.326, Z])
    assert naive > 0.05


def test_without_a_rule_every_item_is_read_at_once():
    calls = []
    looks.evidence_in_looks({}, "survival", 24, 0.9, lambda picks: calls.append(picks))
    assert calls == [None]
