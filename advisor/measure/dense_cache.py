"""On-disk cache of the dense model's outputs, so each further pruned config skips them.

Key: sha256 over the dense fingerprint, :func:`advisor.suites.items.items_hash`, every setting
that changes what the dense side computes (horizon, which items are decoded) and
:data:`CACHE_VERSION` plus the torch / transformers versions (kernels may change rounding).
The decoding temperature is *not* in the key: it only changes how stored states are
compared, never the states.

Contents (``$PRUNE_ADVISOR_CACHE/dense/<key>/``): ``states.safetensors`` with the fp32
last-token and mean-pooled residual streams ``[N, layers+1, d]`` and the per-step pre-norm
states of the dense greedy continuations ``[Σ steps, d]``; ``meta.json`` with token ids
and candidate scores. Stored in fp32 because logits are rebuilt from these states and a
cache hit must give bit-identical numbers. Size ≈ 4·d·(2·(layers+1) + steps) bytes per
item: for SmolLM2-135M (d=576, 30 layers, 48 steps) ≈ 0.25 MB per generative item,
≈ 0.14 MB per other item — against ≈ 9.4 MB per item for full-vocabulary fp32 logits over
48 steps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors.torch import load as tensors_from_bytes, save_file

from advisor.cache import cache_dir
from advisor.measure.record import Recording
from advisor.publish import (
    CHECKSUMS_NAME,
    discard,
    read_verified,
    staged_dir,
    write_checksums,
)

CACHE_VERSION = "dense-v3"
ENTRY_FILES = ("states.safetensors", "meta.json")


def cache_key(fingerprint: str, items_id: str, settings: dict[str, Any]) -> str:
    """The cache key of one dense run (see module docstring)."""

    payload = {
        "version": CACHE_VERSION,
        "fingerprint": fingerprint,
        "items": items_id,
        "settings": settings,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def cache_path(key: str) -> Path:
    """Folder of one cache entry (not created)."""
    return cache_dir("dense") / key


def save(key: str, recording: Recording) -> Path:
    """Publish ``recording`` under ``key`` atomically, with checksums (see :mod:`advisor.publish`).

    A half-written entry is never visible, and two processes saving the same key at once
    leave one intact copy.
    """

    steps = [h for h in recording.gen_hidden if h is not None]
    width = recording.last.shape[-1]
    tensors = {
        "last": recording.last.contiguous(),
        "mean": recording.mean.contiguous(),
        "gen_hidden": torch.cat(steps).contiguous() if steps else torch.zeros(0, width),
    }
    meta = {
        "choice": recording.choice,
        "choice_tokens": recording.choice_tokens,
        "prompt_ids": recording.prompt_ids,
        "gen_tokens": recording.gen_tokens,
        "gen_ended": recording.gen_ended,
        "gen_steps": [None if h is None else h.shape[0] for h in recording.gen_hidden],
    }
    target = cache_path(key)
    with staged_dir(target) as stage:
        save_file(tensors, str(stage / "states.safetensors"))
        # repr-exact floats: json writes the shortest repr that round-trips a float64.
        (stage / "meta.json").write_text(json.dumps(meta))
    return target


def load(key: str) -> Recording | None:
    """The cached dense outputs under ``key``, or ``None`` on a miss or a damaged entry.

    The entry's files are read once and parsed from the bytes whose checksums were checked
    (:func:`advisor.publish.read_verified`): tensors memory-mapped from the file, as
    ``safetensors.torch.load_file`` gives, would change under the caller if the file were
    truncated or rewritten later, after the check.
    """

    folder = cache_path(key)
    if not folder.exists():
        return None
    # Entries written before checksums existed were published atomically too: adopt them
    # if they read back whole.
    legacy = not (folder / CHECKSUMS_NAME).exists()
    try:
        if legacy:
            blobs = {name: (folder / name).read_bytes() for name in ENTRY_FILES}
        else:
            blobs = read_verified(folder, ENTRY_FILES)
            if blobs is None:
                raise ValueError("checksum mismatch")
        tensors = tensors_from_bytes(blobs["states.safetensors"])
        meta = json.loads(blobs["meta.json"])
    except Exception:  # any unreadable entry (truncated, damaged) is recomputed
        discard(folder)
        return None
    if legacy:
        write_checksums(folder)
    hidden: list[torch.Tensor | None] = []
    offset = 0
    for n in meta["gen_steps"]:
        if n is None:
            hidden.append(None)
        else:
            hidden.append(tensors["gen_hidden"][offset : offset + n])
            offset += n
    return Recording(
        last=tensors["last"],
        mean=tensors["mean"],
        choice=meta["choice"],
        choice_tokens=meta["choice_tokens"],
        prompt_ids=meta["prompt_ids"],
        gen_tokens=meta["gen_tokens"],
        gen_hidden=hidden,
        gen_ended=meta["gen_ended"],
    )


def entry_size_mb(key: str) -> float:
    """Size of one cache entry on disk, in MB (0 when absent)."""
    folder = cache_path(key)
    if not folder.is_dir():
        return 0.0
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6
