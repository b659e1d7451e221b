"""Shared helpers for the pruning tests: tiny dense models wrapped as LoadedModel."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer

from advisor.models import LoadedModel, fingerprint_state
from tests.tiny_models import tiny_model

ARCHS = ("llama", "qwen2", "mistral", "gemma3_text")
# Tiny calibration: plumbing only, never claims about pruning quality.
CALIB = dict(calib_samples=4, calib_len=32)


def _as_loaded_tokenizer(tokenizer, config):
    """The tokenizer as AutoTokenizer gives it back from a model folder (as load_model
    does): for some model types (qwen2) it picks that family's tokenizer class."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        config.save_pretrained(folder)
        return AutoTokenizer.from_pretrained(folder)


def tiny_dense(arch: str = "llama", layers: int = 4, **overrides) -> LoadedModel:
    """A tiny random model of ``arch`` as the dense side of a comparison."""
    model, tokenizer = tiny_model(arch, layers=layers, **overrides)
    tokenizer = _as_loaded_tokenizer(tokenizer, model.config)
    return LoadedModel(
        name=f"tiny-{arch}",
        path=Path("."),
        model=model,
        tokenizer=tokenizer,
        # The real id of these weights: caches keyed by it must not mix two tiny models.
        fingerprint=fingerprint_state(model),
    )


def sample_ids(tokenizer, batch: int = 2, length: int = 24, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(4, len(tokenizer), (batch, length), generator=generator)


@torch.inference_mode()
def logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model(ids).logits


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}
