"""Tiny random-initialised causal LMs for fast plumbing tests (never for claims)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    FalconConfig,
    Gemma3TextConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    OPTConfig,
    Phi3Config,
    PhiConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

WORDS = (
    "the a an of to in and is was it he she they we you on at for with as by from this that "
    "cat dog house river city king war music science water fire stone tree bird ship road "
    "one two three four five six seven eight nine ten zero plus minus equals answer question "
    "A B C D yes no good bad positive negative . , ? ! : ; 0 1 2 3 4 5 6 7 8 9"
).split()
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>"]

CONFIGS = {
    "llama": LlamaConfig,
    "qwen2": Qwen2Config,
    "mistral": MistralConfig,
    "gemma3_text": Gemma3TextConfig,
}


# The other decoder families, by their own config names (docs/design.md §9b): GPT-2 says
# n_embd / n_layer / n_head, OPT ffn_dim, Falcon has no MLP width setting (4 x hidden).
FAMILIES = (
    "llama",
    "mistral",
    "qwen2",
    "gemma3_text",
    "gpt2",
    "gpt_neox",
    "opt",
    "falcon",
    "phi",
    "phi3",
)


def _family_config(arch: str, layers: int, tokenizer: PreTrainedTokenizerFast, **overrides):
    ids = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    common = dict(num_attention_heads=4, num_hidden_layers=layers, hidden_size=32, **ids)
    if arch == "gpt2":
        config = dict(n_embd=32, n_layer=layers, n_head=4, n_positions=256, n_inner=64, **ids)
        return GPT2Config(**{**config, **overrides})
    table = {
        "gpt_neox": (GPTNeoXConfig, dict(intermediate_size=64, max_position_embeddings=256)),
        "opt": (OPTConfig, dict(ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=256)),
        "falcon": (FalconConfig, dict(num_kv_heads=4, new_decoder_architecture=False)),
        "phi": (PhiConfig, dict(intermediate_size=64, max_position_embeddings=256)),
        "phi3": (Phi3Config, dict(intermediate_size=64, max_position_embeddings=256)),
    }
    cls, extra = table[arch]
    return cls(**{**common, **extra, **overrides})


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over a small fixed vocabulary."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )


def tiny_model(arch: str = "llama", layers: int = 2, seed: int = 0, **overrides):
    """A randomly initialised causal LM of architecture ``arch`` and its tokenizer."""
    tokenizer = tiny_tokenizer()
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    if arch not in CONFIGS:
        config = _family_config(arch, layers, tokenizer, **overrides)
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval(), tokenizer
    if arch == "gemma3_text":
        settings.update(sliding_window=16, query_pre_attn_scalar=8)
    settings.update(overrides)
    config = CONFIGS[arch](**settings)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    return model, tokenizer


def save_tiny_model(folder: Path, arch: str = "llama", **kwargs) -> Path:
    """Write a tiny model folder (config, safetensors, tokenizer) and return its path."""
    model, tokenizer = tiny_model(arch, **kwargs)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
