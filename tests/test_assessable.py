"""Whether a task type is assessable is the dense model's property: decided once, in fp32,
whatever the run's precision; the margin recorded; a chance rule for every task type in
the user's own prompt format (advisor/measure/assessable.py, docs/design.md §5h)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advisor.measure import assessable
from advisor.models import load_model
from advisor.suites import build_suite, primary_items
from advisor.suites.items import Item
from advisor.suites.rag import random_span_chance
from advisor.suites.tasks import TASK_TYPES, task_names
from advisor.truth.competence import competence_gate
from advisor.truth.score import ItemResult, chance_rates, dense_competence

pytestmark = pytest.mark.usefixtures("private_cache")


def test_a_prompt_that_says_nothing_of_its_reference_wins_no_pair(tiny_llama_dir):
    """Every prompt the same: own and mismatched prompts tie, and a tie is no win."""
    loaded = load_model(str(tiny_llama_dir))
    items = [
        Item(id=f"g{k}", task="generation", prompt="The same opening", reference=f"text {k}")
        for k in range(4)
    ]
    assert assessable.likelihood_wins(loaded, items) == [False] * 4


def test_the_gate_is_decided_in_fp32_whatever_the_run_precision(
    tiny_llama_dir, monkeypatch, tmp_path
):
    suites = {"math": primary_items(build_suite("math", "calibration", 0))[:12]}
    fp32 = assessable.decided_competence(load_model(str(tiny_llama_dir)), suites)["math"]
    assert fp32.decided_in == "float32"

    # A bf16 run with an empty cache decides with an fp32 twin: the same record.
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path / "other"))
    bf16 = load_model(str(tiny_llama_dir), dtype="bfloat16")
    twins = []
    real_load = assessable.load_model

    def counted(*args, **kwargs):
        twins.append(kwargs["dtype"])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(assessable, "load_model", counted)
    decided = assessable.decided_competence(bf16, suites)["math"]
    assert twins == ["float32"]
    assert decided == fp32
    # cached by the weights and the items, not the precision: no twin the second time
    assert assessable.decided_competence(bf16, suites)["math"] == fp32
    assert twins == ["float32"]


def _prompt_rows(task: str) -> list[dict]:
    """Ten rows of ``task`` in the user's own prompt format."""
    rows = []
    for k in range(10):
        prompt = f"Context number {k}: the river Alpha{k} flows past the town of Beta{k}.\n"
        if task == "classification":
            rows.append({"prompt": prompt + "Answer:", "labels": [" yes", " no"], "gold": k % 2})
        elif task == "multiple-choice":  # its question is the prompt, used as written
            rows.append({"question": prompt + "Answer:", "options": ["yes", "no"], "gold": k % 2})
        elif task == "math":
            rows.append({"prompt": f"{k} + 2 =", "answer": k + 2})
        elif task == "rag":
            rows.append({"prompt": prompt + "Which town? Answer:", "answer": f"Beta{k}"})
        else:
            rows.append({"prompt": prompt, "reference": f"Beta{k} is a town on the river."})
    return rows


@pytest.mark.parametrize("task", [t for t in task_names() if t != "retrieval"])
def test_a_competent_dense_model_on_prompt_rows_is_assessable(task, tmp_path):
    """Every task type that takes a user's own prompt has a chance rule for it under 1,
    so a dense model that gets every item right is assessable (rag's once read 1.00)."""
    path = tmp_path / f"{task}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _prompt_rows(task)))
    items = primary_items(build_suite(task, "calibration", 0, path))
    assert all(i.meta.get("prompt_source") in ("user", None) for i in items)
    rates = chance_rates(items)
    assert all(0 < r < 1 for r in rates), rates
    results = [ItemResult(i.id, task, n, True, 1.0) for n, i in enumerate(items)]
    if TASK_TYPES[task].metric == "chrf":  # the likelihood test: every pair won
        gate = competence_gate(task, [True] * len(items), list(range(len(items))), rates)
    else:
        gate = dense_competence(task, items, results)
    assert gate.assessable, gate.reason


def test_rag_chance_in_a_prompt_is_a_random_span_of_it():
    assert random_span_chance("a b c d", "c") == pytest.approx(1 / 4)
    assert random_span_chance("a b a b", "a b") == pytest.approx(2 / 3)  # occurs twice
    assert random_span_chance("a b c d", "z") == pytest.approx(1 / 4)  # absent: counted once


def test_the_gate_records_its_margin():
    # 10 items at chance 0.5: 9 successes pass at 0.05 (p = 0.011), 8 do not (0.055)
    passed = competence_gate("t", [True] * 9 + [False], list(range(10)), 0.5)
    assert passed.assessable and passed.margin == 0
    failed = competence_gate("t", [True] * 7 + [False] * 3, list(range(10)), 0.5)
    assert not failed.assessable and failed.margin == -2
    assert "2 more needed" in failed.reason
    clear = competence_gate("t", [True] * 10, list(range(10)), 0.5)
    assert clear.margin == 1


def test_decided_records_replace_cleanly():
    record = competence_gate("t", [True] * 10, list(range(10)), 0.5)
    again = dataclasses.replace(record, decided_in="float32")
    assert again.to_dict()["decided_in"] == "float32" and again.margin == record.margin
