"""Predicted retention: the fitted line, its interval, the verdicts it can give."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from advisor.fitting import estimator, validation
from advisor.fitting.estimator import Case, RetentionRule
from advisor.rules import predict
from advisor.rules.bounds import Counts

ROOT = Path(__file__).resolve().parents[1]


def _case(loss, retention, outcome="go", loss_sd=0.0, label_sd=0.0, model="m", method="x"):
    return Case(loss, loss_sd, retention, outcome, label_sd, model, method)


def test_an_exact_line_is_recovered_with_no_misfit():
    cases = [_case(u, 1 - 0.8 * u) for u in (0.05, 0.1, 0.3, 0.6)]
    rule = estimator.fit_line(cases, "reference")
    assert rule["slope"] == pytest.approx(0.8)
    assert rule["misfit"] == 0.0


def test_misfit_is_what_the_residuals_hold_beyond_sampling_noise():
    # residuals of ±0.1 at u = 0.5 with no sampling noise: misfit·u = 0.1 → misfit 0.2
    cases = [_case(0.5, 0.5 + 0.1), _case(0.5, 0.5 - 0.1)] * 2
    rule = estimator.fit_line(cases)
    assert rule["slope"] == pytest.approx(1.0)
    assert rule["misfit"] == pytest.approx(0.2)
    # the same residuals, fully explained by the evidence's sampling noise: no misfit
    sampled = [_case(c.loss, c.retention, loss_sd=0.1) for c in cases]
    assert estimator.fit_line(sampled)["misfit"] == 0.0
    # the ground truth's own noise is left in: labels are measurements too (conservative)
    labelled = [_case(c.loss, c.retention, label_sd=0.1) for c in cases]
    assert estimator.fit_line(labelled)["misfit"] == pytest.approx(0.2)


def test_retention_above_one_counts_as_one():
    cases = [_case(0.0, 1.3), _case(0.2, 0.8), _case(0.4, 0.6), _case(0.0, 1.0)]
    assert estimator.fit_line(cases, "reference")["slope"] == pytest.approx(1.0)


def test_slope_by_evidence_kind():
    cases = [_case(u, 1 - 0.5 * u) for u in (0.1, 0.2, 0.4, 0.8)]
    assert estimator.fit_line(cases, "answers")["slope"] == 1.0  # same quantity: no fitting
    assert estimator.fit_line(cases, "survival")["slope"] == pytest.approx(0.5)
    steep = [_case(u, 1 - 2 * u) for u in (0.05, 0.1, 0.2, 0.3)]
    assert estimator.fit_line(steep, "survival")["slope"] == 1.0  # survival never overstates
    assert estimator.fit_line(steep, "reference")["slope"] == pytest.approx(2.0)
    assert estimator.fit_line(steep, "ranking")["slope"] == pytest.approx(2.0)
    assert estimator.fit_line(cases, "ranking")["slope"] == 1.0  # a small corpus never overstates


def test_too_few_cases_is_an_error():
    with pytest.raises(ValueError, match="at least"):
        estimator.fit_line([_case(0.1, 0.9)])


def test_interval_and_verdicts_by_hand():
    rule = {"slope": 1.0, "misfit": 0.5}
    # u = 0.04 ± 0: R̂ = 0.96, σ = 0.5·0.04 = 0.02, z·σ = 0.0329 → [0.927, 0.993] → go
    p = predict.predict(rule, 0.04, 0.0, 0.9)
    assert p.retention == pytest.approx(0.96)
    assert p.low == pytest.approx(0.96 - 1.645 * 0.02)
    assert p.verdict == "go"
    # no-go needs 1 − u + 1.645·0.5·u < 0.9: u > 0.56
    assert predict.predict(rule, 0.8, 0.0, 0.9).verdict == "no-go"
    assert predict.predict(rule, 0.1, 0.0, 0.9).verdict == "caution"
    # sampling noise of the evidence widens it: σ = hypot(1·0.05, 0.5·0.04) below R̂; above
    # it, the loss cannot fall below 0, so the sampling part is at most u = 0.04
    wide = predict.predict(rule, 0.04, 0.05, 0.9)
    assert wide.low == pytest.approx(0.96 - 1.645 * math.hypot(0.05, 0.02))
    assert wide.high == pytest.approx(min(1.0, 0.96 + math.hypot(0.04, 1.645 * 0.02)))
    assert wide.verdict == "caution"


def test_intervals_stay_inside_the_possible_range():
    rule = {"slope": 1.5, "misfit": 0.5}
    for loss, sd in ((0.0, 0.3), (0.9, 0.4), (3.0, 1.0), (0.02, 0.5)):
        p = predict.predict(rule, loss, sd, 0.9)
        assert 0.0 <= p.low <= p.retention <= p.high <= 1.0, (loss, sd, p)


def test_a_committed_verdict_keeps_the_rounding_margin_from_the_tolerance():
    rule = {"slope": 1.0, "misfit": 0.0}
    edge = predict.ROUNDING_MARGIN
    assert predict.predict(rule, 0.1 - edge / 2, 0.0, 0.9).verdict == "caution"
    assert predict.predict(rule, 0.1 - 2 * edge, 0.0, 0.9).verdict == "go"
    assert predict.predict(rule, 0.1 + edge / 2, 0.0, 0.9).verdict == "caution"
    assert predict.predict(rule, 0.1 + 2 * edge, 0.0, 0.9).verdict == "no-go"
    # a tolerance of 1 asks for everything: an exact copy still gets go
    assert predict.predict(rule, 0.0, 0.0, 1.0).verdict == "go"


def test_all_answers_kept_is_bounded_exactly_not_by_a_symmetric_interval():
    """16 of 16 surviving, read at a half look (z = 2.376): the exact (Clopper–Pearson)
    one-sided lower bound of the kept share is alpha^(1/16), far below 0.9: not go."""
    from advisor.rules.bounds import clopper_pearson, tail

    rule = {"slope": 1.0, "misfit": 0.1}
    for z in (2.326, 2.376):
        p = predict.predict(rule, 0.0, 0.0, 0.9, z=z, counts=Counts(16, 16))
        assert p.low == pytest.approx(tail(z) ** (1 / 16))
        assert p.verdict == "caution"
    assert clopper_pearson(16, 16, 0.01)[0] == pytest.approx(0.01 ** (1 / 16))  # 0.75
    # the same bound by the definition: P(X >= 16 | p = low) = alpha
    low, _ = clopper_pearson(12, 16, 0.05)
    tail_prob = sum(math.comb(16, k) * low**k * (1 - low) ** (16 - k) for k in range(12, 17))
    assert tail_prob == pytest.approx(0.05)
    # enough items make go reachable: 120 of 120 kept
    assert predict.predict(rule, 0.0, 0.0, 0.9, counts=Counts(120, 120)).verdict == "go"
    # and no-go: 40 of 100 kept
    assert predict.predict(rule, 0.6, 0.05, 0.9, counts=Counts(40, 100)).verdict == "no-go"


def test_a_gain_never_hides_a_loss_on_the_go_side():
    """Choice answers: 60 of 64 dense-right answers kept, 4 others gained. The net
    retention is 1.0, but the go side reads only the kept share (exact bound of 60/64)."""
    from advisor.rules.bounds import clopper_pearson, tail

    rule = {"slope": 1.0, "misfit": 0.0}
    gained = predict.predict(rule, 0.0, 0.0, 0.9, counts=Counts(60, 64, 4, 64))
    assert gained.low == pytest.approx(clopper_pearson(60, 64, tail(1.645))[0])
    assert gained.verdict == "caution"
    # and on the no-go side gains count through their own upper bound
    lost = predict.predict(rule, 0.5, 0.0, 0.9, counts=Counts(20, 64, 12, 64))
    assert lost.high > 0.5 + (12 / 64) * 0.5  # the gains' bound lifts the upper end


def test_an_unpruned_copy_is_predicted_exactly():
    rule = {"slope": 1.7, "misfit": 3.0}
    p = predict.predict(rule, 0.0, 0.0, 0.9)
    assert (p.retention, p.low, p.high, p.verdict) == (1.0, 1.0, 1.0, "go")
    assert predict.confidence(p, 0.9) == 1.0


def test_more_items_settle_a_sampling_limited_caution():
    rule = {"slope": 1.0, "misfit": 0.1}
    loss, sd, n = 0.04, 0.05, 20
    assert predict.predict(rule, loss, sd, 0.9).verdict == "caution"
    needed = predict.items_to_settle(rule, loss, sd, n, 0.9)
    assert needed is not None and needed > n
    # the loss's SD shrinks as 1/sqrt(n): with that many items the verdict commits
    assert predict.predict(rule, loss, sd * math.sqrt(n / needed), 0.9).verdict == "go"
    # a share's exact bound: 60 of 64 kept is caution, and the items that settle it are
    # more than the 64 already read (the normal SD alone would have asked for fewer)
    share = Counts(60, 64)
    assert predict.predict(rule, 0.0625, 0.03, 0.9, counts=share).verdict == "caution"
    more = predict.items_to_settle(rule, 0.0625, 0.03, 64, 0.9, share)
    assert more is not None and more > 64
    grown = Counts(60 * more / 64, more)
    scaled_sd = 0.03 * math.sqrt(64 / more)
    assert predict.predict(rule, 0.0625, scaled_sd, 0.9, counts=grown).verdict == "go"
    # where the rule's own misfit straddles the tolerance no item count helps
    assert predict.items_to_settle({"slope": 1.0, "misfit": 2.0}, 0.08, 0.01, n, 0.9) is None


def test_score_counts_decisive_committed_and_right():
    rule = RetentionRule(tolerance=0.9)
    rule.slope_, rule.misfit_ = 1.0, 0.0
    cases = [
        _case(0.0, 1.0, "go"),  # go, right
        _case(0.5, 0.5, "no-go"),  # no-go, right
        _case(0.5, 0.95, "go"),  # no-go, wrong
        _case(0.1, 0.9, "caution"),  # borderline ground truth: counted apart (its lower
        # end sits on the tolerance, within the rounding margin: caution)
    ]
    record = validation.score(rule, cases)
    assert record == {
        "cases": 4,
        "decisive": 3,
        "committed": 3,
        "right": 2,
        "borderline": 1,
        "borderline_caution": 1,
    }
    assert predict.rate(record) == "2/3 right, 3 of 3 decisive committed"


def test_the_rule_is_a_scikit_learn_estimator():
    """fit(cases, labels) / predict -> verdicts, its parameters read and set as any
    estimator's, clonable, and what it learned in slope_ and misfit_."""
    from sklearn.base import clone

    cases = [_case(u, 1 - 0.5 * u, "go" if u < 0.1 else "no-go") for u in (0.0, 0.1, 0.4, 0.8)]
    rule = RetentionRule("survival", 0.9)
    assert rule.get_params() == {"evidence": "survival", "tolerance": 0.9}
    assert clone(rule).set_params(tolerance=0.8).get_params()["tolerance"] == 0.8
    fitted = rule.fit(cases, [c.retention for c in cases])
    assert fitted is rule
    assert rule.to_rule() == estimator.fit_line(cases, "survival")
    assert (rule.slope_, rule.misfit_) == (0.5, 0.0)
    assert rule.predict(cases) == [
        predict.predict(rule.to_rule(), c.loss, c.loss_sd, 0.9).verdict for c in cases
    ]
    # the labels are the ground truth it fits: other labels, another line
    assert rule.fit(cases, [1 - u for u in (0.0, 0.1, 0.4, 0.8)]).slope_ == 1.0


def test_held_out_folds_are_scikit_learns_leave_one_group_out():
    """The per-group records are those of fitting on every other group and scoring the
    group's own cases, fold by fold as LeaveOneGroupOut makes them."""
    from sklearn.model_selection import LeaveOneGroupOut

    cases = [
        _case(u, 1 - k * u, "go" if u < 0.05 else "no-go", model=m)
        for m, k in (("a", 0.5), ("b", 1.0), ("c", 2.0))
        for u in (0.0, 0.02, 0.3, 0.6)
    ]
    groups = [c.model for c in cases]
    result = validation.held_out(cases, lambda c: c.model, 0.9, "reference")
    for train, test in LeaveOneGroupOut().split(cases, groups=groups):
        rule = RetentionRule("reference", 0.9).fit([cases[i] for i in train])
        held = [cases[i] for i in test]
        assert result["per_group"][groups[test[0]]] == validation.score(rule, held)
    assert result["total"]["cases"] == len(cases)


def test_held_out_groups_are_scored_by_rules_fitted_without_them():
    cases = [
        _case(u, 1 - u, "go" if u < 0.05 else "no-go", model=m)
        for m in ("a", "b")
        for u in (0.0, 0.02, 0.3, 0.6)
    ]
    result = validation.held_out(cases, lambda c: c.model, 0.9)
    assert set(result["per_group"]) == {"a", "b"}
    assert result["total"]["decisive"] == 8 and result["total"]["right"] == 8


def test_shipped_rules_can_give_every_verdict():
    """For each task type the shipped rules fit: an unpruned copy (loss 0) gets go, a large
    loss gets no-go, and some loss in between gets caution."""
    rules = json.loads((ROOT / "data/rules/default.json").read_text())
    tolerance = rules["tolerance"]
    for task, rule in rules["tasks"].items():
        if not rule["assessable"]:
            continue
        assert predict.predict(rule, 0.0, 0.0, tolerance).verdict == "go", task
        big = 5.0 if rule["evidence"] == "reference" else 1.0
        assert predict.predict(rule, big, 0.0, tolerance).verdict == "no-go", task
        grid = [big * k / 1000 for k in range(1001)]
        verdicts = {predict.predict(rule, u, 0.0, tolerance).verdict for u in grid}
        assert verdicts == {"go", "caution", "no-go"} or rule["misfit"] == 0, task
        if rule["evidence"] != "reference":  # a share: go is reachable from counts too
            kept = predict.predict(rule, 0.0, 0.0, tolerance, counts=Counts(200, 200))
            assert kept.verdict == "go", task
