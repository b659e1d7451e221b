"""Reported features, and verdicts explained: prediction, evidence, what would settle it."""

from __future__ import annotations

from advisor.report import plain_sentence
from advisor.rules import features as rules
from advisor.rules.predict import explain

RULE = {"slope": 1.0, "misfit": 0.3, "n_cases": 40, "evidence": "survival"}
PROVENANCE = {"training_models": [{"name": "smollm2-135m"}, {"name": "gemma3-270m"}]}


def _evidence(loss: float, loss_sd: float, n: int = 20) -> dict:
    return {
        "task": "math",
        "kind": "survival",
        "retention": 1 - loss,
        "ci": [1 - loss - 0.1, 1 - loss + 0.05],
        "stats": {"loss": loss, "loss_sd": loss_sd, "survival": 1 - loss},
        "n": n,
    }


def test_features_of_reads_aggregates():
    aggregates = {"probability": {"kl_t1": {"mean": 0.25, "median": 0.2}}, "embedding": {}}
    assert rules.features_of(aggregates) == {"kl": 0.25}
    assert rules.features_of({"probability": {"kl_t1": {"mean": float("nan")}}}) == {}


def test_a_go_explains_its_evidence_and_rule():
    record = explain("math", RULE, _evidence(0.0, 0.02), 0.9, PROVENANCE)
    assert record["verdict"] == "go" and record["prediction"]["retention"] == 1.0
    assert record["reasons"][0].startswith("Evidence: answer survival")
    assert "smollm2-135m, gemma3-270m" in record["reasons"][1]
    assert "settle" not in record
    assert 0.5 <= record["confidence"] <= 1
    assert "Safe to ship for math" in plain_sentence("math", record, 0.9)


def test_a_no_go_is_explained():
    record = explain("math", RULE, _evidence(0.6, 0.05), 0.9, PROVENANCE)
    assert record["verdict"] == "no-go"
    assert record["prediction"]["interval"][1] < 0.9
    assert "Do not ship for math" in plain_sentence("math", record, 0.9)


def test_a_caution_says_what_would_settle_it():
    # sampling-limited: more items of the user's own would settle it
    record = explain("math", RULE, _evidence(0.02, 0.06), 0.9, PROVENANCE)
    assert record["verdict"] == "caution"
    assert "prune-advisor evaluate --task math" in record["settle"]
    assert "--data" in record["settle"]
    assert record["reasons"][-1].startswith("Caution: the interval straddles")
    sentence = plain_sentence("math", record, 0.9)
    assert "Borderline for math" in sentence and record["settle"] in sentence
    # misfit-limited: no number of calibration items helps, only ground truth
    near = explain("math", RULE | {"misfit": 2.0}, _evidence(0.08, 0.0), 0.9, PROVENANCE)
    assert near["verdict"] == "caution" and "--data" not in near["settle"]
