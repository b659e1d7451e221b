"""The result of pruning: a pruned copy of the model, a model view, and its manifest."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from advisor.models import LoadedModel, fingerprint_state
from advisor.models.anatomy import decoder_layers
from advisor.pruning.blocks import block_linears

MANIFEST_NAME = "prune_manifest.json"
RECORD_KEY = "prune_advisor"


@dataclass
class PrunedModel:
    """A pruned copy of a dense model; ``loaded`` is usable wherever a LoadedModel is.

    ``manifest`` says how it was made (method, amount, seed, calibration hash, importance
    scores, dropped indices, achieved sparsity per layer, parameter counts).
    """

    loaded: LoadedModel
    manifest: dict[str, Any]

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def record(self) -> dict[str, Any]:
        """The compact record kept in ``model.config.prune_advisor``."""
        return getattr(self.model.config, RECORD_KEY)


def measure_sparsity(model: Any) -> tuple[float, dict[str, float]]:
    """Fraction of exactly-zero weights over all block linears, and per linear layer."""
    per_layer: dict[str, float] = {}
    zeros = total = 0
    for index, block in enumerate(decoder_layers(model)):
        for name, lin in block_linears(block).items():
            z = int((lin.weight == 0).sum())
            per_layer[f"layers.{index}.{name}"] = z / lin.weight.numel()
            zeros += z
            total += lin.weight.numel()
    return (zeros / total if total else 0.0), per_layer


def config_record(
    method: str,
    original_layers: int,
    dropped_layers: list[int],
    dropped_attn: list[int],
    dropped_mlp: list[int],
    sparsity: float,
    **extra: Any,
) -> dict[str, Any]:
    """The record other modules read from ``model.config.prune_advisor``.

    All indices are ORIGINAL block indices of the dense model.
    """
    return {
        "method": method,
        "original_num_layers": original_layers,
        "dropped_layers": sorted(dropped_layers),
        "dropped_attn": sorted(dropped_attn),
        "dropped_mlp": sorted(dropped_mlp),
        "sparsity": sparsity,
        **extra,
    }


@contextlib.contextmanager
def progress(console: Any, description: str, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar on ``console`` (none when console is None); yields advance()."""
    if console is None:
        yield lambda: None
        return

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} blocks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def fingerprint(model: Any) -> str:
    """Fingerprint of an in-memory pruned model (its config and weights)."""

    with torch.inference_mode():
        return fingerprint_state(model)
