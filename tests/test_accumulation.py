"""advisor.measure.accumulation: closed-form helpers and the per-item comparison on tiny models."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from advisor import forward
from advisor.measure import accumulation as A
from tests.reference import teacher_forced_states
from tests.tiny_models import tiny_model


def test_repetition_rate():
    assert A.repetition_rate([1, 2, 3, 4, 5]) == 0.0
    # 1 2 3 1 2 3 1 2 3: 7 trigrams, 3 distinct.
    assert A.repetition_rate([1, 2, 3] * 3) == pytest.approx(1 - 3 / 7)
    assert A.repetition_rate([1, 2]) == 0.0


def test_first_divergence():
    assert A.first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert A.first_divergence([1, 2, 3], [1, 5, 3]) == 1
    assert A.first_divergence([1, 2, 3], [9]) == 0
    assert A.first_divergence([1, 2], [1, 2, 3]) == 2


def test_token_agreement_counts_ended_positions():
    assert A.token_agreement([1, 2, 3, 4], [1, 2, 3, 4], 4) == 1.0
    assert A.token_agreement([1, 2, 3, 4], [1, 9, 3, 9], 4) == 0.5
    # Both ended after two tokens: the remaining positions agree ("ended" == "ended").
    assert A.token_agreement([1, 2], [1, 2], 4) == 1.0
    assert A.token_agreement([1, 2], [1, 2, 3, 4], 4) == 0.5


def test_log_kl_slope():
    values = [0.01 * math.exp(0.5 * t) for t in range(10)]
    assert A.log_kl_slope(values) == pytest.approx(0.5)
    assert A.log_kl_slope([0.0] * 5) == 0.0  # all at the floor
    assert A.log_kl_slope([0.3]) == 0.0


def test_accumulation_score_formula():
    assert A.accumulation_score([0.1, 0.2], [0.1, 0.2]) == 0.0
    expected = (math.log1p(3.0) - math.log1p(0.5) + 0.0) / 2
    assert A.accumulation_score([0.5, 0.1], [3.0, 0.1]) == pytest.approx(expected)
    assert A.accumulation_score([1.0, 1.0], [0.5, 0.5]) < 0  # free-running closer: negative
    assert A.accumulation_score([], []) == 0.0


def _pair(scale: float):
    model, tok = tiny_model("llama", layers=3, initializer_range=0.2)
    pruned = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for block in pruned.model.layers:
            w = block.mlp.down_proj.weight
            w += scale * torch.randn(w.shape, generator=gen)
    return model, pruned, tok


def _compare(dense, pruned, tok, prompt: str, horizon: int):
    gd = forward.greedy_generate(dense, tok, [prompt], horizon, stop_at_eos=False)
    gp = forward.greedy_generate(pruned, tok, [prompt], horizon, stop_at_eos=False)
    forced = teacher_forced_states(pruned, tok, gd.prompt_ids, gd.tokens)[0]
    return (
        gd,
        gp,
        A.compare_generations(
            dense, pruned, gd.tokens[0], gd.hidden[0], forced, gp.tokens[0], gp.hidden[0], horizon
        ),
    )


def test_identical_models_accumulate_nothing():
    model, _, tok = _pair(0.0)
    _, _, out = _compare(model, model, tok, "the cat is on the", 12)
    assert out["accumulation_score"] == pytest.approx(0.0, abs=1e-9)
    assert out["first_divergence"] is None and out["first_divergence_or_horizon"] == 12
    assert out["token_agreement"] == 1.0
    assert max(out["kl_teacher_forced"]) < 1e-9
    assert out["length_ratio"] == 1.0 and out["repetition_inflation"] == 0.0


def test_free_running_equals_teacher_forced_until_divergence():
    model, pruned, tok = _pair(0.5)
    prompts = ["the cat is on the", "one two three", "a king of the river", "the dog"]
    diverged = 0
    for prompt in prompts:
        gd, gp, out = _compare(model, pruned, tok, prompt, 16)
        t0 = out["first_divergence"]
        upto = 16 if t0 is None else t0 + 1  # step t0 still has identical histories
        assert out["kl_free_running"][:upto] == pytest.approx(
            out["kl_teacher_forced"][:upto], rel=1e-4, abs=1e-7
        )
        assert out["kl_teacher_forced"][0] > 0
        if t0 is not None:
            diverged += 1
            assert gd.tokens[0][:t0] == gp.tokens[0][:t0]
            assert gd.tokens[0][t0] != gp.tokens[0][t0]
            # After it the histories differ, and so do the two KLs.
            assert out["kl_free_running"][t0 + 1 :] != pytest.approx(
                out["kl_teacher_forced"][t0 + 1 :], rel=1e-3
            )
        score = A.accumulation_score(out["kl_teacher_forced"], out["kl_free_running"])
        assert out["accumulation_score"] == score
    assert diverged >= 1  # the perturbation is large enough to test the post-divergence part


def test_teacher_forced_top1_agreement_is_measured():
    model, pruned, tok = _pair(0.5)
    _, _, out = _compare(model, pruned, tok, "the cat is on the", 16)
    assert 0.0 <= out["top1_agreement_teacher_forced"] <= 1.0
    assert len(out["top1_teacher_forced"]) == out["steps_dense"] == 16
