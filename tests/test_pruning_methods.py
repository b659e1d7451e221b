"""Sparsity methods on tiny random models: exact sparsity, valid N:M, Wanda's scores by
hand, SparseGPT's reconstruction, determinism, and the dense model left untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advisor.errors import AdvisorError
from advisor.models.anatomy import decoder_layers
from advisor.pruning import METHODS, dry_run, prune_model
from advisor.pruning.blocks import block_linears
from advisor.pruning.masks import check_nm, select, target_zeros, tie_keys
from advisor.pruning.sparsegpt import Hessian, prune_weight
from advisor.pruning.wanda import InputNorm, prune_linear, scores
from tests.pruning_helpers import (
    ARCHS,
    CALIB,
    logits,
    sample_ids,
    tiny_dense,
    weights,
)

SPARSITY_METHODS = [name for name, m in METHODS.items() if not m.structural]


def linears(model):
    for index, block in enumerate(decoder_layers(model)):
        for name, lin in block_linears(block).items():
            yield f"layers.{index}.{name}", lin


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", SPARSITY_METHODS)
def test_unstructured_sparsity_is_exact(arch, method):
    dense = tiny_dense(arch)
    pruned = prune_model(dense, method, sparsity=0.37, **CALIB)
    for name, lin in linears(pruned.model):
        zeros = int((lin.weight == 0).sum())
        assert zeros == target_zeros(lin.weight.numel(), 0.37), name
        assert pruned.manifest["sparsity"]["per_layer"][name] == zeros / lin.weight.numel()
    assert pruned.record["sparsity"] == pytest.approx(0.37, abs=1e-3)


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
@pytest.mark.parametrize("method", SPARSITY_METHODS)
@pytest.mark.parametrize(("pattern", "n", "m"), [("2:4", 2, 4), ("4:8", 4, 8)])
def test_nm_every_group_valid(arch, method, pattern, n, m):
    pruned = prune_model(tiny_dense(arch), method, pattern=pattern, **CALIB)
    for name, lin in linears(pruned.model):
        zero = lin.weight == 0
        assert check_nm(zero, n, m), name
        groups = zero.reshape(zero.shape[0], -1, m).sum(-1)
        assert bool((groups == m - n).all()), name
    assert pruned.manifest["sparsity"]["achieved"] == 0.5


def test_wanda_scores_match_hand_computation():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0, 3.0, -4.0], [4.0, 3.0, -2.0, 1.0]]))
    stat = InputNorm(4)
    # Feature norms over the tokens: sqrt(1), sqrt(4), sqrt(0.36 + 0.64), sqrt(0.25).
    stat.add(torch.tensor([[1.0, 0.0, 0.6, 0.0], [0.0, 2.0, 0.8, 0.5]]))
    expected = torch.tensor([[1.0, 4.0, 3.0, 2.0], [4.0, 6.0, 2.0, 0.5]], dtype=torch.float64)
    assert torch.allclose(scores(layer.weight, stat.norm), expected)
    prune_linear(layer, stat, 0.5, None, tie_keys((2, 4), 0, "w"))
    # Per row, the two lowest scores go: columns 0 and 3, then 3 and 2. Magnitude alone
    # would have cut columns 0 and 1 of the first row instead.
    assert layer.weight.tolist() == [[0.0, -2.0, 3.0, 0.0], [4.0, 3.0, 0.0, 0.0]]


def test_wanda_sees_the_real_inputs_of_each_linear():
    """The activation norms Wanda uses are those of the block's own inputs."""
    dense = tiny_dense("llama")
    calls = {}
    import advisor.pruning.wanda as wanda_module

    original = wanda_module.prune_linear

    def spy(layer, stat, *args):
        calls.setdefault(id(layer), stat.norm.clone())
        return original(layer, stat, *args)

    wanda_module.prune_linear = spy
    try:
        pruned = prune_model(dense, "wanda", sparsity=0.5, **CALIB)
    finally:
        wanda_module.prune_linear = original
    from advisor.pruning.calibration import token_batches

    ids = token_batches(dense.tokenizer, 4, 32).input_ids
    with torch.inference_mode():
        hidden = dense.model(ids, output_hidden_states=True).hidden_states[0]
        normed = decoder_layers(dense.model)[0].input_layernorm(hidden)
    q_proj = decoder_layers(pruned.model)[0].self_attn.q_proj
    expected = normed.reshape(-1, normed.shape[-1]).double().pow(2).sum(0).sqrt()
    assert torch.allclose(calls[id(q_proj)], expected, rtol=1e-5)


def _reconstruction(weight, pruned, x):
    return float((x @ weight.T - x @ pruned.T).pow(2).sum())


@pytest.mark.parametrize("pattern", [None, (2, 4)])
def test_sparsegpt_reconstructs_better_than_magnitude(pattern):
    generator = torch.Generator().manual_seed(0)
    # Correlated inputs with uneven scales, as real activations are.
    scales = torch.logspace(-1, 1, 64)[torch.randperm(64, generator=generator)]
    x = torch.randn(512, 64, generator=generator) @ (
        torch.randn(64, 64, generator=generator) * scales
    )
    weight = torch.randn(32, 64, generator=generator)
    hessian = Hessian(64)
    hessian.add(x)
    keys = tie_keys((32, 64), 0, "w")
    obs = prune_weight(weight, hessian.matrix, 0.5, pattern, keys, block=16)
    magnitude = weight.masked_fill(select(weight.abs(), 0.5, pattern, keys, per_row=False), 0)
    same_mask_no_update = weight.masked_fill(obs == 0, 0)
    assert int((obs == 0).sum()) == weight.numel() // 2
    error = _reconstruction(weight, obs, x)
    assert error < 0.5 * _reconstruction(weight, magnitude, x)
    # The OBS weight updates themselves must help, not just the choice of mask.
    assert error < 0.8 * _reconstruction(weight, same_mask_no_update, x)


@pytest.mark.parametrize("method", SPARSITY_METHODS)
def test_dense_untouched_and_deterministic(method):
    dense = tiny_dense("qwen2")
    before = weights(dense.model)
    first = prune_model(dense, method, sparsity=0.5, seed=3, **CALIB)
    second = prune_model(dense, method, sparsity=0.5, seed=3, **CALIB)
    after = weights(dense.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    a, b = weights(first.model), weights(second.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.manifest["calibration"] == second.manifest["calibration"]
    ids = sample_ids(dense.tokenizer)
    assert not torch.equal(logits(dense.model, ids), logits(first.model, ids))


def test_sparsity_zero_is_bit_identical():
    dense = tiny_dense("llama")
    pruned = prune_model(dense, "magnitude", sparsity=0.0)
    ids = sample_ids(dense.tokenizer)
    assert torch.equal(logits(dense.model, ids), logits(pruned.model, ids))


def test_dry_run_plan_counts_weights_without_pruning():
    dense = tiny_dense("llama")
    before = weights(dense.model)
    result = dry_run(dense, "wanda", pattern="2:4", **CALIB)
    assert result["zeros_total"] == sum(lin.weight.numel() // 2 for _, lin in linears(dense.model))
    assert all(torch.equal(v, dense.model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize(
    ("method", "amounts", "message"),
    [
        ("pruneall", {"sparsity": 0.5}, "Unknown pruning method"),
        ("wanda", {}, "needs --sparsity"),
        ("wanda", {"sparsity": 1.2}, r"must be in \[0, 1\)"),
        ("wanda", {"sparsity": 0.3, "pattern": "2:4"}, "contradicts"),
        ("wanda", {"ratio": 0.25}, "are for block-drop"),
        ("wanda", {"sparsity": 0.5, "pattern": "1:3"}, "not valid for wanda"),
        ("attn-drop", {}, "needs exactly one amount"),
        ("attn-drop", {"ratio": 0.25, "layers": 2}, "not both"),
        ("attn-drop", {"layers": 4}, "can drop 0 to 3"),
        ("block-drop", {"layers": 1, "pattern": "2:4"}, "do not apply"),
        ("mlp-drop", {"ratio": 1.0}, r"must be in \(0, 1\)"),
    ],
)
def test_user_mistakes_are_advisor_errors(method, amounts, message):
    with pytest.raises(AdvisorError, match=message):
        prune_model(tiny_dense("llama"), method, **amounts, **CALIB)


@pytest.mark.parametrize(
    ("method", "amount"), [("wanda", {"sparsity": 0.5}), ("attn-drop", {"layers": 1})]
)
def test_pruned_copy_shares_only_what_the_method_leaves_alone(method, amount):
    """No second copy of the weights when a method only removes modules; methods that
    rewrite weights work on their own copy."""
    dense = tiny_dense("llama")
    before = weights(dense.model)
    pruned = prune_model(dense, method, **amount, **CALIB).model
    dense_ptrs = {p.data_ptr() for p in dense.model.parameters()}
    shared = [p.data_ptr() in dense_ptrs for p in pruned.parameters()]
    assert all(shared) if METHODS[method].structural else not any(shared)
    after = weights(dense.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
