"""Saving and loading pruned folders: identical logits through load_pruned and plain
transformers, the manifest, and --pruned folders with another tokenizer rejected."""

from __future__ import annotations

import json

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from advisor.errors import AdvisorError
from advisor.models.anatomy import decoder_layers
from advisor.pruning import load_pruned, prune_model, save_pruned
from advisor.pruning.layer_drop import SkippedAttention, SkippedMLP
from tests.pruning_helpers import (
    ARCHS,
    CALIB,
    logits,
    sample_ids,
    tiny_dense,
)

CASES = [
    ("block-drop", {"layers": 2}),
    ("attn-drop", {"layers": 2}),
    ("mlp-drop", {"layers": 2}),
    ("wanda", {"pattern": "2:4"}),
]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(("method", "amount"), CASES)
def test_save_reload_gives_identical_logits(tmp_path, arch, method, amount):
    dense = tiny_dense(arch, layers=6)
    pruned = prune_model(dense, method, **amount, **CALIB)
    save_pruned(pruned, tmp_path)
    ids = sample_ids(dense.tokenizer)
    expected = logits(pruned.model, ids)

    plain = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert torch.equal(logits(plain, ids), expected)

    again = load_pruned(tmp_path, dense)
    assert torch.equal(logits(again.model, ids), expected)
    for key in ("method", "dropped_layers", "dropped_attn", "dropped_mlp"):
        assert again.record[key] == pruned.record[key]
    assert again.record["sparsity"] == pytest.approx(pruned.record["sparsity"])
    skipped = [
        isinstance(b.self_attn, SkippedAttention) or isinstance(b.mlp, SkippedMLP)
        for b in decoder_layers(again.model)
    ]
    assert sum(skipped) == len(pruned.record["dropped_attn"] + pruned.record["dropped_mlp"])
    assert again.loaded.parameters == pruned.loaded.parameters


def test_manifest_written_with_everything_the_issue_lists(tmp_path):
    dense = tiny_dense("llama", layers=4)
    pruned = prune_model(dense, "block-drop", layers=1, seed=7, **CALIB)
    save_pruned(pruned, tmp_path)
    manifest = json.loads((tmp_path / "prune_manifest.json").read_text())
    assert manifest["method"] == "block-drop" and manifest["seed"] == 7
    assert manifest["amount"] == {"layers": 1, "ratio": None}
    assert len(manifest["calibration"]["hash"]) == 16
    assert len(manifest["importance"]) == 4 and len(manifest["dropped_layers"]) == 1
    assert set(manifest["sparsity"]) == {"requested", "achieved", "per_layer"}
    assert manifest["parameters"]["after"] < manifest["parameters"]["before"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["prune_advisor"]["dropped_layers"] == manifest["dropped_layers"]
    assert config["num_hidden_layers"] == 3 and "kv_sharing_modes" not in config


def _other_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(["<unk>", "<pad>", "<s>", "</s>", "x", "y"])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )


def test_mismatched_tokenizer_is_rejected(tmp_path):
    dense = tiny_dense("llama")
    pruned = prune_model(dense, "magnitude", sparsity=0.5)
    save_pruned(pruned, tmp_path)
    _other_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(AdvisorError, match="must share the tokenizer"):
        load_pruned(tmp_path, dense)


def test_folder_without_tokenizer_or_config_is_rejected(tmp_path):
    dense = tiny_dense("llama")
    with pytest.raises(AdvisorError, match="no config.json"):
        load_pruned(tmp_path, dense)
    dense.model.save_pretrained(tmp_path)  # weights, no tokenizer
    with pytest.raises(AdvisorError, match="must share the tokenizer"):
        load_pruned(tmp_path, dense)


def test_external_pruned_folder_is_measured(tmp_path):
    """A folder pruned elsewhere: no record, sparsity read from its zero weights."""
    dense = tiny_dense("llama")
    model = AutoModelForCausalLM.from_config(dense.model.config).eval()
    model.load_state_dict(dense.model.state_dict())
    with torch.no_grad():
        for block in decoder_layers(model):
            block.mlp.down_proj.weight[:, ::2] = 0
    model.save_pretrained(tmp_path)
    dense.tokenizer.save_pretrained(tmp_path)
    loaded = load_pruned(tmp_path, dense)
    assert loaded.record["method"] == "external" and loaded.record["dropped_layers"] == []
    assert loaded.record["sparsity"] > 0
    assert torch.equal(
        logits(loaded.model, sample_ids(dense.tokenizer)),
        logits(model, sample_ids(dense.tokenizer)),
    )


def test_external_folder_with_fewer_unrelated_layers_is_refused(tmp_path):
    """Removed layers are read from the weights (tests/test_pruned_elsewhere.py); layers
    that match none of the dense model's are refused with the config key as the way out."""
    dense = tiny_dense("llama", layers=4)
    small = tiny_dense("llama", layers=3)
    small.model.save_pretrained(tmp_path)
    dense.tokenizer.save_pretrained(tmp_path)
    with pytest.raises(AdvisorError, match="matches no layer of the dense model.*prune_advisor"):
        load_pruned(tmp_path, dense)
