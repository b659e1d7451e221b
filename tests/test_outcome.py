"""Quality retention and its bootstrap outcome."""

from __future__ import annotations

import pytest

from advisor.truth.retention import retention


def test_identical_scores_retain_everything():
    scores = [1, 0, 1, 1, 0, 1, 1, 1] * 5
    record = retention(scores, scores)
    assert record["retention"] == 1.0 and record["ci"] == [1.0, 1.0]
    assert record["outcome"] == "go"


def test_hand_computed_retention_and_clear_no_go():
    dense = [1.0] * 40
    pruned = [1.0] * 10 + [0.0] * 30
    record = retention(dense, pruned)
    assert record["retention"] == pytest.approx(0.25)
    assert record["ci"][1] < 0.9 and record["outcome"] == "no-go"


def test_interval_straddling_tolerance_is_caution():
    dense = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    pruned = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    record = retention(dense, pruned, tolerance=0.9)
    assert record["retention"] == pytest.approx(7 / 8)
    assert record["ci"][0] < 0.9 <= record["ci"][1] and record["outcome"] == "caution"


def test_deterministic_for_a_seed_and_no_outcome_without_dense_skill():
    a = retention([0.2, 0.5, 0.9], [0.1, 0.5, 0.8], seed=3)
    assert a == retention([0.2, 0.5, 0.9], [0.1, 0.5, 0.8], seed=3)
    assert retention([0.0, 0.0], [1.0, 0.0])["outcome"] is None
    with pytest.raises(ValueError):
        retention([1.0], [1.0, 0.0])
