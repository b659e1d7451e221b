"""What a command asks for, as plain values checked before any model loads: how to load the
dense model (:class:`LoadOptions`) and what to prune (:class:`PruneRequest`). No torch: the
CLI builds them at start-up, the pipeline (:mod:`advisor.pair`, :mod:`advisor.pruning`)
reads them."""

from __future__ import annotations

from dataclasses import dataclass

# The calibration text a method that needs one reads: sequences and their length in tokens.
# 16 x 128 = 2,048 tokens: one forward pass of SmolLM2-135M over them takes ~10 s on two
# CPU cores (~0.27 GFLOP per token at ~56 GFLOP/s), and sequential Wanda / SparseGPT need
# about three such passes. Enough tokens for a full-rank SparseGPT Hessian of the widest
# SmolLM2 layer (1,536 inputs).
DEFAULT_CALIB_SAMPLES = 16
DEFAULT_CALIB_LEN = 128


@dataclass(frozen=True)
class LoadOptions:
    """How to load the dense model (the pruned one follows its dtype and devices): see
    :func:`advisor.models.load_model`; ``low_memory``: the dense side first, then the
    pruned side, never both in memory (:mod:`advisor.models.low_memory`)."""

    trust_remote_code: bool = False
    dtype: str = "float32"
    device: str | None = None
    device_map: str | None = None
    allow_pickle: bool = False
    low_memory: bool = False


@dataclass(frozen=True)
class PruneRequest:
    """What to prune and how: a method, its amount (``ratio`` or ``layers`` for structural
    methods, ``sparsity`` and ``pattern`` for the others) and the calibration text
    (``calib_samples`` sequences of ``calib_len`` tokens, shuffled by ``seed``)."""

    method: str
    ratio: float | None = None
    layers: int | None = None
    sparsity: float | None = None
    pattern: str = "unstructured"
    seed: int = 0
    calib_samples: int = DEFAULT_CALIB_SAMPLES
    calib_len: int = DEFAULT_CALIB_LEN
