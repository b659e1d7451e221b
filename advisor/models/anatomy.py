"""Model anatomy: where a causal LM keeps its blocks, final norm and output head.

One definition for everything that reaches inside a model — the pruning methods (which edit
the block list) and the measuring code (which hooks the blocks and rebuilds logits from
stored states).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from advisor.errors import AdvisorError


def decoder_of(model: Any) -> Any:
    """The base decoder (embeddings, blocks, final norm) of a causal LM."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model:
        decoder = getattr(model, "model", None)
    if decoder is None or not hasattr(decoder, "layers"):
        raise AdvisorError(
            f"{type(model).__name__} does not keep its decoder blocks in a `layers` list, so "
            f"prune-advisor can neither prune nor measure it: it works on Llama, Qwen2, "
            f"Mistral and Gemma-3 style causal LMs."
        )
    return decoder


def block_list(model: Any) -> nn.ModuleList:
    """The decoder's own list of blocks: edit it and the model changes."""
    return decoder_of(model).layers


def decoder_layers(model: Any) -> nn.ModuleList:
    """The decoder blocks the model actually runs, in order: the block list itself, cut to
    ``config.num_hidden_layers`` where the list is longer (transformers runs only those;
    mirrored so that recorded streams match what runs)."""
    layers = block_list(model)
    n = getattr(model.config, "num_hidden_layers", None)
    return layers if n is None or n >= len(layers) else layers[:n]


def replace_decoder_layers(model: Any, blocks: Sequence[nn.Module]) -> None:
    """Make ``blocks`` the decoder's block list (block dropping); the config follows."""
    decoder_of(model).layers = nn.ModuleList(blocks)  # type: ignore[union-attr]
    model.config.num_hidden_layers = len(blocks)


def final_norm(model: Any) -> Any:
    """The normalisation applied to the last stream before the output head."""
    decoder = decoder_of(model)
    for name in ("norm", "final_layernorm", "ln_f"):
        if hasattr(decoder, name):
            return getattr(decoder, name)
    raise TypeError(f"Cannot find the final norm of {type(model).__name__}.")


def head_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from pre-norm residual-stream states: ``lm_head(final_norm(hidden))``.

    Works on any leading shape ``[..., d]``. Applied to the last stream this *is* the model's
    output; applied to an intermediate stream it is the logit lens with the final norm
    applied (the convention of the paper and of ``advisor.measure``).
    """
    with torch.inference_mode():
        head = model.get_output_embeddings()
        hidden = hidden.to(head.weight.device, head.weight.dtype)
        logits = head(final_norm(model)(hidden)).float()
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generation (generation config and tokenizer)."""
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    for source in (getattr(gen, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source is not None:
            ids.update(int(i) for i in source)
    return ids


def input_device(model: Any) -> torch.device:
    return (
        decoder_of(model).embed_tokens.weight.device
        if hasattr(decoder_of(model), "embed_tokens")
        else next(model.parameters()).device
    )
