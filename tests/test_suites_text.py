"""Text helpers of the suite builders: sentence splitting, tidying, splits."""

from __future__ import annotations

import pytest

from advisor.errors import AdvisorError
from advisor.suites.common import fill_up, units_of_split
from advisor.suites.text import leading_sentences, sentences, tidy


def test_sentences_keep_abbreviations_initials_and_quotes():
    text = (
        'Dr. Smith went to the U.S. in 1990. He said "hello." Then J. R. Tolkien wrote. 42 is it.'
    )
    assert sentences(text) == [
        "Dr. Smith went to the U.S. in 1990.",
        'He said "hello."',
        "Then J. R. Tolkien wrote.",
        "42 is it.",
    ]
    assert sentences("no full stop") == ["no full stop"]
    assert sentences("") == []


def test_tidy_removes_markup_leftovers():
    assert tidy("Apollo (), is archaic, from an earlier . ok ( ; ) yes") == (
        "Apollo, is archaic, from an earlier. ok yes"
    )


def test_leading_sentences_respects_the_word_budget():
    parts = ["one two three.", "four five.", "six seven eight nine."]
    assert leading_sentences(parts, 5) == parts[:2]
    assert leading_sentences(parts, 2) == []


def test_units_of_split_partition_and_determinism():
    units = list(range(20))
    cal = units_of_split(units, 0, "x", 5, "calibration")
    ev = units_of_split(units, 0, "x", 5, "evaluation")
    assert len(cal) == 5 and sorted(cal + ev) == units
    assert cal == units_of_split(units, 0, "x", 5, "calibration")
    assert cal != units_of_split(units, 1, "x", 5, "calibration")
    with pytest.raises(AdvisorError, match="Unknown split"):
        units_of_split(units, 0, "x", 5, "train")


def test_fill_up_caps_per_group_and_size():
    groups = [[1, 2, 3], [], [4, 5], [6]]
    assert fill_up(groups, 4, per_group=2) == [1, 2, 4, 5]
    assert fill_up(groups, 10, per_group=1) == [1, 4, 6]
