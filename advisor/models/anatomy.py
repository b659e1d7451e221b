"""Model anatomy: where a causal LM keeps its blocks, final norm and output head.

One definition for everything that reaches inside a model — the pruning methods (which edit
the block list) and the measuring code (which hooks the blocks and rebuilds logits from
stored states). Decoder families name these parts differently (docs/design.md §9b): Llama,
Mistral, Qwen, Gemma and Phi keep ``model.layers``; GPT-2 and Falcon ``transformer.h``;
GPT-NeoX ``gpt_neox.layers``; OPT ``model.decoder.layers``. The parts inside one block
(attention, MLP, their norms) are found by :mod:`advisor.models.layouts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from advisor.errors import AdvisorError

# Where each family keeps its parts; the first name present wins (docs/design.md §9b).
BLOCK_LISTS = ("layers", "h", "blocks")
FINAL_NORMS = ("norm", "final_layernorm", "ln_f", "final_layer_norm", "final_norm")
FAMILIES = "Llama, Mistral, Qwen, Gemma, Phi, GPT-2, GPT-NeoX (Pythia), OPT and Falcon"


def decoder_of(model: Any) -> Any:
    """The base decoder (embeddings, blocks, final norm) of a causal LM."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    candidates = [decoder] if decoder is not None and decoder is not model else []
    candidates += [getattr(model, name, None) for name in ("model", "transformer", "gpt_neox")]
    for found in candidates:
        if found is not None and _block_list_name(found) is not None:
            return found
    raise AdvisorError(
        f"{type(model).__name__} has no decoder block list prune-advisor can find (looked "
        f"for a decoder with a list named {' / '.join(BLOCK_LISTS)} under get_decoder(), "
        f".model, .transformer and .gpt_neox), so it can neither prune nor measure it: it "
        f"works on {FAMILIES} style causal LMs."
    )


def _block_list_name(decoder: Any) -> str | None:
    for name in BLOCK_LISTS:
        if isinstance(getattr(decoder, name, None), nn.ModuleList):
            return name
    return None


def block_list(model: Any) -> nn.ModuleList:
    """The decoder's own list of blocks: edit it and the model changes."""
    decoder = decoder_of(model)
    return getattr(decoder, _block_list_name(decoder))  # type: ignore[arg-type]


def decoder_layers(model: Any) -> nn.ModuleList:
    """The decoder blocks the model actually runs, in order: the block list itself, cut to
    ``config.num_hidden_layers`` where the list is longer (transformers runs only those;
    mirrored so that recorded streams match what runs)."""
    layers = block_list(model)
    n = getattr(model.config, "num_hidden_layers", None)
    return layers if n is None or n >= len(layers) else layers[:n]


def replace_decoder_layers(model: Any, blocks: Sequence[nn.Module]) -> None:
    """Make ``blocks`` the decoder's block list (block dropping); the config follows
    (``num_hidden_layers`` is mapped to ``n_layer`` and the like by the config class)."""
    decoder = decoder_of(model)
    setattr(decoder, _block_list_name(decoder), nn.ModuleList(blocks))  # type: ignore[arg-type]
    model.config.num_hidden_layers = len(blocks)


def final_norm(model: Any) -> Any:
    """The normalisation applied to the last stream before the output head (an identity
    where the family has none, e.g. post-norm OPT)."""
    decoder = decoder_of(model)
    for name in FINAL_NORMS:
        if hasattr(decoder, name):
            return getattr(decoder, name) or nn.Identity()
    raise AdvisorError(
        f"Cannot find the final norm of {type(model).__name__}: its decoder has none of "
        f"{', '.join(FINAL_NORMS)}."
    )


def _output_path(model: Any) -> list[Any]:
    """What turns a pre-norm last stream into logits: final norm, OPT's project_out where
    present, the output head."""
    decoder = decoder_of(model)
    steps = [final_norm(model)]
    if getattr(decoder, "project_out", None) is not None:
        steps.append(decoder.project_out)
    head = model.get_output_embeddings()
    if head is None:
        raise AdvisorError(f"{type(model).__name__} has no output head (lm_head).")
    return [*steps, head]


def head_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """Logits from pre-norm residual-stream states: ``lm_head(final_norm(hidden))``.

    Works on any leading shape ``[..., d]``. Applied to the last stream this *is* the model's
    output; applied to an intermediate stream it is the logit lens with the final norm
    applied (the convention of the paper and of ``advisor.measure``).
    """
    with torch.inference_mode():
        steps = _output_path(model)
        head = steps[-1]
        hidden = hidden.to(head.weight.device, head.weight.dtype)
        for step in steps:
            hidden = step(hidden)
        logits = hidden.float()
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits


def hidden_width(model: Any) -> int:
    """Width of the residual stream (the embedding dimension; config names differ)."""
    project_in = getattr(decoder_of(model), "project_in", None)  # OPT-350m: 512 -> 1024
    if project_in is not None:
        return int(project_in.weight.shape[0])
    return int(model.get_input_embeddings().weight.shape[-1])


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
    """The device of the token embeddings: inputs go there."""
    embeddings = model.get_input_embeddings()
    return embeddings.weight.device if embeddings is not None else next(model.parameters()).device
