"""The model anatomy on every common decoder family (docs/design.md §9b): tiny random
models built from transformers' own config classes (no hub), pruned by each kind of method,
measured, saved and reloaded; a clear message for a layout it does not know."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from advisor import forward
from advisor.errors import AdvisorError
from advisor.measure.compare import measure
from advisor.models import LoadedModel, fingerprint_state
from advisor.models.anatomy import decoder_layers, final_norm, head_logits, hidden_width
from advisor.models.layouts import block_layout, linears
from advisor.pruning import load_pruned, prune_model, save_pruned
from advisor.pruning.layer_drop import SkippedAttention, SkippedMLP
from tests.pruning_helpers import CALIB, sample_ids
from tests.test_measure import ITEMS
from tests.tiny_models import FAMILIES, tiny_model

pytestmark = pytest.mark.usefixtures("private_cache")

# Where each family keeps its blocks, attention, MLP output and final norm.
EXPECTED = {
    "llama": ("self_attn", "mlp.down_proj", "norm"),
    "mistral": ("self_attn", "mlp.down_proj", "norm"),
    "qwen2": ("self_attn", "mlp.down_proj", "norm"),
    "gemma3_text": ("self_attn", "mlp.down_proj", "norm"),
    "gpt2": ("attn", "mlp.c_proj", "ln_f"),
    "gpt_neox": ("attention", "mlp.dense_4h_to_h", "final_layer_norm"),
    "opt": ("self_attn", "fc2", "final_layer_norm"),
    "falcon": ("self_attention", "mlp.dense_4h_to_h", "ln_f"),
    "phi": ("self_attn", "mlp.fc2", "final_layernorm"),
    "phi3": ("self_attn", "mlp.down_proj", "norm"),
}
SMOKE_ITEMS = [ITEMS[0], ITEMS[3], ITEMS[4]]  # generation, continuation choice, token choice


def _dense(arch: str, layers: int = 4) -> LoadedModel:
    model, tokenizer = tiny_model(arch, layers=layers)
    return LoadedModel(f"tiny-{arch}", Path("."), model, tokenizer, fingerprint_state(model))


@pytest.mark.parametrize("arch", FAMILIES)
def test_anatomy_finds_every_part(arch):
    model, tokenizer = tiny_model(arch, layers=3)
    attn, mlp_out, norm = EXPECTED[arch]
    blocks = decoder_layers(model)
    assert len(blocks) == 3
    layout = block_layout(blocks[0], model.config)
    assert layout.attn == attn and layout.mlp_out == mlp_out
    assert final_norm(model) is getattr(model.get_decoder(), norm)
    assert hidden_width(model) == 32
    ids = [5, 6, 7, 8]
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, -1]
    # The head rebuilt from the recorded last pre-norm stream is the model's own output.
    states = forward.prompt_states(model, tokenizer, [ids])
    assert torch.allclose(states.logits[0], logits, atol=1e-5)
    assert torch.allclose(head_logits(model, states.last[0, -1]), logits, atol=1e-5)
    assert all(lin.weight.dim() == 2 for lin in linears(blocks[0]).values())


@pytest.mark.parametrize("arch", FAMILIES)
def test_prune_and_measure_every_family(arch, tmp_path):
    dense = _dense(arch)
    for method, amount in (("attn-drop", {"layers": 1}), ("mlp-drop", {"layers": 1})):
        pruned = prune_model(dense, method, **amount, **CALIB)
        kind = SkippedAttention if method == "attn-drop" else SkippedMLP
        assert any(isinstance(m, kind) for m in pruned.model.modules())
        result = measure(dense, pruned.loaded, SMOKE_ITEMS, horizon=3, cache=False)
        assert result.items[0]["accumulation"]["steps_dense"] == 3
        assert result.aggregates["all"]["probability"]["kl_t1"]["mean"] > 0
    wanda = prune_model(dense, "wanda", sparsity=0.5, pattern="2:4", **CALIB)
    assert wanda.record["sparsity"] == pytest.approx(0.5)
    result = measure(dense, wanda.loaded, SMOKE_ITEMS, horizon=2, cache=False)
    assert "subspace" in result.items[1]
    if arch == "qwen2":
        return  # its word-level test tokenizer reloads as Qwen2's own class (another vocab);
        # qwen2 round trips are tested with the reloaded tokenizer in test_pruning_checkpoint
    # Saved and reloaded: the same model (GPT-2 once failed here on n_embd vs hidden_size).
    again = load_pruned(save_pruned(wanda, tmp_path / "wanda"), dense)
    ids = sample_ids(dense.tokenizer, length=12)
    with torch.inference_mode():
        assert torch.allclose(wanda.model(ids).logits, again.model(ids).logits, atol=1e-5)
    assert again.record["detected"]["pattern"] == "2:4"


@pytest.mark.parametrize("arch", ["gpt2", "opt", "falcon"])
def test_block_drop_and_sparsegpt_on_other_layouts(arch):
    dense = _dense(arch)
    dropped = prune_model(dense, "block-drop", layers=1, **CALIB)
    assert len(decoder_layers(dropped.model)) == 3
    sparse = prune_model(dense, "sparsegpt", sparsity=0.3, **CALIB)
    assert sparse.record["sparsity"] == pytest.approx(0.3, abs=0.01)
    result = measure(dense, dropped.loaded, SMOKE_ITEMS, horizon=2, cache=False)
    assert len(result.meta["layer_alignment"]) == 5


def test_gpt2_conv1d_weights_are_pruned_in_place():
    dense = _dense("gpt2")
    pruned = prune_model(dense, "magnitude", sparsity=0.5)
    conv = decoder_layers(pruned.model)[0].attn.c_attn
    assert float((conv.weight == 0).float().mean()) == pytest.approx(0.5, abs=1e-3)
    assert float((decoder_layers(dense.model)[0].attn.c_attn.weight == 0).float().mean()) == 0


def test_unknown_block_layout_names_what_is_missing():
    model, _ = tiny_model("llama", layers=2)
    block = decoder_layers(model)[0]
    block.mixer = block.self_attn
    del block.self_attn
    with pytest.raises(AdvisorError, match="attention sublayer.*self_attn / attn.*has .*mixer"):
        block_layout(block, model.config)


def test_model_without_a_block_list_is_a_clear_error():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.stack = nn.Sequential(nn.Linear(4, 4))
            self.config = type("C", (), {"num_hidden_layers": 1})()

    with pytest.raises(AdvisorError, match="no decoder block list.*GPT-2"):
        decoder_layers(Odd())
