"""Item-level scoring helpers: answer extraction, span match, chrF, retrieval metrics."""

from __future__ import annotations

import pytest

from advisor import numbers
from advisor.truth import metrics


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("#### 42", 42.0),
        ("She has 5 + 3 = 8 apples.\n#### 8", 8.0),
        ("The answer is 42.", 42.0),
        ("so the answer is $1,234.", 1234.0),
        ("It costs $1,234 in total", 1234.0),
        ("42.0", 42.0),
        ("The answer is -7.", -7.0),
        ("10 - 5 = 5", 5.0),
        ("temperature fell to -3 degrees", -3.0),
        ("\\boxed{17} and then 99", 17.0),
        ("The answer is 12. Then 3 more questions follow: 4", 12.0),
        (" 24\n", 24.0),
        ("1,000,000 people", 1_000_000.0),
        ("2.5 hours", 2.5),
        ("no digits here", None),
        ("", None),
    ],
)
def test_extract_final_number(text, number):
    assert numbers.extract_final_number(text) == number


def test_numbers_match_and_format():
    assert metrics.numbers_match(42.0, 42)
    assert not metrics.numbers_match(None, 42)
    assert not metrics.numbers_match(41.999, 42)
    assert numbers.format_number(42.0) == "42" and numbers.format_number(2.5) == "2.5"


@pytest.mark.parametrize(
    ("answer", "gold", "hit"),
    [
        (" Grote Reber\nPassage: ...", "Grote Reber", True),
        ("It was Grote Reber.", "Grote Reber", True),
        ("the Reber telescope", "Grote Reber", False),
        ("1889", "1889", True),
        ("18890", "1889", False),
        ("\n\nthe United States", "United States", True),
        ("", "Paris", False),
        (" 0.4-meter amateur telescope", "0.4", True),
        (" Mon–Khmer)", "Khmer Rouge", False),
    ],
)
def test_span_match(answer, gold, hit):
    assert metrics.span_match(answer, gold) is hit


def test_token_f1():
    assert metrics.token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert metrics.token_f1("Rome", "Paris") == 0.0


def test_chrf_hand_computed_values():
    # hyp "ab", ref "abc", orders 1-2: P1 = 2/2, R1 = 2/3; P2 = 1/1, R2 = 1/2.
    # P = 1, R = 7/12. F1 = 2PR/(P+R) = 14/19; F2 = 5PR/(4P+R) = 7/11.
    assert metrics.chrf("ab", "abc", order=2, beta=1) == pytest.approx(14 / 19)
    assert metrics.chrf("ab", "abc", order=2, beta=2) == pytest.approx(7 / 11)
    # hyp "aab", ref "ab", order 1: matches min(2,1)+min(1,1) = 2; P = 2/3, R = 1; F1 = 0.8.
    assert metrics.chrf("aab", "ab", order=1, beta=1) == pytest.approx(0.8)
    # Whitespace is ignored: "a b" == "ab".
    assert metrics.chrf("a b", "ab") == pytest.approx(1.0)


def test_chrf_bounds():
    assert metrics.chrf("the cat sat", "the cat sat") == pytest.approx(1.0)
    assert metrics.chrf("xyz", "abc") == 0.0
    assert metrics.chrf("", "abc") == 0.0
    close = metrics.chrf("the cat sat on the mat", "the cat sat on a mat")
    far = metrics.chrf("dogs bark loudly", "the cat sat on a mat")
    assert 0 < far < close < 1


def test_retrieval_metrics():
    assert metrics.recall_at_k([3, 1, 2], gold=1, k=1) == 0.0
    assert metrics.recall_at_k([3, 1, 2], gold=1, k=2) == 1.0
