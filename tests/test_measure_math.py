"""Closed-form checks of the distances and aggregates in advisor.measure."""

from __future__ import annotations

import math

import pytest
import torch

from advisor.measure import aggregate, divergence as D, spaces


@pytest.fixture(autouse=True)
def _float64():
    """Closed forms are checked in float64 so the comparison measures the code, not rounding."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_kl_closed_form():
    logp = torch.log(torch.tensor([0.5, 0.5]))
    logq = torch.log(torch.tensor([0.25, 0.75]))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(D.kl(logp, logq)) == pytest.approx(expected, rel=1e-9)
    # Direction matters: KL(q || p) is a different number.
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert float(D.kl(logq, logp)) == pytest.approx(reverse, rel=1e-9)
    assert reverse != pytest.approx(expected, rel=1e-3)


def test_kl_zero_probability_terms_vanish():
    logp = torch.tensor([0.0, -math.inf])  # p = [1, 0]
    logq = torch.log(torch.tensor([0.5, 0.5]))
    assert float(D.kl(logp, logq)) == pytest.approx(math.log(2.0))


def test_js_closed_form():
    disjoint = D.js(torch.tensor([0.0, -math.inf]), torch.tensor([-math.inf, 0.0]))
    assert float(disjoint) == pytest.approx(math.log(2.0))
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75])
    m = (p + q) / 2
    expected = 0.5 * float((p * (p / m).log()).sum()) + 0.5 * float((q * (q / m).log()).sum())
    assert float(D.js(p.log(), q.log())) == pytest.approx(expected, rel=1e-9)


def test_topk_overlap_closed_form():
    z = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    zp = torch.tensor([5.0, 1.0, 3.0, 2.0, 4.0])  # top-3 {0,2,4} vs dense {0,1,2}
    assert float(D.topk_overlap(z, zp, 3)) == pytest.approx(2 / 3)
    assert float(D.topk_overlap(z, z, 3)) == 1.0
    assert float(D.topk_overlap(z, zp, 1)) == 1.0


def test_cosine_and_orthogonal_energy_closed_form():
    h = torch.tensor([1.0, 0.0])
    assert float(D.cosine(h, torch.tensor([1.0, 1.0]))) == pytest.approx(1 / math.sqrt(2))
    assert float(D.orthogonal_energy(h, torch.tensor([1.0, 1.0]))) == pytest.approx(1.0)
    # A pure rescaling has cosine 1 and no orthogonal energy.
    assert float(D.orthogonal_energy(h, 3 * h)) == pytest.approx(0.0)
    h2 = torch.tensor([3.0, 4.0])
    # Δ = [-4, 3] is orthogonal to h = [3, 4] and as large: energy ratio 25/25.
    assert float(D.orthogonal_energy(h2, h2 + torch.tensor([-4.0, 3.0]))) == pytest.approx(1.0)
    assert float(D.orthogonal_energy(h2, h2 + torch.tensor([-0.8, 0.6]))) == pytest.approx(
        1.0 / 25.0
    )


def test_uniform_logit_shift_changes_nothing():
    torch.manual_seed(0)
    z = torch.randn(500) * 3
    for temperature in (0.5, 1.0, 2.0):
        assert float(D.kl_logits(z, z + 7.5, temperature)) == pytest.approx(0.0, abs=1e-12)
        assert float(D.kl_second_order(z, z + 7.5, temperature)) == pytest.approx(0.0, abs=1e-12)
    prob = spaces.probability_space(z, z + 7.5, temperature=0.7)
    assert prob["kl_t1"] == pytest.approx(0.0, abs=1e-12)
    assert prob["top1_agree"] == 1.0 and prob["topk_overlap"] == 1.0
    assert prob["dp_top"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_second_order_estimate_within_ten_percent_for_small_dz(temperature):
    torch.manual_seed(1)
    for trial in range(5):
        z = torch.randn(2000) * 2.5
        dz = torch.randn(2000) * 0.02 + 3.0  # small spread plus a harmless common shift
        exact = float(D.kl_logits(z, z + dz, temperature))
        estimate = float(D.kl_second_order(z, z + dz, temperature))
        assert exact > 0, trial
        assert abs(estimate - exact) / exact < 0.10, (trial, exact, estimate)


def test_second_order_estimate_breaks_down_for_large_dz():
    # The 10% check above can fail: with a large Δz the quadratic estimate is far off.
    torch.manual_seed(2)
    z = torch.randn(2000) * 2.5
    dz = torch.randn(2000) * 3.0
    exact = float(D.kl_logits(z, z + dz))
    estimate = float(D.kl_second_order(z, z + dz))
    assert abs(estimate - exact) / exact > 0.10


def test_lower_temperature_amplifies_kl():
    torch.manual_seed(3)
    z, dz = torch.randn(300), torch.randn(300) * 0.05
    kls = [float(D.kl_logits(z, z + dz, t)) for t in (2.0, 1.0, 0.5)]
    assert kls[0] < kls[1] < kls[2]


def test_subspace_closed_form():
    dense = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    pruned = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    out = spaces.subspace(dense + 4.0, pruned - 2.0, gold=0)  # unnormalised scores
    assert out["dense_dist"] == pytest.approx([0.6, 0.3, 0.1])
    assert out["dense_choice"] == 0 and out["pruned_choice"] == 1
    assert out["argmax_agree"] == 0.0
    assert out["margin_dense"] == pytest.approx(math.log(0.6 / 0.3))
    assert out["margin_pruned"] == pytest.approx(math.log(0.2 / 0.5))
    assert out["margin_change"] == pytest.approx(math.log(0.2 / 0.5) - math.log(2.0))
    expected_kl = sum(
        p * math.log(p / q) for p, q in zip([0.6, 0.3, 0.1], [0.2, 0.5, 0.3], strict=True)
    )
    assert out["kl"] == pytest.approx(expected_kl)
    assert out["dense_correct"] == 1.0 and out["pruned_correct"] == 0.0


def test_choice_scores_length_normalisation():
    scores = spaces.choice_scores([-6.0, -4.0], [3, 1], "mean")
    assert scores.tolist() == [-2.0, -4.0]
    assert spaces.choice_scores([-6.0, -4.0], [3, 1], "sum").tolist() == [-6.0, -4.0]
    with pytest.raises(ValueError):
        spaces.choice_scores([-1.0], [1], "max")


def test_summarise_worst_follows_direction():
    values = [0.9, 0.5, 1.0, 0.8]
    assert aggregate.summarise(values, "up")["worst"] == 0.5
    assert aggregate.summarise(values, "down")["worst"] == 1.0
    assert aggregate.summarise([0.8, 1.3, 1.0], 1.0)["worst"] == 1.3
    stats = aggregate.summarise(list(map(float, range(11))), "down")
    assert stats["mean"] == 5.0 and stats["median"] == 5.0 and stats["p90"] == pytest.approx(9.0)


def test_subspace_answers_flag_degenerate_answering():
    rows = [{"dense_choice": 0, "pruned_choice": 0, "gold": None} for _ in range(5)]
    out = aggregate.subspace_answers(rows)
    assert out["agreement"] == 1.0
    assert out["dense_majority_share"] == 1.0
    assert out["chance_agreement"] == 1.0
    assert out["kappa"] is None  # perfect agreement that means nothing
    mixed = [
        {"dense_choice": d, "pruned_choice": p, "gold": None}
        for d, p in [(0, 0), (1, 1), (0, 1), (1, 0)]
    ]
    out = aggregate.subspace_answers(mixed)
    assert out["agreement"] == 0.5 and out["chance_agreement"] == 0.5 and out["kappa"] == 0.0


class _Cfg:
    def __init__(self, layers, dropped=None):
        self.num_hidden_layers = layers
        if dropped is not None:
            self.prune_advisor = {"method": "block-drop", "dropped_layers": dropped}


class _FakeModel:
    """Just enough of a causal LM for layer_alignment: config + model.layers (a ModuleList,
    as the anatomy finds block lists)."""

    def __init__(self, layers, dropped=None):
        self.config = _Cfg(layers, dropped)
        blocks = torch.nn.ModuleList(torch.nn.Identity() for _ in range(layers))
        self.model = type("Dec", (), {"layers": blocks})()


def test_layer_alignment():
    assert spaces.layer_alignment(4, _FakeModel(4)) == [0, 1, 2, 3, 4]
    assert spaces.layer_alignment(4, _FakeModel(3, [1])) == [0, 1, 1, 2, 3]
    assert spaces.layer_alignment(4, _FakeModel(3, [0])) == [0, 0, 1, 2, 3]
    assert spaces.layer_alignment(5, _FakeModel(3, [3, 4])) == [0, 1, 2, 3, 3, 3]
    with pytest.raises(ValueError, match="cannot be aligned"):
        spaces.layer_alignment(4, _FakeModel(3))
