"""score_model: per-item results through advisor.forward (tiny random model, plumbing only)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from advisor import forward
from advisor.models import LoadedModel
from advisor.suites.items import Item
from advisor.truth import score
from advisor.truth.score import ItemResult, chance_rates, dense_competence, score_model
from tests.tiny_models import tiny_model


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    model, tokenizer = tiny_model()
    return LoadedModel("tiny", Path("."), model, tokenizer, "tiny")


ITEMS = [
    Item("c1", "classification", "the cat is", (" good", " bad"), "tokens", gold=0),
    Item("m1", "multiple-choice", "the dog", (" ran", " cat house", " is"), gold=2),
    Item("r1", "retrieval", "the cat", gold=0,
         meta={"k": [1, 2], "corpus": ["the cat is good", "a dog", "water"]}),
    Item("r2", "retrieval", "a dog", gold=1,
         meta={"k": [1, 2], "corpus": ["the cat is good", "a dog", "water"]}),
    Item("x1", "math", "one plus two =", reference="3",
         meta={"answer": 3.0, "max_new_tokens": 3, "stop": ["\n"]}),
    Item("q1", "rag", "the king of the city was", reference="he",
         meta={"max_new_tokens": 2, "chance": 0.1}),
    Item("g1", "generation", "the river", reference="the river and the sea",
         meta={"max_new_tokens": 4}),
    Item("g2", "generation", "a bird", reference="a bird on a tree", meta={"max_new_tokens": 4}),
]  # fmt: skip


def test_results_follow_the_items_and_are_deterministic(tiny):
    first = score_model(tiny, ITEMS, batch_size=2)
    again = score_model(tiny, ITEMS, batch_size=3)
    assert [r.id for r in first] == [i.id for i in ITEMS]
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    for item, result in zip(ITEMS, first, strict=True):
        assert 0.0 <= result.score <= 1.0
        if item.candidates or item.task == "retrieval":
            assert 0 <= result.answer < len(item.candidates or item.meta["corpus"])
            assert result.correct == (result.answer == item.gold)
        else:
            assert isinstance(result.output, str)
    retrieval = [r for r in first if r.task == "retrieval"]
    assert all(len(set(r.details["ranking"]) & {0, 1, 2}) == 2 for r in retrieval)
    assert all(set(r.details) >= {"recall@1", "recall@2"} for r in retrieval)
    assert all("chrf_mismatched" in r.details for r in first if r.task == "generation")


def test_choice_uses_length_normalised_likelihood(tiny, monkeypatch):
    # Option 0 has the higher total log-probability, option 1 the higher per-token mean.
    fake = [[forward.OptionScore(-3.0, 1, False), forward.OptionScore(-4.0, 4, False)]]
    monkeypatch.setattr(forward, "continuation_logprobs", lambda *a, **k: fake)
    item = Item("m", "multiple-choice", "p", (" a", " b c d e"), gold=1)
    (result,) = score_model(tiny, [item])
    assert result.answer == 1 and result.correct
    assert result.details["candidate_scores"] == [-3.0, -1.0]


def test_multi_token_labels_fall_back_to_continuation(tiny):
    # "good bad" is two tokens of the tiny tokenizer, so the item cannot be read in one step.
    item = Item("c", "classification", "the cat is", (" good bad", " no"), "tokens", gold=1)
    (result,) = score_model(tiny, [item])
    assert result.details["mode"] == "continuation" and result.answer in (0, 1)
    (single,) = score_model(tiny, [ITEMS[0]])
    assert single.details["mode"] == "tokens"


def test_generated_text_is_cut_at_stop_strings_and_scored(tiny, monkeypatch):
    outputs = {
        "3 + 4 =": " 7\n8 + 1 = 9",
        "Q": " The answer is 12.\n\nQuestion: next",
        "P": " Grote Reber\nx",
    }

    def fake_generate(model, tokenizer, prompts, horizon, **kwargs):
        return SimpleNamespace(
            texts=[outputs[p] for p in prompts],
            tokens=[[] for _ in prompts],
            hidden=[None for _ in prompts],
        )

    monkeypatch.setattr(forward, "greedy_generate", fake_generate)
    items = [
        Item("a", "math", "3 + 4 =", reference="7",
             meta={"answer": 7.0, "max_new_tokens": 4, "stop": ["\n"]}),
        Item("b", "math", "Q", reference="12",
             meta={"answer": 12.0, "max_new_tokens": 4, "stop": ["\n\n", "Question:"]}),
        Item("c", "rag", "P", reference="Grote Reber",
             meta={"max_new_tokens": 4, "stop": ["\n"], "chance": 0.05}),
    ]  # fmt: skip
    results = score_model(tiny, items)
    assert [r.output for r in results] == [" 7", " The answer is 12.", " Grote Reber"]
    assert [r.answer for r in results] == ["7", "12", "grote reber"]
    assert all(r.correct and r.score == 1.0 for r in results)


def test_chance_rates_per_task():
    rates = chance_rates(ITEMS)
    assert rates[0] == 0.5 and rates[1] == pytest.approx(1 / 3)
    assert rates[2] == pytest.approx(1 / 3)
    assert rates[5] == 0.1 and rates[6] == 0.5


def test_dense_competence_flags_a_one_answer_model():
    items = [Item(f"i{n}", "multiple-choice", "p", ("a", "b", "c", "d"), gold=n % 4)
             for n in range(24)]  # fmt: skip
    always_a = [ItemResult(i.id, i.task, 0, i.gold == 0, float(i.gold == 0)) for i in items]
    gate = dense_competence("multiple-choice", items, always_a)
    assert not gate.assessable and gate.top_share == 1.0
    right = [ItemResult(i.id, i.task, i.gold, True, 1.0) for i in items]
    assert dense_competence("multiple-choice", items, right).assessable


def test_cut_at_stop():
    assert score.cut_at_stop(" 7\n8", ["\n"]) == " 7"
    assert score.cut_at_stop("\n 7\n8", ["\n"]) == "\n 7"
    assert score.cut_at_stop("abc", []) == "abc"
