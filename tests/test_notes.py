"""The short explanations shared by terminal and report: speed, dense cache, reasons."""

from __future__ import annotations

import pytest

from advisor.notes import DENSE_CACHE_STATES, dense_cache_note, short_reason, speed_note


def _result(dropped=None, sparsity=0.0, pattern="unstructured", params=(100, 100), ratio=1.0):
    return {
        "model": {"parameters": params[0]},
        "pruning": {
            "dropped": dropped or {"layers": [], "attn": [], "mlp": []},
            "achieved_sparsity": sparsity,
            "pattern": pattern,
            "parameters": params[1],
        },
        "speed": {"speedup": ratio},
    }


def test_structural_removal_is_why_it_is_faster():
    note = speed_note(_result({"layers": [], "attn": [3, 4], "mlp": []}, params=(100, 90),
                              ratio=1.13))  # fmt: skip
    assert note.startswith("×1.13 here: 2 attention sublayers removed outright")


@pytest.mark.parametrize(
    ("pattern", "kernel"),
    [("2:4", "sparse tensor cores (NVIDIA Ampere or newer"), ("unstructured", "DeepSparse")],
)
def test_zeros_in_dense_matrices_are_why_it_is_not(pattern, kernel):
    note = speed_note(_result(sparsity=0.5, pattern=pattern, ratio=0.9))
    assert "the zeros stay inside dense matrices" in note and kernel in note


def test_every_dense_cache_state_is_explained():
    assert set(DENSE_CACHE_STATES) == {"hit", "miss", "off", "skipped"}
    assert "--no-hierarchy" in dense_cache_note("skipped")


def test_short_reasons_fit_the_terminal_column():
    pred = {"retention": 0.9, "interval": [0.82, 0.97]}
    competence = {"assessable": False, "n": 14, "successes": 5, "chance": 0.5, "score": 0.13,
                  "top_share": 0.3, "min_items": 10, "max_share": 0.75}  # fmt: skip
    reasons = {
        "go": short_reason({"verdict": "go", "prediction": pred}, 0.8),
        "caution": short_reason({"verdict": "caution", "prediction": pred}, 0.9),
        "no-go": short_reason({"verdict": "no-go", "prediction": pred}, 0.99),
        "na": short_reason({"verdict": "not-assessable", "competence": competence}, 0.9),
    }
    assert reasons == {
        "go": "lower bound 0.82 ≥ 0.80",
        "caution": "interval straddles 0.90",
        "no-go": "upper bound 0.97 < 0.99",
        "na": "dense 5/14 = 0.36 vs chance 0.50",  # the competence gate's numbers
    }
    assert all(len(r) <= 40 for r in reasons.values())


def test_terminal_and_report_quote_the_same_competence_numbers():
    from advisor.report import plain_sentence

    why = "not clearly above chance: 5/14 = 0.36 vs chance 0.50 (one-sided p = 0.3)"
    record = {
        "verdict": "not-assessable",
        "reasons": [f"Not assessable with this model/suite: {why}"],
        "competence": {"assessable": False, "reason": f"not assessable with this model/suite: "
                       f"{why}", "n": 14, "successes": 5, "chance": 0.5, "score": 0.13,
                       "top_share": 0.2},  # score: a mean chrF, not the share of wins
    }  # fmt: skip
    terminal, report = short_reason(record, 0.9), plain_sentence("rag", record, 0.9)
    assert "5/14 = 0.36 vs chance 0.50" in terminal and "5/14 = 0.36 vs chance 0.50" in report
    assert "0.13" not in report and report.count("not assessable") == 0
