"""Checkpoints written by llm-compressor (compressed-tensors format; docs/design.md §9b).

llm-compressor's one-shot pruning (SparseGPT, Wanda, magnitude) saves an ordinary Hugging
Face folder. Its config.json may carry a ``quantization_config`` with
``quant_method: compressed-tensors`` whose ``sparsity_config`` says how the zeros are stored:

* ``dense`` (or no sparsity format, as current compressed-tensors writes for a sparse-only
  model even with ``save_compressed=True``): the weights are plain tensors with zeros; the
  block is metadata, and is dropped before loading so transformers loads the weights as
  they are (no compressed-tensors needed).
* ``sparse-bitmask`` / ``sparse-24-bitmask`` (written by compressed-tensors ≤ 0.14): each
  module's weight is stored under the module's path as its kept values (``M.compressed``),
  a packed bit mask (``M.bitmask``, little-endian bits per row) and its ``M.shape``.
  compressed-tensors 0.15 and later no longer read them; :func:`decompress` unpacks them.
* Quantized checkpoints (``config_groups``) are refused: their weights are rounded, so a
  comparison with the dense model would mix quantization error into pruning error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM

from advisor.errors import AdvisorError

KEYS = ("quantization_config", "compression_config")
PARTS = ("compressed", "bitmask", "shape", "row_offsets")  # what a compressed weight stores
BITMASK_FORMATS = ("sparse-bitmask", "sparse-24-bitmask")
SAVE_PLAIN = (
    "Save the pruned model uncompressed and point --pruned at that folder: in llm-compressor "
    "`oneshot(model=..., recipe=..., output_dir=DIR, save_compressed=False)`, or "
    "`model.save_pretrained(DIR, save_compressed=False)`."
)


def compression_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The compressed-tensors block of a config.json, or None."""
    for key in KEYS:
        block = config.get(key)
        if isinstance(block, dict) and block.get("quant_method") in (
            "compressed-tensors",
            "sparseml",
        ):
            return block
    return None


def sparse_format(config: dict[str, Any]) -> str | None:
    """How a compressed-tensors checkpoint stores its zeros ("dense", a bitmask format), or
    None for a folder without a compressed-tensors block."""
    block = compression_of(config)
    if block is None:
        return None
    sparsity = block.get("sparsity_config") or {}
    return sparsity.get("format") or "dense"


def check_compressed(folder: Path, config: dict[str, Any]) -> None:
    """Refuse what cannot be compared: quantized or unknown compressed formats."""
    block = compression_of(config)
    if block is None:
        return
    if block.get("config_groups"):
        raise AdvisorError(
            f"--pruned {folder}: its weights are quantized (compressed-tensors "
            f"{block.get('format', '')!s} config_groups), not only pruned, so a comparison "
            f"with the dense model would mix rounding error into pruning error. Assess the "
            f"pruned model before quantization. {SAVE_PLAIN}"
        )
    fmt = sparse_format(config)
    if fmt not in ("dense", *BITMASK_FORMATS):
        raise AdvisorError(
            f"--pruned {folder}: its zeros are stored in the compressed-tensors format "
            f"{fmt!r}, which prune-advisor cannot read. {SAVE_PLAIN}"
        )


def _unpack(bitmask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``[rows, ceil(cols / 8)]`` uint8 of little-endian bits → ``[rows, cols]`` bool."""
    bits = torch.arange(8, dtype=torch.uint8)
    unpacked = (bitmask.to(torch.uint8).unsqueeze(-1) >> bits) & 1
    return unpacked.reshape(shape[0], -1)[:, : shape[1]].bool()


def decompress(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with every bitmask-compressed weight — ``M.compressed`` (the kept values,
    row by row), ``M.bitmask``, ``M.shape`` and for ``sparse-bitmask`` ``M.row_offsets``,
    keyed by the module path ``M`` — turned back into the dense tensor ``M.weight``."""
    out = {k: v for k, v in tensors.items() if k.rsplit(".", 1)[-1] not in PARTS}
    for key in tensors:
        if not key.endswith(".bitmask"):
            continue
        base = key[: -len(".bitmask")]
        shape = tuple(int(x) for x in tensors[f"{base}.shape"].reshape(-1).tolist())
        values = tensors[f"{base}.compressed"].reshape(-1)
        mask = _unpack(tensors[key], shape)
        if int(mask.sum()) != values.numel():
            raise AdvisorError(
                f"The compressed weight {base} is damaged: its bit mask marks "
                f"{int(mask.sum())} weights but {values.numel()} values are stored."
            )
        dense = torch.zeros(shape, dtype=values.dtype)
        dense[mask] = values
        out[base if base.endswith(".weight") else f"{base}.weight"] = dense
    return out


def read_bitmask_folder(folder: Path) -> dict[str, torch.Tensor]:
    """Every safetensors file of ``folder``, decompressed (:func:`decompress`)."""

    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(path))
    if not tensors:
        raise AdvisorError(f"--pruned {folder}: no safetensors weights to decompress. {SAVE_PLAIN}")
    return decompress(tensors)


def load_compressed(folder: Path, config: dict[str, Any], placement: dict[str, Any]) -> Any:
    """The model of a compressed-tensors folder whose zeros are stored ``dense`` or as a
    bitmask, loaded without compressed-tensors (the config's compression block dropped)."""

    hf_config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    for key in KEYS:
        if hasattr(hf_config, key):
            delattr(hf_config, key)
    if sparse_format(config) == "dense":
        return AutoModelForCausalLM.from_pretrained(
            folder, config=hf_config, use_safetensors=True, trust_remote_code=False, **placement
        )
    state = read_bitmask_folder(folder)
    dtype = placement.get("dtype") or next(iter(state.values())).dtype
    model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {k for k in missing if "lm_head" in k and hf_config.tie_word_embeddings}
    if set(missing) - tied or unexpected:
        raise AdvisorError(
            f"--pruned {folder}: the decompressed weights do not fit the architecture "
            f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]}). "
            f"{SAVE_PLAIN}"
        )
    model.tie_weights()
    device = placement.get("device_map")
    device = device.get("") if isinstance(device, dict) else device
    return model.to(device) if device and device != "auto" else model


def recipe_of(folder: Path) -> str | None:
    """The modifiers of llm-compressor's ``recipe.yaml`` beside the weights, in one line
    (e.g. "SparseGPTModifier (sparsity 0.5, mask_structure 2:4)"), or None."""

    path = folder / "recipe.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.endswith("Modifier") and isinstance(value, dict):
                    bits = [f"{k} {value[k]}" for k in RECIPE_KEYS if k in value]
                    found.append(key + (f" ({', '.join(bits)})" if bits else ""))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return "; ".join(found) or None


RECIPE_KEYS = ("sparsity", "final_sparsity", "mask_structure")
