"""The CI gate: --fail-on's thresholds, and a sentence that names what was not checked."""

from __future__ import annotations

import pytest

from advisor.errors import AdvisorError
from advisor.gate import gate_record, gate_sentence, gate_state, parse_fail_on


def _result(verdicts: dict[str, str], fail_on: str) -> dict:
    return {
        "tasks": {t: {"verdict": v} for t, v in verdicts.items()},
        "gate": gate_record(verdicts, fail_on),
    }


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("no-go", "no-go"),
        ("not-assessable", "not-assessable"),
        ("not-assessable,caution", "caution,not-assessable"),
        (" caution , no-go ", "no-go,caution"),
    ],
)
def test_fail_on_takes_thresholds_and_combinations(value, canonical):
    assert parse_fail_on(value) == canonical


@pytest.mark.parametrize("value", ["maybe", "", ",", "go", "caution,maybe"])
def test_fail_on_refuses_anything_else_and_names_the_choices(value):
    with pytest.raises(AdvisorError, match="no-go, caution or not-assessable"):
        parse_fail_on(value)


def test_nothing_checked_fails_the_recommended_gate():
    verdicts = {"rag": "not-assessable", "summarization": "not-assessable"}
    result = _result(verdicts, "not-assessable")
    assert result["gate"]["failed"] and result["gate"]["checked"] == []
    assert gate_state(result) == "failed"
    assert gate_sentence(result) == (
        "CI gate failed (--fail-on not-assessable): rag not-assessable, summarization "
        "not-assessable."
    )


def test_nothing_checked_never_reads_passed_under_the_default_gate():
    result = _result({"rag": "not-assessable"}, "no-go")
    assert not result["gate"]["failed"] and gate_state(result) == "unchecked"
    sentence = gate_sentence(result)
    assert "passed" not in sentence
    assert sentence.startswith("CI gate checked nothing")
    assert "--fail-on not-assessable fails closed" in sentence


def test_a_partial_check_passes_only_for_what_it_checked():
    result = _result({"rag": "go", "math": "caution", "summarization": "not-assessable"}, "no-go")
    assert gate_state(result) == "unchecked"
    assert gate_sentence(result) == (
        "CI gate passed (--fail-on no-go) for the task types checked: rag, math. Not checked "
        "(not assessable): summarization; the gate says nothing about it."
    )


def test_caution_and_not_assessable_combine():
    verdicts = {"rag": "caution", "math": "go", "generation": "not-assessable"}
    gate = gate_record(verdicts, "caution,not-assessable")
    assert gate["failing_tasks"] == ["rag", "generation"]
    assert gate_record(verdicts, "no-go")["failed"] is False
    assert gate_state(_result({"rag": "go"}, "no-go")) == "passed"
