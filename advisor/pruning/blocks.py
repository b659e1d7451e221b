"""Walking the decoder blocks of a causal LM one at a time, on calibration tokens.

Pruning methods that need activations (Block Influence, LLM-Drop, Wanda, SparseGPT) run
the model block by block: every block is called with exactly the arguments the model
itself would pass (masks, rotary embeddings, per-layer-type variants for Gemma-3), which
are recorded in one cheap pass that skips the blocks' work.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from advisor.errors import AdvisorError
from advisor.models.anatomy import block_list, decoder_layers, decoder_of
from advisor.models.layouts import block_layout, linears

BlockInputs = list[tuple[torch.Tensor, dict[str, Any]]]


def sublayer_parts(
    block: nn.Module, sublayer: str, config: Any = None
) -> tuple[list[str], list[str]]:
    """The modules that make up sublayer ``sublayer`` ('attn' or 'mlp') and the norms that only
    serve it (docs/design.md §9b); dropping the sublayer replaces all of them."""
    layout = block_layout(block, config)
    if sublayer == "attn":
        return [layout.attn], list(layout.attn_norms)
    return [layout.mlp, *layout.mlp_tail], list(layout.mlp_norms)


def contribution_module(block: nn.Module, sublayer: str, config: Any = None) -> nn.Module:
    """The module whose output is what the sublayer adds to the residual stream."""
    layout = block_layout(block, config)
    return block.get_submodule(layout.attn_added if sublayer == "attn" else layout.mlp_added)


def block_linears(block: nn.Module) -> dict[str, Any]:
    """Every linear layer inside a block, by its name within the block (GPT-2's Conv1D
    through a view with a Linear's ``[out, in]`` weight: :func:`advisor.models.layouts.linears`)."""
    return linears(block)


class _Recorder(nn.Module):
    """Stands in for a block during recording: keeps its inputs (positional ones by their
    parameter names in the real block, as GPT-2 passes some), changes nothing."""

    def __init__(self, sink: list, block: nn.Module, shape: dict[str, bool]) -> None:
        super().__init__()
        self.sink = sink
        self.names = list(inspect.signature(block.forward).parameters)[1:]
        self.block = [block]  # kept out of the module tree
        self.shape = shape  # shared by all recorders: does a block return a tuple?

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(self.names):
            raise AdvisorError("Unexpected positional arguments to a decoder block.")
        kwargs = {**dict(zip(self.names, args, strict=False)), **kwargs}
        self.sink.append((hidden_states, kwargs))
        if "tuple" not in self.shape:
            # Some families' blocks return (hidden, attention weights) and their decoder
            # unpacks it (Falcon): learn the shape once from the real block.
            self.shape["tuple"] = isinstance(self.block[0](hidden_states, **kwargs), tuple)
        return (hidden_states, None) if self.shape["tuple"] else hidden_states


@contextlib.contextmanager
def _recording(layers: nn.ModuleList) -> Iterator[list[list[tuple[torch.Tensor, dict]]]]:
    sinks: list[list[tuple[torch.Tensor, dict]]] = [[] for _ in layers]
    originals = list(layers)
    shape: dict[str, bool] = {}
    try:
        for i in range(len(layers)):
            layers[i] = _Recorder(sinks[i], originals[i], shape)
        yield sinks
    finally:
        for i, block in enumerate(originals):
            layers[i] = block


@torch.inference_mode()
def record_block_calls(model: Any, batches: list[torch.Tensor]) -> tuple[BlockInputs, list]:
    """Block 0's input per minibatch, and the keyword arguments of every block per minibatch.

    Returns ``(inputs, kwargs)`` with ``inputs[b] = (hidden, kwargs of block 0)`` and
    ``kwargs[layer][b]``. The blocks are swapped for recorders, so this costs only the
    embedding and the mask / rotary set-up.
    """
    layers = block_list(model)  # the blocks are swapped in the model's own list
    device = model.get_input_embeddings().weight.device
    with _recording(layers) as sinks:
        for ids in batches:
            decoder_of(model)(input_ids=ids.to(device), use_cache=False)
    inputs = [(h, kw) for h, kw in sinks[0]]
    per_layer = [[kw for _, kw in sink] for sink in sinks]
    return inputs, per_layer


def run_block(block: nn.Module, hidden: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
    """Call one decoder block; transformers 5 blocks return the hidden state tensor."""
    out = block(hidden, **kwargs)
    return out[0] if isinstance(out, tuple) else out


@torch.inference_mode()
def walk_blocks(
    model: Any,
    batches: list[torch.Tensor],
    visit: Callable[[int, nn.Module, list[torch.Tensor], list[dict]], list[torch.Tensor]],
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Call ``visit(index, block, hidden inputs, kwargs)`` for each block in order.

    ``visit`` returns the block's outputs, which become the next block's inputs; a visitor
    that prunes the block first therefore feeds the next block the pruned activations
    (sequential pruning, as in SparseGPT and Wanda).
    """
    inputs, per_layer = record_block_calls(model, batches)
    hidden = [h for h, _ in inputs]
    for index, block in enumerate(decoder_layers(model)):
        hidden = visit(index, block, hidden, per_layer[index])
        advance()


def forward_all(block: nn.Module, hidden: list[torch.Tensor], kwargs: list[dict]) -> list:
    """The block's outputs for every minibatch."""
    return [run_block(block, h, kw) for h, kw in zip(hidden, kwargs, strict=True)]
