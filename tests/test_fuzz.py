"""Property-based tests (hypothesis): the user-suite loader and the math answer extractor
take anything a user or a model can produce without an unexplained exception."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from hypothesis import example, given, settings, strategies as st

from advisor.errors import AdvisorError
from advisor.numbers import extract_final_number
from advisor.suites import SUITES, build_suite
from advisor.suites.items import Item

# Examples, seed and derandomization come from the profile loaded in conftest.py ("ci"
# by default: the same inputs on every run; "explore" for local bug hunting).
FUZZ = settings()
TASKS = st.sampled_from(sorted(SUITES))
# Errors about one row must say which line; these two are about the file as a whole.
WHOLE_FILE = ("holds no rows", "used by more than one row")


def _load(task: str, content: bytes, suffix: str) -> list[Item] | AdvisorError:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"suite{suffix}"
        path.write_bytes(content)
        try:
            return build_suite(task, data_file=path)
        except AdvisorError as exc:
            return exc


def _check(outcome: list[Item] | AdvisorError, task: str) -> None:
    if isinstance(outcome, AdvisorError):
        message = str(outcome)
        assert re.search(r"line \d+", message) or any(w in message for w in WHOLE_FILE), message
        return
    assert outcome and all(isinstance(i, Item) and i.task == task for i in outcome)
    assert all(isinstance(i.prompt, str) and i.prompt for i in outcome)


@FUZZ
@given(task=TASKS, content=st.binary(max_size=400), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_arbitrary_bytes_give_items_or_a_line_numbered_error(task, content, suffix):
    _check(_load(task, content, suffix), task)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


OPTIONAL = ("id", "gold", "labels", "options", "candidate_mode", "max_new_tokens", "reference")
# A small pool of plausible values: rows often pass the field checks (so later checks run)
# and often repeat each other (repeated ids, shared passages).
PLAUSIBLE = st.sampled_from(["the cat", "Paris", "7", " yes", "a", "b"]) | st.lists(
    st.sampled_from(["a", "b", " yes", " no"]), max_size=4
)


@st.composite
def suite_files(draw) -> tuple[str, bytes]:
    """Lines that look like a suite: the task's field names with plausible or arbitrary JSON
    values, mixed with blank and broken lines."""
    task = draw(TASKS)
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "broken"]))
        if kind == "blank":
            lines.append("")
        elif kind == "broken":
            lines.append(draw(st.text(max_size=30)).replace("\n", " "))
        else:
            row = {k: draw(PLAUSIBLE | JSON_VALUES) for k in SUITES[task].required}
            for key in draw(st.lists(st.sampled_from(OPTIONAL), max_size=3, unique=True)):
                row[key] = draw(JSON_VALUES | PLAUSIBLE | st.integers(-3, 3))
            lines.append(json.dumps(row))
    return task, "\n".join(lines).encode()


# Found by this test on a CI run (issue 13): accepted as an item whose prompt is a list.
PAST_FIND = ("multiple-choice", b'{"question": [], "options": ["a", "a"], "gold": "a"}')


@FUZZ
@given(suite=suite_files())
@example(suite=PAST_FIND)
def test_suite_like_lines_give_items_or_a_line_numbered_error(suite):
    task, content = suite
    _check(_load(task, content, ".jsonl"), task)


# --------------------------------------------------------------------------- extractor


@FUZZ
@given(text=st.text(max_size=200))
def test_extractor_never_raises(text):
    value = extract_final_number(text)
    assert value is None or isinstance(value, float)


MONEY = st.integers(min_value=-(10**9), max_value=10**9)


@FUZZ
@given(n=MONEY)
def test_extractor_reads_thousands_separators_and_signs(n):
    assert extract_final_number(f"{n:,}") == n
    assert extract_final_number(f"The answer is {n:,}.") == n
    assert extract_final_number(f"so it costs {n} in total") == n


@FUZZ
@given(n=st.integers(min_value=0, max_value=10**7), cents=st.integers(min_value=0, max_value=99))
def test_extractor_reads_dollars_and_decimals(n, cents):
    assert extract_final_number(f"${n:,}") == n
    assert extract_final_number(f"It is ${n}.{cents:02d} each.") == float(f"{n}.{cents:02d}")
    assert extract_final_number(f"#### {n}.{cents:02d}") == float(f"{n}.{cents:02d}")


@FUZZ
@given(n=MONEY, noise=st.text(alphabet="abc xyz,;:!?()", max_size=30))
def test_marked_answer_wins_over_later_numbers(n, noise):
    assert extract_final_number(f"{noise} The answer is {n}. Then 7 more{noise}") == n


def test_extractor_examples():
    assert extract_final_number("1,234") == 1234
    assert extract_final_number("-5") == -5
    assert extract_final_number("3.50") == 3.5
    assert extract_final_number("$12") == 12
    assert extract_final_number("The answer is 42.") == 42


# Regressions the fuzzing above found: each once escaped as another exception or without
# a line number.
def test_found_by_fuzzing_each_error_names_its_line():
    inf = b'{"prompt": "p", "reference": "r", "max_new_tokens": Infinity}\n'
    shared = b'{"query": "q1", "passage": "p"}\n{"query": "q2", "passage": "p"}\n'
    latin1 = b'{"question": "2+2?", "answer": 4}\n{"question": "caf\xe9", "answer": 1}\n'
    huge_csv = b"question,answer\nx,1\n" + b"y" * 200_000 + b",2\n"  # over csv's field limit
    cases = [
        ("generation", inf, ".jsonl", "line 1: 'max_new_tokens' must be a whole number"),
        ("retrieval", shared, ".jsonl", "line 2: the same passage as line 1"),
        ("math", latin1, ".jsonl", "line 2: not UTF-8 text"),
        ("math", huge_csv, ".csv", "not valid CSV (field larger than field limit"),
    ]
    for task, content, suffix, message in cases:
        outcome = _load(task, content, suffix)
        assert isinstance(outcome, AdvisorError) and message in str(outcome), outcome


def test_past_find_is_a_line_numbered_error():
    """The row the property test found, as a plain regression test."""
    outcome = _load(*PAST_FIND, ".jsonl")
    assert isinstance(outcome, AdvisorError) and "line 1:" in str(outcome)


def test_property_tests_are_derandomized_unless_exploring():
    """CI never draws new random inputs: the default profile is derandomized."""
    import os

    profile = settings.default
    if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert profile.derandomize and profile.database is None
    else:
        assert not profile.derandomize
