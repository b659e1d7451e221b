"""Ground truth: dense vs pruned on evaluation items, retention, fidelity, dense caching."""

from __future__ import annotations

import copy

import pytest
import torch

from advisor.models import load_model
from advisor.suites import build_suite
from advisor.truth import evaluate


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


def _suites() -> dict:
    return {
        task: build_suite(task, "evaluation")[:12]
        for task in ("multiple-choice", "math", "retrieval")
    }


def test_identical_models_retain_everything(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path))
    result = evaluate.evaluate_pair(tiny, tiny, _suites())
    assert set(result) == {"multiple-choice", "math", "retrieval"}
    for task, record in result.items():
        assert record["fidelity"]["same_answer"] == 1.0, task
        if record["dense_score"] > 0:
            assert record["retention"] == 1.0
        # a random model is not competent: never a go
        assert record["outcome"] == "not-assessable"
        assert record["competence"]["assessable"] is False
    assert result["math"]["fidelity"]["identical_text"] == 1.0


def test_dense_results_are_cached_bit_for_bit(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path))
    items = build_suite("multiple-choice", "evaluation")[:8]
    first = evaluate.dense_results(tiny, items)
    assert len(list((tmp_path / "scores").glob("*.json"))) == 1
    calls = []
    monkeypatch.setattr(evaluate, "score_model", lambda *a, **k: calls.append(1))
    again = evaluate.dense_results(tiny, items)
    assert not calls and [r.to_dict() for r in again] == [r.to_dict() for r in first]


def test_a_changed_model_loses_fidelity(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path))
    other = copy.copy(tiny)
    other.model = copy.deepcopy(tiny.model)
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(1)) * 0.5)
    items = build_suite("math", "evaluation")[:12]
    record = evaluate.evaluate_pair(tiny, other, {"math": items})["math"]
    assert record["fidelity"]["identical_text"] < 1.0
    assert 0.0 <= record["fidelity"]["chrf_to_dense"] < 1.0
