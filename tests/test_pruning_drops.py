"""Structural drops: exactly the requested modules go, rankings are reproducible, zero
drops are bit-identical, dropped attention caches nothing and decoding stays correct."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import DynamicCache

from advisor.models import parameter_count
from advisor.models.anatomy import decoder_layers
from advisor.pruning import dry_run, prune_model
from advisor.pruning.calibration import token_batches
from advisor.pruning.layer_drop import SkippedAttention, SkippedMLP, drop_sublayers, importance
from tests.pruning_helpers import (
    ARCHS,
    CALIB,
    logits,
    sample_ids,
    tiny_dense,
    weights,
)

DROPS = ("block-drop", "attn-drop", "mlp-drop")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", DROPS)
def test_drop_removes_exactly_the_requested_modules(arch, method):
    dense = tiny_dense(arch, layers=6)
    originals = list(decoder_layers(dense.model))
    pruned = prune_model(dense, method, layers=2, **CALIB)
    record, manifest = pruned.record, pruned.manifest
    scores, ranking = manifest["importance"], manifest["ranking"]
    expected = sorted(sorted(range(6), key=lambda i: (scores[i], i))[:2])
    layers = decoder_layers(pruned.model)
    if method == "block-drop":
        assert record["dropped_layers"] == expected and len(layers) == 4
        assert pruned.model.config.num_hidden_layers == 4
        kept = [i for i in range(6) if i not in expected]
        for position, (block, original) in enumerate(zip(layers, kept, strict=True)):
            assert block.self_attn.layer_idx == position
            same = originals[original].self_attn.q_proj.weight
            assert torch.equal(block.self_attn.q_proj.weight, same)
        if hasattr(dense.model.config, "layer_types"):
            types = dense.model.config.layer_types
            assert pruned.model.config.layer_types == [types[i] for i in kept]
    else:
        field = "dropped_attn" if method == "attn-drop" else "dropped_mlp"
        assert record[field] == expected and len(layers) == 6
        stand_in = SkippedAttention if method == "attn-drop" else SkippedMLP
        attr = "self_attn" if method == "attn-drop" else "mlp"
        assert [i for i, b in enumerate(layers) if isinstance(getattr(b, attr), stand_in)] == (
            expected
        )
    assert ranking == sorted(range(6), key=lambda i: (scores[i], i))
    assert manifest["parameters"]["after"] == parameter_count(pruned.model)
    assert manifest["parameters"]["after"] < manifest["parameters"]["before"]


@pytest.mark.parametrize("method", DROPS)
def test_ranking_reproducible_and_dense_untouched(method):
    dense = tiny_dense("qwen2", layers=6)
    before = weights(dense.model)
    first = prune_model(dense, method, ratio=0.5, **CALIB)
    second = prune_model(dense, method, ratio=0.5, **CALIB)
    assert first.manifest["importance"] == second.manifest["importance"]
    assert first.manifest["ranking"] == second.manifest["ranking"]
    dry = dry_run(dense, method, ratio=0.5, **CALIB)
    assert (
        dry["would_drop"]
        == first.manifest[
            {
                "block-drop": "dropped_layers",
                "attn-drop": "dropped_attn",
                "mlp-drop": "dropped_mlp",
            }[method]
        ]
    )
    assert dry["parameters_after"] == first.manifest["parameters"]["after"]
    assert len(decoder_layers(dense.model)) == 6
    assert all(torch.equal(v, dense.model.state_dict()[k]) for k, v in before.items())


def test_block_influence_matches_hidden_states():
    """Block Influence = 1 - cos(h_in, h_out), averaged over tokens, computed directly."""
    dense = tiny_dense("llama", layers=3)
    calib = token_batches(dense.tokenizer, 4, 32)
    scores = importance(dense.model, calib, "block")
    with torch.inference_mode():
        states = dense.model(calib.input_ids, output_hidden_states=True).hidden_states
    # hidden_states[i] enters block i; the last entry has the final norm applied, so
    # only blocks before the last are checked against it.
    for i in range(2):
        cos = torch.nn.functional.cosine_similarity(states[i].double(), states[i + 1].double(), -1)
        assert scores[i] == pytest.approx(float((1 - cos).mean()), rel=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", DROPS)
def test_zero_drop_is_bit_identical(arch, method):
    dense = tiny_dense(arch)
    pruned = prune_model(dense, method, layers=0, **CALIB)
    ids = sample_ids(dense.tokenizer)
    assert torch.equal(logits(dense.model, ids), logits(pruned.model, ids))
    assert pruned.manifest["parameters"]["after"] == pruned.manifest["parameters"]["before"]


@torch.inference_mode()
def _decode_matches_full_forward(model, ids, prompt: int = 20) -> DynamicCache:
    """Prefill then one token at a time; the logits must equal one full forward."""
    cache = DynamicCache(config=model.config)
    steps = [model(ids[:, :prompt], cache=cache, use_cache=True).logits]
    for t in range(prompt, ids.shape[1]):
        steps.append(model(ids[:, t : t + 1], cache=cache, use_cache=True).logits)
    assert torch.allclose(torch.cat(steps, 1), model(ids).logits, atol=1e-5)
    return cache


@pytest.mark.parametrize("arch", ARCHS)
def test_dropped_attention_allocates_no_cache_and_decodes_right(arch):
    # 8 Gemma-3 layers: sliding and full attention both present (window 16 < 32 tokens).
    dense = tiny_dense(arch, layers=8)
    model = copy.deepcopy(dense.model)
    drop_sublayers(model, [0, 5], [3])  # block 0 matters: caches read lengths from it
    ids = sample_ids(dense.tokenizer, length=32)
    cache = _decode_matches_full_forward(model, ids)
    stored = [layer.keys is not None and layer.keys.numel() > 0 for layer in cache.layers]
    assert stored == [False, True, True, True, True, False, True, True]


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_block_drop_decodes_right(arch):
    pruned = prune_model(tiny_dense(arch, layers=8), "block-drop", layers=3, **CALIB)
    cache = _decode_matches_full_forward(pruned.model, sample_ids(pruned.tokenizer, length=32))
    assert len(cache.layers) == 5


def test_dropped_sublayers_are_not_run():
    dense = tiny_dense("llama", layers=4)
    pruned = prune_model(dense, "attn-drop", layers=2, **CALIB)
    ran = set()
    for module in pruned.model.modules():
        module.register_forward_hook(lambda m, i, o: ran.add(id(m)))
    logits(pruned.model, sample_ids(dense.tokenizer))
    for index, block in enumerate(decoder_layers(pruned.model)):
        linears_run = {n for n, m in block.named_modules() if n.endswith("proj") and id(m) in ran}
        if index in pruned.record["dropped_attn"]:
            assert linears_run == {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
            assert not any(p.numel() for p in block.self_attn.parameters())
            assert type(block.input_layernorm).__name__ == "Identity"
        else:
            assert "self_attn.q_proj" in linears_run


def test_importance_is_cached_per_dense_model_and_calibration(monkeypatch, tmp_path):
    """A second structural prune of the same dense model reuses the importance scores
    (a sweep scores once); a torn cache file is recomputed, not trusted."""
    from advisor.pruning import layer_drop

    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(tmp_path))
    dense = tiny_dense("llama")
    calls = []
    real = layer_drop.importance

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(layer_drop, "importance", counting)
    first = prune_model(dense, "attn-drop", layers=1, **CALIB)
    second = prune_model(dense, "attn-drop", layers=2, **CALIB)
    assert len(calls) == 1
    assert first.manifest["dropped_attn"][0] in second.manifest["dropped_attn"]
    prune_model(dense, "mlp-drop", layers=1, **CALIB)  # another kind: scored anew
    assert len(calls) == 2
    for path in (tmp_path / "importance").iterdir():
        path.write_text("[0.1, 0.")
    again = prune_model(dense, "attn-drop", layers=1, **CALIB)
    assert len(calls) == 3
    assert again.manifest["dropped_attn"] == first.manifest["dropped_attn"]
