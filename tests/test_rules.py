"""Rules: fitting a readable tree, applying it, explaining it, and caution near thresholds."""

from __future__ import annotations

import json

import pytest

from advisor.rules import apply, features
from advisor.rules import tree as rule_tree
from advisor.rules.tree import Case


def _cases() -> list[Case]:
    # go exactly when KL < 0.5; a second feature is noise
    out = []
    for i, kl in enumerate([0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0]):
        out.append(
            Case(
                "math",
                {"kl": kl, "embedding_cos": 0.9 + 0.001 * (i % 3)},
                kl < 0.5,
                group="ab"[i % 2],
            )
        )
    return out


def test_fit_finds_the_threshold_and_exports_plain_data():
    rule = rule_tree.fit_task(_cases())
    tree = rule["tree"]
    assert tree["feature"] == "kl"
    assert 0.4 <= tree["threshold"] <= 0.6
    assert tree["le"] == {"outcome": "go", "n": 5, "go": 5}
    assert tree["gt"] == {"outcome": "no-go", "n": 5, "go": 0}
    json.dumps(rule)  # JSON-ready, no numpy types
    assert rule_tree.rule_accuracy(rule, _cases()) == 1.0


def test_fit_is_deterministic():
    assert rule_tree.fit_task(_cases()) == rule_tree.fit_task(list(_cases()))


def test_single_class_gives_a_leaf():
    cases = [Case("rag", {"kl": v}, False) for v in (0.1, 0.2, 0.3)]
    rule = rule_tree.fit_task(cases)
    assert rule["tree"] == {"outcome": "no-go", "n": 3, "go": 0}


def test_leave_one_group_out_reports_accuracy():
    result = rule_tree.leave_one_group_out(_cases())
    assert result["n"] == 10
    assert set(result["per_group"]) == {"a", "b"}
    # trained on group a (KL 0.05, 0.2, 0.4 | 0.8, 1.5) the threshold is 0.6, so b's 0.6
    # is called go though it is no-go: 9 of 10 right
    assert result["accuracy"] == pytest.approx(0.9)
    assert result["per_group"]["a"] == 1.0 and result["per_group"]["b"] == pytest.approx(0.8)


def _rules_file() -> dict:
    rule = rule_tree.fit_task(_cases())
    rule["validation"] = {"leave_one_method_out": {"accuracy": 0.9, "n": 10}}
    return {"tasks": {"math": rule}}


def test_apply_explains_the_path_with_values_and_thresholds():
    verdict = apply.apply_rules(_rules_file(), "math", {"kl": 1.2, "embedding_cos": 0.9})
    assert verdict.verdict == "no-go"
    assert verdict.path[0]["feature"] == "kl" and verdict.path[0]["value"] == 1.2
    assert "KL(dense‖pruned) at T=1 (kl) = 1.2 >" in verdict.reasons[0]
    assert verdict.confidence == pytest.approx(0.9)
    assert (
        apply.apply_rules(_rules_file(), "math", {"kl": 0.01, "embedding_cos": 0.9}).verdict == "go"
    )


def test_value_near_threshold_gives_caution():
    threshold = _rules_file()["tasks"]["math"]["tree"]["threshold"]
    verdict = apply.apply_rules(
        _rules_file(), "math", {"kl": threshold + 1e-3, "embedding_cos": 0.9}
    )
    assert verdict.verdict == "caution"
    assert any("close to a rule threshold" in r for r in verdict.reasons)


def test_low_validation_accuracy_gives_caution():
    file = _rules_file()
    file["tasks"]["math"]["validation"]["leave_one_method_out"]["accuracy"] = 0.5
    verdict = apply.apply_rules(file, "math", {"kl": 0.01, "embedding_cos": 0.9})
    assert verdict.verdict == "caution"
    assert verdict.reasons[-1].endswith("(leave-one-method-out accuracy 50%).")


def _with_held_out(accuracy: float, n: int) -> dict:
    file = _rules_file()
    file["provenance"] = {"training_models": [{"name": "small", "fingerprint": "aaaa"}]}
    held = {"accuracy": accuracy, "n": n, "n_go": n // 2, "model": ["other"]}
    file["tasks"]["math"]["validation"]["held_out_model"] = held
    return file


def test_poor_transfer_gives_caution_only_for_a_model_not_fitted_on():
    go = {"kl": 0.01, "embedding_cos": 0.9}
    file = _with_held_out(0.5, 8)
    trained = apply.apply_rules(file, "math", go, fingerprint="aaaa")
    assert trained.verdict == "go" and trained.confidence == pytest.approx(0.9)
    foreign = apply.apply_rules(file, "math", go, fingerprint="bbbb")
    assert foreign.verdict == "caution"
    assert any("right in 50% of 8 configurations" in r for r in foreign.reasons)
    assert foreign.confidence == pytest.approx(0.9 * 0.5)
    assert apply.apply_rules(file, "math", go).verdict == "go"  # model unknown: no claim


def test_good_or_thin_transfer_keeps_the_verdict_and_says_so():
    go = {"kl": 0.01, "embedding_cos": 0.9}
    good = apply.apply_rules(_with_held_out(1.0, 8), "math", go, fingerprint="bbbb")
    assert good.verdict == "go" and any("right in 100%" in r for r in good.reasons)
    thin = apply.apply_rules(_with_held_out(0.0, 1), "math", go, fingerprint="bbbb")
    assert thin.verdict == "go" and any("too few to weigh" in r for r in thin.reasons)


def test_incompetent_dense_model_is_not_assessable():
    verdict = apply.apply_rules(
        _rules_file(), "math", {"kl": 0.01}, {"assessable": False, "reason": "at chance (8%)"}
    )
    assert verdict.verdict == "not-assessable"
    assert "at chance (8%)" in verdict.reasons[0]


def test_missing_rule_or_feature():
    assert apply.apply_rules(_rules_file(), "rag", {"kl": 0.1}).verdict == "not-assessable"
    assert apply.apply_rules(_rules_file(), "math", {"embedding_cos": 0.9}).verdict == "caution"


def test_features_of_reads_aggregates():
    aggregates = {"probability": {"kl_t1": {"mean": 0.25, "median": 0.2}}, "embedding": {}}
    assert features.features_of(aggregates) == {"kl": 0.25}


def test_exported_tree_has_no_split_whose_sides_agree():
    """Impurity-only splits (both sides the same outcome) are merged into one leaf, and
    predictions stay those of the fitted tree."""
    import random

    from sklearn.tree import DecisionTreeClassifier

    a, b = sorted(features.FEATURES)[:2]
    rng = random.Random(0)
    for _ in range(20):
        cases = [
            Case(
                task="math",
                features={a: rng.random(), b: rng.random()},
                go=rng.random() < 0.7,
                group=str(k % 3),
            )
            for k in range(30)
        ]
        rule = rule_tree.fit_task(cases)

        def check(node):
            if "feature" not in node:
                return
            le, gt = node["le"], node["gt"]
            assert not ("outcome" in le and "outcome" in gt and le["outcome"] == gt["outcome"])
            check(le)
            check(gt)

        check(rule["tree"])
        if len({c.go for c in cases}) < 2:
            continue
        assert rule["features"] == sorted([a, b]) or set(rule["features"]) == {a, b}
        x = [[c.features[n] for n in rule["features"]] for c in cases]
        tree = DecisionTreeClassifier(
            max_depth=rule_tree.MAX_DEPTH, min_samples_leaf=2, random_state=0
        )
        tree.fit(x, [int(c.go) for c in cases])
        for case, row in zip(cases, x, strict=True):
            expected = "go" if tree.predict([row])[0] == 1 else "no-go"
            assert rule_tree.predict(rule, case.features) == expected


def test_every_caution_is_given_and_summarised():
    """A verdict near a threshold on a rule that also transfers poorly names both reasons,
    and the report's one-line summary carries both."""
    from advisor.report import plain_sentence

    file = _with_held_out(0.5, 8)
    threshold = file["tasks"]["math"]["tree"]["threshold"]
    verdict = apply.apply_rules(
        file, "math", {"kl": threshold + 1e-3, "embedding_cos": 0.9}, fingerprint="bbbb"
    )
    cautions = [r for r in verdict.reasons if r.startswith("Caution: ")]
    assert verdict.verdict == "caution" and len(cautions) == 2
    sentence = plain_sentence("math", verdict.to_dict(), 0.9)
    assert "close to a rule threshold" in sentence and "carries over poorly" in sentence


def test_select_depth_prefers_the_shallowest_of_the_best():
    assert rule_tree.select_depth({1: 0.8, 2: 0.9, 3: 0.9}) == 2
    assert rule_tree.select_depth({1: 0.9, 2: 0.9, 3: 0.7}) == 1
    assert rule_tree.select_depth({1: None, 2: None, 3: None}) == 1


def test_one_threshold_is_fitted_at_depth_one():
    scores = rule_tree.depth_scores(_cases())
    assert set(scores) == {1, 2, 3} and scores[1] == pytest.approx(0.9)
    assert rule_tree.select_depth(scores) == 1
    assert rule_tree.fit_selected(_cases()) == rule_tree.fit_task(_cases(), 1)


def test_a_band_needs_depth_two_and_gets_it():
    """go only for 0.2 < KL < 1: one threshold cannot say it, two can."""
    cases = [
        Case("math", {"kl": kl + off, "embedding_cos": 0.9}, 0.2 < kl < 1.0, group=g)
        for g, off in (("a", 0.0), ("b", 0.01), ("c", 0.02))
        for kl in (0.05, 0.1, 0.3, 0.5, 0.8, 1.5, 2.0, 3.0)
    ]
    scores = rule_tree.depth_scores(cases)
    assert scores[1] == pytest.approx(0.75) and scores[2] == 1.0
    tree = rule_tree.fit_selected(cases)["tree"]
    assert (
        tree["le"]["feature"] == "kl"
        and rule_tree.rule_accuracy(rule_tree.fit_selected(cases), cases) == 1.0
    )
