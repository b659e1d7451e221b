"""The low-memory order of an assessment: the dense side first, then the pruned side, the
two never in memory together (``assess --low-memory``; docs/design.md §9c).

A model that fits in memory once but not twice can still be assessed. Everything an
assessment reads from the dense model is measured first and kept: its scores, evidence
and hierarchy recordings on disk (the caches every run uses, filled by
:func:`advisor.assess.warm_dense_caches`), its probe summary, decoding speed and weight
digests in memory (:func:`advisor.measure.probe.remember_dense`). Then the dense model is
*released*: a stand-in keeps its config, tokenizer, fingerprint and module structure, with
every decoder layer's tensors on the meta device (shapes, no storage). The tensors outside
the decoder layers (embeddings, final norm, output head: what rebuilds dense logits from
the cached states) are the pruned model's own where they are bit-identical to the dense
ones, which pruning leaves them, and are read back from the dense weights file otherwise.

A method prunes the loaded model in place (no second copy); a checkpoint is loaded only
after the release. Matching a depth-pruned checkpoint's layers reads the dense layers
back from the dense safetensors file one at a time.
"""

from __future__ import annotations

import copy
import gc
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from advisor.errors import AdvisorError
from advisor.models import LoadedModel, placement_like
from advisor.models.anatomy import decoder_layers

# Keys of ``LoadedModel.extra`` where the released stand-in keeps what was measured.
DIGESTS = "dense_digests"
LAYER_FILE = "dense_layer_loader"
PLACEMENT = "dense_placement"  # from_pretrained keywords that load like the dense model


def _tensors(model: Any) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by name, tied ones under each of their names."""
    named = dict(model.named_parameters(remove_duplicate=False))
    named.update(model.named_buffers(remove_duplicate=False))
    return named


def digest(tensor: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (read in place: no copy of the tensor,
    which for an embedding matrix is hundreds of MB)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
    hashed = hashlib.sha256(f"{tensor.dtype}:{tuple(tensor.shape)}:".encode())
    hashed.update(memoryview(flat.numpy()))
    return hashed.hexdigest()


def weight_digests(model: Any) -> dict[str, str]:
    """:func:`digest` of every tensor of ``model`` by name."""
    return {name: digest(t) for name, t in _tensors(model).items()}


def release(dense: LoadedModel, keep_outside: bool) -> LoadedModel:
    """A stand-in for ``dense`` whose decoder layers' parameters hold no storage (see the
    module docstring; buffers, small, are shared); ``keep_outside``: share the parameters
    outside the decoder layers with ``dense.model`` (a method will prune it in place and
    leaves them as they are), else leave them on the meta device too until :func:`adopt`
    fills them. The caller drops its references to ``dense`` for the memory to be freed."""
    inside = {id(p) for p in decoder_layers(dense.model).parameters()}
    memo: dict[int, Any] = {id(b): b for b in dense.model.buffers()}  # small: kept, shared
    for param in dense.model.parameters():
        if id(param) in inside or not keep_outside:
            meta = torch.empty_like(param, device="meta")
            memo[id(param)] = torch.nn.Parameter(meta, requires_grad=False)
        else:
            memo[id(param)] = param
    stand_in = copy.deepcopy(dense.model, memo=memo)
    extra = dict(dense.extra)
    extra[LAYER_FILE] = LayerFile(Path(dense.path), stand_in)
    extra[PLACEMENT] = placement_like(dense.model)
    return LoadedModel(
        name=dense.name,
        path=dense.path,
        model=stand_in,
        tokenizer=dense.tokenizer,
        fingerprint=dense.fingerprint,
        note=dense.note,
        extra=extra,
    )


def _set(model: Any, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    if leaf in owner._parameters:
        owner._parameters[leaf] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        owner._buffers[leaf] = tensor


def adopt(stand_in: LoadedModel, pruned_model: Any) -> list[str]:
    """Fill the stand-in's tensors outside its decoder layers: with ``pruned_model``'s
    tensor of the same name where its digest is the dense one's (shared, no copy), else
    from the dense weights file. Returns the names read from the file."""
    digests = stand_in.extra[DIGESTS]
    theirs = _tensors(pruned_model)
    layers = {id(p) for p in decoder_layers(stand_in.model).parameters()}
    groups: dict[int, list[tuple[str, torch.Tensor]]] = {}
    for name, param in stand_in.model.named_parameters(remove_duplicate=False):
        if param.is_meta and id(param) not in layers:
            groups.setdefault(id(param), []).append((name, param))
    from_file = []
    for group in groups.values():  # tied parameters: one group, filled once, set per name
        names = [name for name, _ in group]
        matching = (theirs[n] for n in names if n in theirs and _matches(theirs[n], digests[n]))
        same = next(matching, None)
        if same is None:
            # in the dtype the dense model was loaded in (the file may hold another), on
            # the device the pruned model holds that tensor on
            where = next((theirs[n].device for n in names if n in theirs), None)
            same = stand_in.extra[LAYER_FILE].read(names).to(where, group[0][1].dtype)
            from_file.append(names[0])
        for name in names:
            _set(stand_in.model, name, same)
    return from_file


def _matches(tensor: torch.Tensor, expected: str) -> bool:
    return not tensor.is_meta and digest(tensor) == expected


class LayerFile:
    """The dense weights, read back from their safetensors file(s) a tensor at a time."""

    def __init__(self, folder: Path, stand_in: Any) -> None:
        self.folder = folder
        self.stand_in = stand_in
        self._where: dict[str, Path] | None = None

    def _index(self) -> dict[str, Path]:

        if self._where is None:
            self._where = {}
            for path in sorted(self.folder.glob("*.safetensors")):
                with safe_open(str(path), framework="pt") as handle:
                    self._where.update({key: path for key in handle.keys()})  # noqa: SIM118
        return self._where

    def read(self, names: list[str]) -> torch.Tensor:
        """The dense tensor stored under any of ``names``."""

        index = self._index()
        for name in names:
            if name in index:
                with safe_open(str(index[name]), framework="pt") as handle:
                    return handle.get_tensor(name)
        raise AdvisorError(
            f"--low-memory reads dense weights back from {self.folder}, but none of its "
            f"*.safetensors files holds {names[0]}. Run without --low-memory, or point "
            f"--model at a folder of safetensors weights."
        )

    def block(self, index: int) -> torch.nn.Module:
        """Dense decoder layer ``index`` with its weights, read from the file."""
        layers = decoder_layers(self.stand_in)
        prefix = next(n for n, m in self.stand_in.named_modules() if m is layers)
        block = copy.deepcopy(layers[index])  # its buffers are real copies already
        for name, param in block.named_parameters(remove_duplicate=False):
            _set(block, name, self.read([f"{prefix}.{index}.{name}"]).to(param.dtype))
        return block


def dense_block_reader(dense: LoadedModel) -> Callable[[int], Any]:
    """Dense decoder layer ``i`` by index: the live one, or (for a released stand-in) read
    back from the dense weights file."""
    loader = getattr(dense, "extra", {}).get(LAYER_FILE)
    if loader is not None:
        return loader.block
    layers = decoder_layers(dense.model)
    return lambda i: layers[i]


def free() -> None:
    """Return released tensors' memory to the system now rather than at some later
    collection (reference cycles in modules keep them alive until then)."""
    gc.collect()
