"""Built-in suites: deterministic, disjoint splits, well-formed items for each task type."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from advisor.numbers import extract_final_number
from advisor.suites import (
    PRIMARY_VIEW,
    SPLITS,
    SUITES,
    build_suite,
    load_spec,
    primary_items,
    suite_record,
    views,
)
from advisor.suites.items import items_hash
from advisor.suites.tasks import task_names

CHOICE = ("classification", "multiple-choice")


@functools.cache
def suite(task: str, split: str = "calibration", seed: int = 0):
    return build_suite(task, split, seed)


def test_every_task_type_has_a_suite_and_a_spec():
    assert list(SUITES) == task_names()
    for task in SUITES:
        spec = load_spec(task)
        assert spec["task"] == task and spec["about"]


@pytest.mark.parametrize("task", task_names())
def test_suites_are_deterministic_for_a_seed(task):
    again = build_suite(task, "calibration", 0)
    assert items_hash(again) == items_hash(suite(task))
    assert [i.to_dict() for i in again] == [i.to_dict() for i in suite(task)]


@pytest.mark.parametrize("task", task_names())
def test_another_seed_gives_other_items(task):
    assert items_hash(suite(task, "calibration", 1)) != items_hash(suite(task))


@pytest.mark.parametrize("task", task_names())
@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_and_evaluation_are_disjoint(task, seed):
    cal, ev = suite(task, "calibration", seed), suite(task, "evaluation", seed)
    assert len(cal) >= 16 and len(ev) >= 16  # (retrieval's calibration split is the larger)
    assert not {i.id for i in cal} & {i.id for i in ev}
    assert not {i.prompt for i in cal} & {i.prompt for i in ev}
    if task == "retrieval":
        assert not set(cal[0].meta["corpus"]) & set(ev[0].meta["corpus"])
        assert not {i.meta["title"] for i in cal} & {i.meta["title"] for i in ev}
    if task in ("generation", "summarization"):
        assert not {i.reference for i in cal} & {i.reference for i in ev}
    if task == "rag":
        assert not {i.meta["passage"] for i in cal} & {i.meta["passage"] for i in ev}


@pytest.mark.parametrize("task", task_names())
@pytest.mark.parametrize("split", SPLITS)
def test_items_are_well_formed(task, split):
    items = suite(task, split)
    assert len({i.id for i in items}) == len(items)
    for item in items:
        assert item.task == task and item.prompt.strip()
        assert item.candidate_mode in ("tokens", "continuation")
        if task in CHOICE:
            assert len(item.candidates) >= 2 and len(set(item.candidates)) == len(item.candidates)
            assert item.gold is not None and 0 <= item.gold < len(item.candidates)
        elif task == "retrieval":
            assert not item.candidates and len(item.meta["corpus"]) >= 16
            assert item.gold is not None and 0 <= item.gold < len(item.meta["corpus"])
        else:
            assert item.reference and item.reference.strip()
            assert item.meta["max_new_tokens"] > 0


def test_suite_sizes_follow_the_spec():
    for task in ("retrieval", "rag", "generation", "summarization"):
        for split in SPLITS:
            assert len(suite(task, split)) == load_spec(task)["sizes"][split]
    math_sizes = load_spec("math")["sizes"]["calibration"]
    assert len(suite("math")) == sum(math_sizes.values())


def test_classification_is_balanced_over_labels_and_label_sets():
    items = suite("classification")
    sets = {i.meta["label_set"] for i in items}
    assert sets == {"sentiment", "source"}
    for name in sets:
        golds = [i.gold for i in items if i.meta["label_set"] == name]
        assert golds.count(0) == golds.count(1) == len(golds) // 2
    first = items[0]
    assert first.candidate_mode == "tokens" and first.prompt.count("\n\n") == 4


def test_multiple_choice_has_two_views_and_two_sources():
    items = suite("multiple-choice")
    assert {i.meta["source"] for i in items} == {"next_sentence", "blanked_word"}
    by_question: dict[str, dict[str, object]] = {}
    for item in items:
        by_question.setdefault(item.meta["question_id"], {})[item.meta["view"]] = item
    for pair in by_question.values():
        options, letters = pair["options"], pair["letters"]
        assert options.candidate_mode == "continuation" and len(options.candidates) == 4
        assert letters.candidate_mode == "tokens" and letters.candidates == (" A", " B", " C", " D")
        assert options.gold == letters.gold
        for option in options.candidates:
            assert option.strip() in letters.prompt
    for split in SPLITS:
        golds = [i.gold for i in suite("multiple-choice", split) if i.meta["view"] == "letters"]
        # A balanced answer key: "always A" scores exactly chance.
        assert [golds.count(n) for n in range(4)] == [len(golds) // 4] * 4


def test_views_and_primary_items():
    items = suite("multiple-choice")
    split = views(items)
    assert set(split) == {"options", "letters"} and len(split["options"]) == len(items) // 2
    primary = primary_items(items)
    assert {i.meta["view"] for i in primary} == {PRIMARY_VIEW}
    assert primary_items(suite("math")) == suite("math")
    assert views(suite("math")) == {"-": list(range(len(suite("math"))))}


def test_gpqa_source_can_be_switched_on_without_committing_its_text():
    spec = load_spec("multiple-choice")
    spec["sizes"] = {"calibration": {"gpqa": 4}, "evaluation": {"gpqa": 4}}
    cal = build_suite("multiple-choice", "calibration", 0, spec=spec)
    ev = build_suite("multiple-choice", "evaluation", 0, spec=spec)
    assert len(cal) == len(ev) == 8 and {i.meta["source"] for i in cal} == {"gpqa"}
    assert not {i.id for i in cal} & {i.id for i in ev}


def test_retrieval_queries_share_one_corpus_and_are_held_out():
    items = suite("retrieval")
    corpus = items[0].meta["corpus"]
    assert all(i.meta["corpus"] == corpus and not i.candidates for i in items)
    assert sorted(i.gold for i in items) == list(range(len(items)))
    for item in items:
        assert item.prompt not in corpus[item.gold]
        assert item.meta["corpus_size"] == len(corpus)


def test_retrieval_calibration_takes_four_paragraphs_an_article_evaluation_one():
    """The calibration split's 28 articles give 95 queries at up to four paragraphs each
    (counts for exact bounds, docs/design.md §5h); the evaluation split stays one paragraph
    per article (its corpus: 64 distinct articles)."""
    cal, ev = suite("retrieval"), suite("retrieval", "evaluation")
    assert (len(cal), len(ev)) == (95, 64)
    per_article = [sum(i.meta["title"] == t for i in cal) for t in {i.meta["title"] for i in cal}]
    assert max(per_article) == 4
    assert len({i.meta["title"] for i in ev}) == len(ev)
    assert not {i.meta["title"] for i in cal} & {i.meta["title"] for i in ev}


def test_rag_gold_span_is_in_the_passage_and_blanked_in_the_question():
    for item in suite("rag"):
        assert item.reference in item.meta["passage"]
        assert "___" in item.meta["question"]
        assert item.meta["passage"].count(item.reference) == 1
        assert 0 < item.meta["chance"] < 0.2


def test_summaries_are_unseen_leads_and_continuations_are_unseen():
    for item in suite("summarization"):
        assert item.reference not in item.prompt
    for item in suite("generation"):
        assert item.reference not in item.prompt and len(item.reference.split()) == 30


def test_math_items_have_checkable_answers():
    cal, ev = suite("math"), suite("math", "evaluation")
    assert [i.meta["source"] for i in cal].count("arithmetic") == 48
    assert [i.meta["source"] for i in ev].count("gsm8k") == 16
    for item in cal + ev:
        assert extract_final_number(item.reference) == item.meta["answer"]
        assert 0 < item.meta["chance"] < 0.2
    # The demonstrations end the way the extractor reads them.
    gsm = load_spec("math")["gsm8k"]
    for demo in gsm["demonstrations"]:
        text = gsm["answer"].format(**demo)
        assert extract_final_number(text) == demo["answer"]


def test_suite_record_names_spec_and_hash():
    record = suite_record("math", "calibration", 0, suite("math"))
    assert record["items"] == 48 and len(record["items_hash"]) == 16
    assert record["spec"]["task"] == "math"


@pytest.mark.parametrize("task", task_names())
def test_a_cached_suite_is_the_suite_built_afresh(task, private_cache, monkeypatch):
    first = build_suite(task, "calibration", 0)  # builds and keeps it
    built = []
    counting = dataclasses.replace(SUITES[task], build=lambda *a: built.append(a) or [])
    monkeypatch.setitem(SUITES, task, counting)
    again = build_suite(task, "calibration", 0)
    assert not built, "the second build must come from the cache"
    assert [(i, i.meta) for i in again] == [(i, i.meta) for i in first]
    assert items_hash(again) == items_hash(suite(task))


def test_a_changed_spec_is_not_served_from_the_cache(private_cache):
    spec = load_spec("math")
    build_suite("math", "calibration", 0, spec=spec)
    spec["arithmetic"]["template"] = "Q: " + spec["arithmetic"]["template"]
    changed = build_suite("math", "calibration", 0, spec=spec)
    assert all(i.prompt.count("Q: ") >= 1 for i in changed)
    assert items_hash(changed) != items_hash(suite("math"))
