"""advisor.measure end to end on tiny random models: invariants, padding, alignment, cache."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from advisor import forward
from advisor.measure import dense_cache, spaces
from advisor.measure.compare import lens_groups, measure
from advisor.models import LoadedModel
from advisor.suites.items import Item
from tests.tiny_models import tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")

HORIZON = 10
ITEMS = [
    Item(id="g1", task="generation", prompt="the cat is on the road and the dog is in the"),
    Item(id="g2", task="math", prompt="one plus two equals"),
    Item(id="g3", task="summarization", prompt="a river"),
    Item(
        id="m1",
        task="multiple-choice",
        prompt="the king of the city is",
        candidates=(" a dog", " the cat is", " one"),
        gold=1,
    ),
    Item(
        id="c1",
        task="classification",
        prompt="the river is good ? answer :",
        candidates=("yes", "no"),
        candidate_mode="tokens",
        gold=0,
    ),
]


@pytest.fixture(scope="module")
def dense() -> LoadedModel:
    model, tok = tiny_model("llama", layers=4, initializer_range=0.2)
    return LoadedModel("tiny", Path("."), model, tok, fingerprint="tiny-llama-4")


def perturbed(model, scale: float, seed: int = 0):
    """A copy with Gaussian noise on one MLP weight: a small, controlled Δz."""
    copy_ = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = copy_.model.layers[2].mlp.down_proj.weight
        w += scale * torch.randn(w.shape, generator=gen)
    return copy_


def block_dropped(model, dropped: list[int]):
    """A copy without the given blocks, declared as the pruning methods declare it."""
    copy_ = copy.deepcopy(model)
    kept = [b for i, b in enumerate(copy_.model.layers) if i not in dropped]
    copy_.model.layers = nn.ModuleList(kept)
    for i, block in enumerate(kept):
        block.self_attn.layer_idx = i
    copy_.config.num_hidden_layers = len(kept)
    copy_.config.prune_advisor = {"method": "block-drop", "dropped_layers": dropped}
    return copy_


class _NoAttention(nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        return torch.zeros_like(hidden_states), None


def attn_dropped(model, index: int):
    """A copy whose attention sublayer ``index`` adds nothing (not the first: the KV cache
    of layer 0 sizes the masks)."""
    copy_ = copy.deepcopy(model)
    copy_.model.layers[index].self_attn = _NoAttention()
    return copy_


def _close(a, b, tol: float, path: str = "") -> list[str]:
    """Paths where two result trees differ (numbers beyond ``tol``, anything else exactly)."""
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path}: keys {set(a) ^ set(b)}"]
        return [p for k in a for p in _close(a[k], b[k], tol, f"{path}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [
            p
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for p in _close(x, y, tol, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= tol else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_identical_models_measure_zero(dense):
    result = measure(dense, dense.model, ITEMS, horizon=HORIZON, temperature=0.7)
    for row in result.items:
        emb, logit, prob = row["embedding"], row["logit"], row["probability"]
        assert min(emb["cos_last"]) == pytest.approx(1.0, abs=1e-6)
        assert min(emb["cos_mean"]) == pytest.approx(1.0, abs=1e-6)
        assert max(emb["orth_energy_last"]) == pytest.approx(0.0, abs=1e-9)
        assert logit["cos_logits"] == pytest.approx(1.0, abs=1e-9)
        assert max(logit["lens_kl"]) == pytest.approx(0.0, abs=1e-9)
        for key in ("kl_t1", "kl_T", "kl_est_t1", "kl_est_T", "js"):
            assert prob[key] == pytest.approx(0.0, abs=1e-9), key
        assert prob["top1_agree"] == 1.0 and prob["topk_overlap"] == 1.0
        if "subspace" in row:
            assert row["subspace"]["kl"] == pytest.approx(0.0, abs=1e-9)
            assert row["subspace"]["argmax_agree"] == 1.0
        if "accumulation" in row:
            acc = row["accumulation"]
            assert acc["accumulation_score"] == pytest.approx(0.0, abs=1e-9)
            assert acc["token_agreement"] == 1.0
            assert acc["first_divergence"] is None
            assert max(acc["kl_free_running"]) == pytest.approx(0.0, abs=1e-9)
            assert acc["log_kl_slope_free"] == pytest.approx(0.0, abs=1e-9)
    tasks = {row["task"] for row in result.items}
    assert set(result.aggregates) == tasks | {"all"}
    assert result.aggregates["all"]["accumulation"]["accumulation_score"]["n"] == 3
    json.dumps(result.to_dict())  # tidy and serialisable


def test_perturbed_model_moves_every_space(dense):
    result = measure(dense, perturbed(dense.model, 0.3), ITEMS, horizon=HORIZON)
    agg = result.aggregates["all"]
    assert agg["probability"]["kl_t1"]["mean"] > 1e-6
    assert agg["embedding"]["cos_last_final"]["mean"] < 1.0 - 1e-7
    assert agg["logit"]["dz_std_p"]["mean"] > 0
    # Streams before the perturbed block (2) are untouched: stream k = after block k-1.
    for row in result.items:
        assert row["embedding"]["cos_last"][:3] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
        assert row["embedding"]["cos_last"][3] < 1.0 - 1e-7


def test_small_perturbation_estimate_tracks_kl(dense):
    result = measure(dense, perturbed(dense.model, 0.01), ITEMS, horizon=0, temperature=2.0)
    for row in result.items:
        prob = row["probability"]
        assert prob["kl_est_t1"] == pytest.approx(prob["kl_t1"], rel=0.1)
        assert prob["kl_est_T"] == pytest.approx(prob["kl_T"], rel=0.1)
        assert prob["kl_T"] < prob["kl_t1"]  # a higher temperature softens


def test_batched_and_single_runs_agree(dense):
    pruned = perturbed(dense.model, 0.3)
    batched = measure(dense, pruned, ITEMS, horizon=HORIZON, cache=False, batch_size=8)
    single = measure(dense, pruned, ITEMS, horizon=HORIZON, cache=False, batch_size=1)
    assert _close(batched.items, single.items, 1e-4) == []
    # The comparison is not vacuous: the prompts have different lengths and the models differ.
    lengths = {len(forward.encode(dense.tokenizer, it.prompt)) for it in ITEMS}
    assert len(lengths) > 2
    assert batched.aggregates["all"]["probability"]["kl_t1"]["mean"] > 1e-4


def test_lens_groups_cover_every_item_once_within_the_budget():
    vocab, streams = 49152, 31
    per_item = streams * vocab * 4
    groups = lens_groups(100, streams, vocab)
    assert [i for g in groups for i in g] == list(range(100))
    assert all(1 <= len(g) * per_item <= spaces.LENS_BYTES for g in groups)
    assert len(groups) > 1  # 100 items of this size do not fit one 64 MiB group
    # An item larger than the budget still gets a group of its own.
    assert lens_groups(3, 10**6, 10**6) == [[0], [1], [2]]
    assert lens_groups(0, streams, vocab) == []


def test_grouped_logit_lens_matches_one_item_at_a_time(dense, monkeypatch):
    pruned = perturbed(dense.model, 0.3)
    grouped = measure(dense, pruned, ITEMS, horizon=HORIZON, cache=False)
    monkeypatch.setattr(spaces, "LENS_BYTES", 1)
    single = measure(dense, pruned, ITEMS, horizon=HORIZON, cache=False)
    assert _close(grouped.items, single.items, 1e-5) == []


def test_dense_cache_hit_returns_identical_numbers(dense):
    pruned = perturbed(dense.model, 0.3)
    first = measure(dense, pruned, ITEMS, horizon=HORIZON)
    second = measure(dense, pruned, ITEMS, horizon=HORIZON)
    assert first.meta["dense_cache"]["state"] == "miss"
    assert second.meta["dense_cache"]["state"] == "hit"
    assert second.items == first.items
    assert second.aggregates == first.aggregates
    uncached = measure(dense, pruned, ITEMS, horizon=HORIZON, cache=False)
    assert uncached.meta["dense_cache"]["state"] == "off"
    assert uncached.items == first.items
    # Settings that change the dense outputs change the key; the temperature does not.
    assert measure(dense, pruned, ITEMS, horizon=HORIZON - 2).meta["dense_cache"]["state"] == "miss"
    warm_t = measure(dense, pruned, ITEMS, horizon=HORIZON, temperature=0.5)
    assert warm_t.meta["dense_cache"]["state"] == "hit"
    assert dense_cache.entry_size_mb(first.meta["dense_cache"]["key"]) > 0


def test_block_drop_aligns_layers(dense):
    pruned = block_dropped(dense.model, [1])
    result = measure(dense, pruned, ITEMS, horizon=HORIZON)
    assert result.meta["layer_alignment"] == [0, 1, 1, 2, 3]
    for row in result.items:
        cos = row["embedding"]["cos_last"]
        # After block 0 the streams match; dense after block 1 vs pruned after block 0 differ.
        assert cos[1] == pytest.approx(1.0, abs=1e-6)
        assert cos[2] < 1.0 - 1e-6
        assert len(row["logit"]["lens_cos"]) == 4
    assert result.meta["pruned"]["prune_advisor"]["dropped_layers"] == [1]


def test_attention_drop_runs_generation(dense):
    pruned = attn_dropped(dense.model, 2)
    result = measure(dense, pruned, ITEMS, horizon=HORIZON)
    acc = result.aggregates["all"]["accumulation"]
    assert acc["kl_tf_mean"]["mean"] > 0
    for row in result.items:
        # The dropped attention is in block 2: streams 0..2 are unchanged.
        assert row["embedding"]["cos_last"][:3] == pytest.approx([1.0] * 3, abs=1e-6)


def test_token_mode_subspace_is_renormalised_next_token(dense):
    item = ITEMS[4]
    pruned = perturbed(dense.model, 0.3)
    result = measure(dense, pruned, [item], horizon=0)
    sub = result.items[0]["subspace"]
    ids = forward.candidate_token_ids(dense.tokenizer, item.candidates)
    logits = forward.prompt_states(pruned, dense.tokenizer, [item.prompt]).logits[0]
    expected = torch.softmax(logits[ids].double(), -1).tolist()
    assert sub["pruned_dist"] == pytest.approx(expected, abs=1e-6)
    assert sub["mode"] == "tokens"
    assert math.isclose(sum(sub["dense_dist"]), 1.0, abs_tol=1e-9)


def test_continuation_subspace_uses_per_token_scores(dense):
    item = ITEMS[3]
    result = measure(dense, dense.model, [item], horizon=0)
    scores = forward.continuation_logprobs(
        dense.model, dense.tokenizer, [item.prompt], [list(item.candidates)]
    )[0]
    per_token = torch.tensor([s.mean_logprob for s in scores], dtype=torch.float64)
    expected = torch.softmax(per_token, -1).tolist()
    assert result.items[0]["subspace"]["dense_dist"] == pytest.approx(expected, abs=1e-6)
    assert result.aggregates["multiple-choice"]["subspace"]["answers"]["n_gold"] == 1


def test_rejects_bad_arguments(dense):
    with pytest.raises(ValueError):
        measure(dense, dense.model, ITEMS, temperature=0.0)
    with pytest.raises(ValueError):
        measure(dense, dense.model, [])
    with pytest.raises(ValueError, match="aligned"):
        measure(dense, _undeclared(dense), ITEMS, horizon=0)


def _undeclared(dense):
    pruned = block_dropped(dense.model, [1])
    del pruned.config.prune_advisor
    return pruned


@pytest.mark.real_model
def test_smollm2_dense_against_itself(smollm2):
    items = [
        Item(id="g", task="generation", prompt="The river Thames flows through"),
        Item(
            id="m",
            task="multiple-choice",
            prompt="Paris is the capital of",
            candidates=(" France.", " a small dog."),
            gold=0,
        ),
    ]
    result = measure(smollm2, smollm2.model, items, horizon=4, cache=False)
    agg = result.aggregates["all"]
    assert agg["probability"]["kl_t1"]["worst"] < 1e-9
    assert agg["accumulation"]["accumulation_score"]["worst"] == pytest.approx(0.0, abs=1e-9)
    assert result.items[1]["subspace"]["dense_choice"] == 0
    assert len(result.items[0]["embedding"]["cos_last"]) == 31
