"""User suites (--data FILE.jsonl): one schema per task type, errors naming the line."""

from __future__ import annotations

import json

import pytest

from advisor.errors import AdvisorError
from advisor.suites import SUITES, build_suite

GOOD = {
    "retrieval": [
        {"query": "Who wrote Hamlet?", "passage": "Hamlet is a play by Shakespeare."},
        {"query": "What is granite?", "passage": "Granite is an igneous rock."},
    ],
    "classification": [
        {"prompt": "Review: great\nSentiment:", "labels": [" positive", " negative"], "gold": 0},
        {"prompt": "Review: awful\nSentiment:", "labels": [" positive", " negative"],
         "gold": " negative"},
    ],
    "multiple-choice": [
        {"question": "The capital of France is", "options": ["Paris", "Rome"], "gold": "Paris"},
        {"question": "Two plus two is", "options": ["three", "four"], "gold": 1},
    ],
    "rag": [
        {"passage": "The tower was completed in 1889.", "question": "When?", "answer": 1889},
        {"passage": "Oslo is in Norway.", "question": "Where is Oslo?", "answer": "Norway"},
    ],
    "generation": [
        {"prompt": "The storm reached the coast", "reference": "and cut power.", "id": "s1"},
        {"prompt": "Markets fell today", "reference": "as investors worried.", "id": "s2"},
    ],
    "summarization": [
        {"text": "The council met and voted on the budget.", "reference": "Budget passed."},
        {"text": "Rain fell all day in the city.", "reference": "A rainy day."},
    ],
    "math": [
        {"question": "Ann has 3 pens and buys 4 more. How many?", "answer": 7},
        {"question": "What is 10 minus 12?", "answer": "-2"},
    ],
}  # fmt: skip


def write(tmp_path, rows, name="suite.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_task_type_documents_a_schema():
    assert set(GOOD) == set(SUITES)
    for suite in SUITES.values():
        assert suite.schema.startswith("{") and suite.required


@pytest.mark.parametrize("task", list(GOOD))
def test_good_user_suite(task, tmp_path):
    items = build_suite(task, data_file=write(tmp_path, GOOD[task]))
    assert len(items) == 2 and all(i.task == task for i in items)
    if task == "classification":
        assert [i.gold for i in items] == [0, 1]
    if task == "retrieval":
        assert items[0].meta["corpus"] == items[1].meta["corpus"]
        assert [i.gold for i in items] == [0, 1] and len(items[0].meta["corpus"]) == 2
    if task == "math":
        assert [i.meta["answer"] for i in items] == [7.0, -2.0]
    if task == "generation":
        assert [i.id for i in items] == ["s1", "s2"]
    if task == "rag":
        assert items[0].reference == "1889" and "Passage: The tower" in items[0].prompt


@pytest.mark.parametrize(
    ("task", "bad_row", "message"),
    [
        ("math", {"question": "How many?"}, r"line 2: missing answer"),
        ("math", {"question": "How many?", "answer": "lots"}, r"line 2: 'answer' must be"),
        ("classification", {"prompt": "x", "labels": ["a"], "gold": 0}, r"line 2: 'labels'"),
        ("classification", {"prompt": "x", "labels": ["a", "b"], "gold": "c"}, r"line 2: gold"),
        ("multiple-choice", {"question": "q", "options": ["a", "b"], "gold": 5}, r"line 2: gold"),
        (
            "classification",
            {"prompt": "x", "labels": ["a", "b"], "gold": 0, "candidate_mode": "logits"},
            r"line 2: candidate_mode",
        ),
        ("retrieval", {"query": 3, "passage": "p"}, r"line 2: 'query' must be"),
        ("rag", {"passage": "p", "question": "q", "answer": ""}, r"line 2: missing answer"),
        ("generation", {"prompt": "p", "reference": ["x"]}, r"line 2: 'reference' must be"),
    ],
)
def test_bad_row_error_names_the_line(task, bad_row, message, tmp_path):
    path = write(tmp_path, [GOOD[task][0], bad_row])
    with pytest.raises(AdvisorError, match=message) as info:
        build_suite(task, data_file=path)
    assert str(path) in str(info.value)


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(GOOD["math"][0]) + "\n\n{not json}\n")
    with pytest.raises(AdvisorError, match=r"line 3: not valid JSON"):
        build_suite("math", data_file=path)


def test_repeated_ids_are_refused(tmp_path):
    rows = [dict(GOOD["generation"][0]), dict(GOOD["generation"][1], id="s1")]
    with pytest.raises(AdvisorError, match="line 2: the id 's1' is already used by line 1"):
        build_suite("generation", data_file=write(tmp_path, rows))


def test_unknown_task_and_split():
    with pytest.raises(AdvisorError, match="Unknown task type"):
        build_suite("poetry")
    with pytest.raises(AdvisorError, match="Unknown split"):
        build_suite("math", "training")
