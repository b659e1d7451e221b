"""Model fingerprints: the stable ids that key every cache of a model's outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from advisor.cache import cache_dir
from advisor.errors import AdvisorError
from advisor.publish import (
    read_checked_json,
    sha256_file,
    write_checked_json,
)

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Keys that change with the library writing the file, not with the model.
_VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "_commit_hash"}


def _canonical_config(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text())
    for key in _VOLATILE_CONFIG_KEYS:
        config.pop(key, None)
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def fingerprint_folder(folder: str | Path) -> str:
    """A stable id of a model folder: sha256 over its canonical config and weight files.

    Hashing ~0.5 GB takes a moment, so the result is remembered in the cache, keyed by the
    folder's path and each weight file's size and modification time.
    """
    folder = Path(folder).resolve()
    weights = sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    if not weights or not (folder / "config.json").is_file():
        raise AdvisorError(f"{folder} holds no config.json and weight files to fingerprint.")
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
    stamp.append(("config.json", 0, (folder / "config.json").stat().st_mtime_ns))
    memo = cache_dir("fingerprints") / (hashlib.sha1(str(folder).encode()).hexdigest() + ".json")
    # Checked like every cache file: a truncated or altered memo reads as absent and is
    # recomputed (and rewritten) instead of breaking every later run of this model.
    saved = read_checked_json(memo)
    if (
        isinstance(saved, dict)
        and saved.get("stamp") == [list(s) for s in stamp]
        and isinstance(saved.get("fingerprint"), str)
    ):
        return saved["fingerprint"]
    digest = hashlib.sha256(_canonical_config(folder).encode())
    for p in weights:
        digest.update(p.name.encode())
        digest.update(sha256_file(p).encode())
    fingerprint = digest.hexdigest()[:16]
    write_checked_json(memo, {"stamp": stamp, "fingerprint": fingerprint})
    return fingerprint


def runtime_identity(fingerprint: str, model: Any) -> str:
    """``fingerprint``, suffixed with the dtype and device type of ``model`` unless they are
    the default fp32 on CPU (so fp32 CPU cache keys stay as they were). Tensors without
    storage (a released dense model's, :mod:`advisor.models.low_memory`) do not count."""
    params = list(model.parameters())
    first = next((p for p in params if not p.is_meta), params[0])
    dtype = str(first.dtype).replace("torch.", "")
    device = first.device.type
    if (dtype, device) == ("float32", "cpu"):
        return fingerprint
    return f"{fingerprint}:{dtype}:{device}"


def fingerprint_state(model: Any) -> str:
    """A stable id of an in-memory model: its config plus every tensor's bytes."""

    cfg = {k: v for k, v in model.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        # Raw bytes through a uint8 view: numpy has no bfloat16.
        raw = tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy())  # the buffer itself: a bytes copy doubled the time
    return digest.hexdigest()[:16]
