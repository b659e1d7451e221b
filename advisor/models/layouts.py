"""The parts of one decoder block, for every common decoder family (docs/design.md §9b).

A block adds an attention sublayer and an MLP sublayer to the residual stream. Families
name them differently — ``self_attn`` / ``attn`` / ``attention`` / ``self_attention``;
``mlp``, or OPT's ``fc1``/``fc2`` straight in the block — and normalise differently: one
pre-norm per sublayer (Llama, GPT-2, GPT-NeoX, OPT), a pre- and a post-norm per sublayer
(Gemma's "sandwich"), or one norm shared by parallel attention and MLP (Phi, Falcon). A
:class:`BlockLayout` says, for one block, which module is which, which norms serve only one
sublayer (and go with it when it is dropped) and which linear writes each sublayer's output.
GPT-2's linears are ``Conv1D`` (weight stored ``[in, out]``); :func:`linears` hands them out
through a view with a Linear's ``[out, in]`` weight, so every method sees one convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from advisor.errors import AdvisorError

ATTENTION = ("self_attn", "attn", "attention", "self_attention")
MLP = ("mlp", "feed_forward")
MLP_OUT = ("down_proj", "c_proj", "dense_4h_to_h", "fc2", "w2", "fc_out")
ATTN_OUT = ("o_proj", "c_proj", "dense", "out_proj")
ATTN_NORMS = ("input_layernorm", "ln_1", "self_attn_layer_norm", "ln_attn")
MLP_NORMS = ("post_attention_layernorm", "ln_2", "final_layer_norm", "ln_mlp")


@dataclass(frozen=True)
class BlockLayout:
    """Names, within one block, of its parts (dotted paths from the block).

    ``mlp``: the MLP module, or the first of the block's own MLP linears (OPT: ``fc1``);
    ``mlp_tail``: modules after it that also go when the MLP is dropped (OPT: ``fc2``).
    ``*_norms``: norms serving only that sublayer; ``*_out``: the linear writing the
    sublayer's output; ``*_added``: the module whose output is what the sublayer adds to
    the residual stream (the post-norm in a sandwich block).
    """

    attn: str
    mlp: str
    mlp_tail: tuple[str, ...]
    attn_norms: tuple[str, ...]
    mlp_norms: tuple[str, ...]
    attn_out: str
    mlp_out: str
    attn_added: str
    mlp_added: str


def _first(owner: nn.Module, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if isinstance(getattr(owner, n, None), nn.Module)), None)


def _is_stand_in(module: nn.Module) -> bool:
    """A module without weights standing in for a dropped sublayer."""
    return next(module.parameters(), None) is None


def _join(owner: str, name: str) -> str:
    return f"{owner}.{name}" if name else owner


def _missing(block: nn.Module, what: str, names: tuple[str, ...]) -> AdvisorError:
    children = ", ".join(name for name, _ in block.named_children())
    return AdvisorError(
        f"Cannot find the {what} of a {type(block).__name__} block (looked for "
        f"{' / '.join(names)}; the block has {children}). prune-advisor knows the Llama, "
        f"Mistral, Qwen, Gemma, Phi, GPT-2, GPT-NeoX (Pythia), OPT and Falcon layouts."
    )


def _norms(block: nn.Module, config: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Norms serving only attention, only the MLP (none where a norm is shared or sits
    after the residual add, as in post-norm OPT)."""
    if getattr(config, "do_layer_norm_before", True) is False:
        return (), ()
    attn = _first(block, ATTN_NORMS)
    mlp = _first(block, MLP_NORMS)
    if attn is None or mlp is None:  # one norm feeds both parallel sublayers (Phi, Falcon)
        return (), ()
    return (attn,), (mlp,)


def block_layout(block: nn.Module, config: Any = None) -> BlockLayout:
    """The :class:`BlockLayout` of ``block``; a clear error naming what is missing."""
    attn = _first(block, ATTENTION)
    if attn is None:
        raise _missing(block, "attention sublayer", ATTENTION)
    attn_out = _first(getattr(block, attn), ATTN_OUT)
    if attn_out is None and _is_stand_in(getattr(block, attn)):
        attn_out = ""  # a dropped sublayer's stand-in: no weights, no projection
    elif attn_out is None:
        raise _missing(getattr(block, attn), "attention output projection", ATTN_OUT)
    mlp = _first(block, MLP)
    if mlp is not None:
        mlp_out = _first(getattr(block, mlp), MLP_OUT)
        if mlp_out is None and _is_stand_in(getattr(block, mlp)):
            mlp_out = ""
        elif mlp_out is None:
            raise _missing(getattr(block, mlp), "MLP output projection", MLP_OUT)
        mlp_name, tail, mlp_out_path = mlp, (), _join(mlp, mlp_out)
    elif isinstance(getattr(block, "fc1", None), nn.Module) and hasattr(block, "fc2"):
        mlp_name, tail, mlp_out_path = "fc1", ("fc2",), "fc2"  # OPT: the MLP is the block's
    else:
        raise _missing(block, "MLP sublayer", (*MLP, "fc1+fc2"))
    if hasattr(block, "pre_feedforward_layernorm"):  # Gemma: a pre- and post-norm each
        return BlockLayout(
            attn=attn,
            mlp=mlp_name,
            mlp_tail=tail,
            attn_norms=("input_layernorm", "post_attention_layernorm"),
            mlp_norms=("pre_feedforward_layernorm", "post_feedforward_layernorm"),
            attn_out=_join(attn, attn_out),
            mlp_out=mlp_out_path,
            attn_added="post_attention_layernorm",
            mlp_added="post_feedforward_layernorm",
        )
    attn_norms, mlp_norms = _norms(block, config)
    return BlockLayout(
        attn=attn,
        mlp=mlp_name,
        mlp_tail=tail,
        attn_norms=attn_norms,
        mlp_norms=mlp_norms,
        attn_out=_join(attn, attn_out),
        mlp_out=mlp_out_path,
        attn_added=attn,
        mlp_added=mlp_out_path if tail else mlp_name,
    )


class Conv1DView:
    """A GPT-2 ``Conv1D`` seen as a Linear: ``weight`` is the ``[out, in]`` transposed view
    of the stored ``[in, out]`` weight (writes go through to the module)."""

    def __init__(self, conv: nn.Module) -> None:
        self.module = conv

    @property
    def weight(self) -> torch.Tensor:
        """The weight, ``[out, in]`` (a view)."""
        return self.module.weight.t()

    @property
    def in_features(self) -> int:
        """Input width."""
        return int(self.module.weight.shape[0])

    @property
    def out_features(self) -> int:
        """Output width."""
        return int(self.module.weight.shape[1])

    def register_forward_pre_hook(self, hook: Any) -> Any:
        """Hook the module's inputs (the hook receives this view as its module)."""
        return self.module.register_forward_pre_hook(lambda _m, args: hook(self, args))


def linears(block: nn.Module) -> dict[str, Any]:
    """Every linear layer of a block (GPT-2 Conv1D through :class:`Conv1DView`), by name."""
    out: dict[str, Any] = {}
    for name, mod in block.named_modules():
        if isinstance(mod, nn.Linear):
            out[name] = mod
        elif isinstance(mod, Conv1D):
            out[name] = Conv1DView(mod)
    return out


def in_width(linear: Any) -> int:
    """Input width of a Linear, a Conv1D or a :class:`Conv1DView`."""
    if isinstance(linear, Conv1D):
        return int(linear.weight.shape[0])
    return int(linear.in_features)


def submodule(block: nn.Module, path: str) -> nn.Module:
    """``block``'s module at dotted ``path``."""
    return block.get_submodule(path)
